// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Launches every one-liner in `pipelines/` and checks what it says it reports.

mod common;

use common::*;
use gst::prelude::*;
use gstvqmon::{DefectMessage, Phase};
use std::collections::BTreeSet;
use std::path::Path;

struct OneLiner {
    name: String,
    launch: String,
    expect: Option<BTreeSet<String>>,
}

fn read_one_liner(path: &Path, media: &Path) -> OneLiner {
    let text = std::fs::read_to_string(path).unwrap();
    let mut expect = None;
    let mut command = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# expect:") {
            expect = Some(rest.split(',').map(|s| s.trim().to_string()).collect());
        } else if line == "# expect-none" {
            expect = Some(BTreeSet::new());
        } else if !line.starts_with('#') {
            assert!(
                command.is_none(),
                "{}: one command per file",
                path.display()
            );
            command = Some(line.to_string());
        }
    }
    let command = command.unwrap_or_else(|| panic!("{}: no command", path.display()));
    let mut words = command.split_whitespace().peekable();
    assert_eq!(words.next(), Some("gst-launch-1.0"), "{}", path.display());
    while words.peek().is_some_and(|w| w.starts_with('-')) {
        words.next();
    }
    let uri = gst::glib::filename_to_uri(media, None).unwrap();
    let launch = words
        .collect::<Vec<_>>()
        .join(" ")
        .replace("@MEDIA@", &uri)
        .replace("autovideosink", "fakesink")
        .replace("xvimagesink", "fakesink");
    OneLiner {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        launch,
        expect,
    }
}

#[test]
fn every_one_liner_runs_and_reports_what_it_says() {
    init();
    let media = media_clip("pipelines", false);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "pipelines/ holds the examples");
    for file in files {
        let one = read_one_liner(&file, &media);
        let expect = one
            .expect
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no '# expect' line", one.name));
        let pipeline =
            gst::parse::launch(&one.launch).unwrap_or_else(|e| panic!("{}: {e}", one.name));
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let mut seen = BTreeSet::new();
        let mut msgs = Vec::new();
        let mut injected = Vec::new();
        let mut eos = false;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::Eos(_) => {
                    eos = true;
                    break;
                }
                gst::MessageView::Error(e) => panic!("{}: {} {:?}", one.name, e.error(), e.debug()),
                _ => {
                    if let Some(d) = DefectMessage::from_message(&msg) {
                        let d = d.unwrap();
                        seen.insert(d.defect.clone());
                        msgs.push(d);
                    } else if let Some(d) = DefectMessage::from_injection_message(&msg) {
                        injected.push(d.unwrap());
                    }
                }
            }
        }
        // Every report a vqreport of the one-liner made is valid.
        if let Ok(bin) = pipeline.clone().downcast::<gst::Bin>() {
            for e in bin.iterate_recurse().into_iter().flatten() {
                if e.factory().is_some_and(|f| f.name() == "vqreport") {
                    let report = e
                        .property::<Option<String>>("report")
                        .expect("a final report");
                    validated(&report);
                }
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(eos, "{}: no EOS", one.name);
        assert_eq!(&seen, expect, "{}: {}", one.name, summary(&msgs));
        // What it reports is what was injected, when it was injected: every injection of a
        // defect the one-liner expects is found by a detection starting inside it (or up to
        // 1 ms before: silence starts at the first silent sample, and a wave's last samples
        // before a cut may already be below the threshold at a zero crossing).
        for inj in injected
            .iter()
            .filter(|i| i.phase == Phase::End && expect.contains(&i.defect))
        {
            let (a, b) = (
                ns(inj.start.running_time),
                ns(inj.end.unwrap().running_time),
            );
            assert!(
                msgs.iter()
                    .any(|m| matches!(m.phase, Phase::Start | Phase::Point)
                        && m.defect == inj.defect
                        && (a.saturating_sub(1_000_000)..=b).contains(&ns(m.start.running_time))),
                "{}: injected {} [{a}, {b}] not found: {:?} {}",
                one.name,
                inj.defect,
                msgs.iter()
                    .map(|m| ns(m.start.running_time))
                    .collect::<Vec<_>>(),
                summary(&msgs)
            );
        }
        // Every defect opened was closed.
        for m in msgs.iter().filter(|m| m.phase == Phase::Start) {
            assert!(
                msgs.iter().any(|e| e.phase == Phase::End && e.id == m.id),
                "{}: {} never ended",
                one.name,
                m.defect
            );
        }
        if one.name.contains("live") {
            assert!(
                msgs.iter().all(|m| m.utc.is_some()),
                "{}: live carries UTC: {msgs:#?}",
                one.name
            );
        }
    }
    let _ = std::fs::remove_file(media);
}
