// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Profiles: named threshold presets as TOML, shipped ones built in (cli/profiles/*.toml) and the
//! user's own files. A profile is a description, an optional `fail-on`, and per element a table
//! of properties; each property becomes a `--set` and is checked the same way. The command
//! line's own `--set` and `--fail-on` come after it and win.

use std::path::Path;

use serde::Serialize;

use crate::Severity;
use crate::set::{self, Setting};

/// The profiles shipped with vqmon: name and TOML text.
pub const SHIPPED: [(&str, &str); 3] = [
    ("broadcast", include_str!("../profiles/broadcast.toml")),
    ("ott", include_str!("../profiles/ott.toml")),
    ("strict", include_str!("../profiles/strict.toml")),
];

/// A profile, parsed and checked.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// `built-in`, or the file it was read from.
    pub source: String,
    pub description: String,
    pub fail_on: Option<Severity>,
    /// As `ELEMENT.PROPERTY=VALUE`, sorted by element and property.
    pub sets: Vec<String>,
    pub settings: Vec<Setting>,
}

/// What a report records of the profile in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Used {
    pub name: String,
    pub source: String,
    pub settings: Vec<String>,
}

impl Profile {
    pub fn used(&self) -> Used {
        Used {
            name: self.name.clone(),
            source: self.source.clone(),
            settings: self.sets.clone(),
        }
    }
}

/// The profile `arg` names: a file if one exists at that path, else a shipped profile.
pub fn load(arg: &str) -> Result<Profile, String> {
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("profile {arg} cannot be read: {e}"))?;
        let name = path
            .file_stem()
            .map_or(arg.to_string(), |s| s.to_string_lossy().to_string());
        return parse(&name, &path.display().to_string(), &text);
    }
    match SHIPPED.iter().find(|(n, _)| *n == arg) {
        Some((name, text)) => parse(name, "built-in", text),
        None => Err(format!(
            "no profile '{arg}': neither a file nor one of {} (vqmon profiles lists them)",
            SHIPPED.map(|(n, _)| n).join(", ")
        )),
    }
}

/// Parses and checks a profile's TOML text.
pub fn parse(name: &str, source: &str, text: &str) -> Result<Profile, String> {
    let bad = |why: String| format!("profile {name} ({source}): {why}");
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let mut p = Profile {
        name: name.to_string(),
        source: source.to_string(),
        description: String::new(),
        fail_on: None,
        sets: Vec::new(),
        settings: Vec::new(),
    };
    for (key, value) in &table {
        match (key.as_str(), value) {
            ("description", toml::Value::String(s)) => p.description = s.clone(),
            ("fail-on", toml::Value::String(s)) => {
                p.fail_on = Some(s.parse().map_err(|e| bad(format!("fail-on: {e}")))?)
            }
            (element, toml::Value::Table(props)) => {
                for (prop, v) in props {
                    let v = match v {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Float(f) => f.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        other => {
                            return Err(bad(format!(
                                "{element}.{prop}: a {} is not a property value",
                                other.type_str()
                            )));
                        }
                    };
                    let arg = format!("{element}.{prop}={v}");
                    p.settings.push(set::parse(&arg).map_err(bad)?);
                    p.sets.push(arg);
                }
            }
            (other, _) => {
                return Err(bad(format!(
                    "unknown key '{other}' (description, fail-on, or a table per element)"
                )));
            }
        }
    }
    Ok(p)
}

/// The text `vqmon profiles` prints.
pub fn listing() -> Result<String, String> {
    let mut out = String::new();
    for (name, text) in SHIPPED {
        let p = parse(name, "built-in", text)?;
        out += &format!("{name}\n  {}\n", p.description);
        if let Some(f) = p.fail_on {
            out += &format!("  fail-on {}\n", f.as_str());
        }
        for s in &p.sets {
            out += &format!("  --set {s}\n");
        }
    }
    out += "\nA profile file of your own (TOML, the same keys) is accepted by --profile FILE.\n";
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_are_valid() {
        crate::test_init();
        for (name, _) in SHIPPED {
            let p = load(name).unwrap();
            assert_eq!(p.source, "built-in");
            assert!(!p.description.is_empty() && !p.sets.is_empty(), "{name}");
        }
        let b = load("broadcast").unwrap();
        assert_eq!(b.fail_on, Some(Severity::Major));
        assert!(
            b.sets
                .contains(&"vqfreeze.min-duration=2000000000".to_string())
        );
        assert_eq!(load("strict").unwrap().fail_on, Some(Severity::Minor));
        assert!(
            listing()
                .unwrap()
                .contains("--set avsyncmon.profile=ebu-r37")
        );
    }

    #[test]
    fn bad_profiles_say_why() {
        crate::test_init();
        assert!(
            load("nosuch").unwrap_err().starts_with(
                "no profile 'nosuch': neither a file nor one of broadcast, ott, strict"
            )
        );
        for (text, why) in [
            (
                "fail-on = \"sometimes\"",
                "fail-on: a severity is minor or major, not 'sometimes'",
            ),
            ("colour = 3", "unknown key 'colour'"),
            (
                "[vqfreeze]\nmin-durat = 3",
                "vqfreeze has no property 'min-durat'",
            ),
            (
                "[vqfreeze]\nmin-duration = [1]",
                "a array is not a property value",
            ),
            ("[vqfreeze\n", "profile p (f.toml)"),
        ] {
            let e = parse("p", "f.toml", text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
