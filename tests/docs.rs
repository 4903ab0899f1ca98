// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The documentation lists what the elements report: every `stats` field of every detector,
//! optional ones included, is in docs/stats.md, under its element.

mod common;

use common::*;
use gst::prelude::*;

/// The field names of the table rows of `element`'s section of docs/stats.md.
fn documented(element: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/stats.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with(element))
        .unwrap_or_else(|| panic!("no section for {element}"));
    let mut names = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        names.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
    }
    names
}

#[test]
fn every_stats_field_is_documented() {
    init();
    // A run long enough for some optional fields to appear (caps, the grid).
    let p = gst::parse::launch(
        "videotestsrc num-buffers=300 pattern=ball ! video/x-raw,width=320,height=240,\
         framerate=25/1 ! vqfreeze name=f ! vqartifact name=a ! avsyncmon name=s ! fakesink \
         audiotestsrc num-buffers=600 samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=1 ! \
         s.audio_sink s.audio_src ! vqaudio name=q ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    p.set_state(gst::State::Playing).unwrap();
    wait_eos(&p);
    // Read at EOS, before stopping forgets the negotiated state.
    let mut seen = Vec::new();
    for (name, element) in [
        ("f", "vqfreeze"),
        ("a", "vqartifact"),
        ("s", "avsyncmon"),
        ("q", "vqaudio"),
    ] {
        let stats = p.by_name(name).unwrap().property::<gst::Structure>("stats");
        let doc = documented(element);
        let missing: Vec<&str> = stats
            .fields()
            .map(|f| f.as_str())
            .filter(|f| !doc.iter().any(|d| d == f))
            .collect();
        assert!(
            missing.is_empty(),
            "{element}: not in docs/stats.md: {missing:?}"
        );
        seen.extend(stats.fields().map(|f| f.to_string()));
    }
    p.set_state(gst::State::Null).unwrap();
    for optional in [
        "caps",
        "grid-period-x",
        "video-caps",
        "audio-caps",
        "verdict",
        "integrated-loudness",
    ] {
        assert!(seen.iter().any(|f| f == optional), "{optional}: {seen:?}");
    }
}
