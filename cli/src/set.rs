// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `--set ELEMENT.PROPERTY=VALUE`: checked against the element's real properties before anything
//! runs, so that a typo is an error and never a silent default.

use gst::glib;
use gst::prelude::*;

/// The elements `--set` may configure.
pub const ELEMENTS: [&str; 5] = ["vqfreeze", "vqartifact", "avsyncmon", "vqaudio", "vqreport"];

/// One checked setting.
#[derive(Debug, Clone)]
pub struct Setting {
    pub factory: String,
    pub property: String,
    /// The value as given, checked to parse as the property's type and to lie in its range.
    pub value: String,
}

/// Parses and checks one `--set` argument.
pub fn parse(arg: &str) -> Result<Setting, String> {
    let bad = |why: String| format!("bad --set '{arg}': {why}");
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected ELEMENT.PROPERTY=VALUE".into()))?;
    let (factory, property) = key
        .split_once('.')
        .ok_or_else(|| bad("expected ELEMENT.PROPERTY=VALUE".into()))?;
    if !ELEMENTS.contains(&factory) {
        return Err(bad(format!(
            "no element '{factory}' (one of {})",
            ELEMENTS.join(", ")
        )));
    }
    let element = gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let pspec = element
        .find_property(property)
        .ok_or_else(|| bad(format!("{factory} has no property '{property}'")))?;
    if !pspec.flags().contains(glib::ParamFlags::WRITABLE)
        || pspec.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY)
    {
        return Err(bad(format!("{factory}.{property} cannot be set")));
    }
    if factory == "vqreport" && matches!(property, "location" | "ndjson-location" | "analysis") {
        return Err(bad(format!(
            "vqreport.{property} is set by vqmon analyze (see --report and --ndjson)"
        )));
    }
    let parsed = glib::Value::deserialize_with_pspec(value, &pspec).map_err(|_| {
        bad(format!(
            "'{value}' is not a valid {} for {factory}.{property}",
            pspec.value_type().name()
        ))
    })?;
    // GLib would clamp an out-of-range value with a warning nobody sees: refuse it here.
    if let Some(range) = out_of_range(&pspec, &parsed) {
        return Err(bad(range));
    }
    Ok(Setting {
        factory: factory.to_string(),
        property: property.to_string(),
        value: value.to_string(),
    })
}

/// Applies the settings that concern `element`.
pub fn apply(element: &gst::Element, settings: &[Setting]) {
    let Some(factory) = element.factory() else {
        return;
    };
    for s in settings.iter().filter(|s| s.factory == factory.name()) {
        // Checked by `parse` on an instance of the same factory.
        if let Some(pspec) = element.find_property(&s.property)
            && let Ok(v) = glib::Value::deserialize_with_pspec(&s.value, &pspec)
        {
            element.set_property_from_value(&s.property, &v);
        }
    }
}

/// Why a value lies outside a numeric property's range, if it does.
fn out_of_range(pspec: &glib::ParamSpec, v: &glib::Value) -> Option<String> {
    macro_rules! check {
        ($spec:ty, $t:ty) => {
            if let Some(p) = pspec.downcast_ref::<$spec>() {
                let x = v.get::<$t>().ok()?;
                if x < p.minimum() || x > p.maximum() {
                    return Some(format!(
                        "{} must be between {} and {}, not {}",
                        pspec.name(),
                        p.minimum(),
                        p.maximum(),
                        x
                    ));
                }
            }
        };
    }
    check!(glib::ParamSpecDouble, f64);
    check!(glib::ParamSpecFloat, f32);
    check!(glib::ParamSpecInt, i32);
    check!(glib::ParamSpecUInt, u32);
    check!(glib::ParamSpecInt64, i64);
    check!(glib::ParamSpecUInt64, u64);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        crate::test_init();
        let s = parse("vqfreeze.min-duration=500000000").unwrap();
        let e = gst::ElementFactory::make("vqfreeze").build().unwrap();
        apply(&e, &[s]);
        assert_eq!(e.property::<u64>("min-duration"), 500_000_000);
        let s = parse("vqartifact.use-transport-errors=false").unwrap();
        let e = gst::ElementFactory::make("vqartifact").build().unwrap();
        apply(&e, &[s]);
        assert!(!e.property::<bool>("use-transport-errors"));
        for (arg, why) in [
            ("vqfreeze", "expected ELEMENT.PROPERTY=VALUE"),
            ("vqfreeze=3", "expected ELEMENT.PROPERTY=VALUE"),
            ("x264enc.bitrate=3", "no element 'x264enc'"),
            (
                "vqfreeze.min-durat=3",
                "vqfreeze has no property 'min-durat'",
            ),
            (
                "vqfreeze.min-duration=soon",
                "'soon' is not a valid guint64",
            ),
            (
                "vqartifact.edge-step=0.5",
                "edge-step must be between 1 and 255",
            ),
            ("vqfreeze.stats=x", "vqfreeze.stats cannot be set"),
            ("vqreport.location=x", "set by vqmon analyze"),
        ] {
            let e = parse(arg).unwrap_err();
            assert!(e.contains(why), "{arg}: {e}");
            assert!(e.starts_with(&format!("bad --set '{arg}'")), "{e}");
        }
    }
}
