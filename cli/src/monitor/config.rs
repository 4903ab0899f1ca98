// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The `vqmon monitor` configuration (TOML): where to serve metrics, where events go, and one
//! `[[stream]]` table per stream of the line-up. Everything is checked when read (profiles and
//! settings against the real elements), so a typo fails the start or the reload with its cause.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::input;
use crate::profile;
use crate::set::{self, Setting};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Webhook {
    pub url: String,
    /// Shared secret: each POST carries `X-Vqmon-Signature: sha256=HMAC(secret, body)`.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StreamConfig {
    pub name: String,
    pub uri: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A shipped profile or a profile file.
    #[serde(default)]
    pub profile: Option<String>,
    /// `ELEMENT.PROPERTY=VALUE` overrides, after the profile.
    #[serde(default)]
    pub set: Vec<String>,
    /// Play a file again from the start at its end (for tests and demos).
    #[serde(default, rename = "loop")]
    pub looped: bool,
    /// Webhooks for this stream's events, besides the global ones.
    #[serde(default)]
    pub webhook: Vec<Webhook>,
}

fn default_listen() -> String {
    "127.0.0.1:9310".into()
}

fn default_queue() -> usize {
    1000
}

fn default_source_timeout() -> f64 {
    3.0
}

fn default_max_backoff() -> f64 {
    30.0
}

fn default_decoder_threads() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Address of the HTTP endpoint (`/metrics`, `/healthz`, `/streams`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Every event of every stream as NDJSON lines (vqreport's event-line format).
    #[serde(default)]
    pub ndjson: Option<String>,
    /// Webhooks for every stream's events.
    #[serde(default)]
    pub webhook: Vec<Webhook>,
    /// Events waiting for one webhook at most; beyond, new events are dropped and counted.
    #[serde(default = "default_queue")]
    pub webhook_queue: usize,
    /// A live stream that delivers nothing for this long (s) has lost its source.
    #[serde(default = "default_source_timeout")]
    pub source_timeout: f64,
    /// Reconnection backoff: 0.5 s, doubling up to this (s).
    #[serde(default = "default_max_backoff")]
    pub max_backoff: f64,
    /// Threads of each FFmpeg (libav) decoder; 0 lets it choose (one per core). A line-up has
    /// more streams than cores: one thread each spares the memory of frame threading.
    #[serde(default = "default_decoder_threads")]
    pub decoder_threads: u32,
    #[serde(default)]
    pub stream: Vec<StreamConfig>,
}

/// A stream ready to run: its configuration and its checked settings.
#[derive(Debug, Clone)]
pub struct Checked {
    pub config: StreamConfig,
    pub uri: String,
    pub settings: Vec<Setting>,
}

/// Metric label names: Prometheus's rules, and not one of vqmon's own.
fn check_label(stream: &str, key: &str) -> Result<(), String> {
    let ok = key
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if !ok || key.is_empty() || key.starts_with("__") {
        return Err(format!(
            "stream '{stream}': label '{key}' is not a Prometheus label name"
        ));
    }
    if matches!(key, "stream" | "defect" | "le") {
        return Err(format!(
            "stream '{stream}': label '{key}' is vqmon's own (stream, defect)"
        ));
    }
    Ok(())
}

impl Config {
    /// Parses and checks the configuration text.
    pub fn parse(text: &str) -> Result<(Config, Vec<Checked>), String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.source_timeout <= 0.0 || config.max_backoff <= 0.0 {
            return Err("source-timeout and max-backoff must be positive".into());
        }
        if config.webhook_queue == 0 {
            return Err("webhook-queue must be at least 1".into());
        }
        let mut names = std::collections::BTreeSet::new();
        let mut checked = Vec::new();
        for s in &config.stream {
            if s.name.is_empty() || !names.insert(s.name.clone()) {
                return Err(format!(
                    "stream names must be unique and not empty: '{}'",
                    s.name
                ));
            }
            for k in s.labels.keys() {
                check_label(&s.name, k)?;
            }
            let uri = input::to_uri(&s.uri).map_err(|e| format!("stream '{}': {e}", s.name))?;
            let mut settings = Vec::new();
            if let Some(p) = &s.profile {
                let p = profile::load(p).map_err(|e| format!("stream '{}': {e}", s.name))?;
                settings.extend(p.settings);
            }
            for arg in &s.set {
                settings.push(set::parse(arg).map_err(|e| format!("stream '{}': {e}", s.name))?);
            }
            checked.push(Checked {
                config: s.clone(),
                uri,
                settings,
            });
        }
        Ok((config, checked))
    }

    pub fn read(path: &std::path::Path) -> Result<(Config, Vec<Checked>), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_up_is_read_and_checked() {
        crate::test_init();
        let (c, s) = Config::parse(
            r#"
            listen = "127.0.0.1:0"
            [[webhook]]
            url = "http://127.0.0.1:9/hook"
            secret = "s3"
            [[stream]]
            name = "ch1"
            uri = "udp://127.0.0.1:5000"
            labels = { region = "eu", tier = "gold" }
            profile = "broadcast"
            set = ["vqfreeze.min-duration=500000000"]
            [[stream]]
            name = "ch2"
            uri = "rtsp://camera/stream"
            "#,
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.webhook[0].secret.as_deref(), Some("s3"));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].config.labels["tier"], "gold");
        // The profile's settings, then the stream's own.
        let last = s[0].settings.last().unwrap();
        assert_eq!(
            (last.factory.as_str(), last.property.as_str()),
            ("vqfreeze", "min-duration")
        );
        assert!(s[0].settings.len() > 1);
        assert_eq!(c.source_timeout, 3.0);
        assert_eq!(c.decoder_threads, 1);
    }

    #[test]
    fn mistakes_say_why() {
        crate::test_init();
        for (text, needle) in [
            ("[[stream]]\nname = \"a\"\n", "missing field `uri`"),
            (
                "[[stream]]\nname = \"a\"\nuri = \"udp://x:1\"\n[[stream]]\nname = \"a\"\nuri = \"udp://x:2\"\n",
                "unique",
            ),
            (
                "[[stream]]\nname = \"a\"\nuri = \"udp://x:1\"\nset = [\"vqfreeze.nope=1\"]\n",
                "has no property 'nope'",
            ),
            (
                "[[stream]]\nname = \"a\"\nuri = \"udp://x:1\"\nprofile = \"nope\"\n",
                "no profile 'nope'",
            ),
            (
                "[[stream]]\nname = \"a\"\nuri = \"udp://x:1\"\nlabels = { stream = \"x\" }\n",
                "vqmon's own",
            ),
            (
                "[[stream]]\nname = \"a\"\nuri = \"udp://x:1\"\nlabels = { \"bad-name\" = \"x\" }\n",
                "not a Prometheus label name",
            ),
            ("lisen = \"x\"\n", "unknown field `lisen`"),
            ("source-timeout = 0.0\n", "positive"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
