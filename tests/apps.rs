// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The applications users start from: the Python monitor and the Rust monitor example, each on a
//! generated MP4 clip with audio and a freeze (the `vqmon` program has its own tests, in cli/).

mod common;
#[path = "../examples/monitor.rs"]
mod monitor;

use common::*;
use std::path::Path;
use std::process::Command;

fn check_report(path: &Path) -> serde_json::Value {
    let report = validated(&std::fs::read_to_string(path).expect("report written"));
    assert_eq!(report["complete"], true);
    assert_eq!(report["summary"]["freeze"]["count"], 1, "{report:#}");
    let e = &report["events"][0];
    assert_eq!(e["defect"], "freeze");
    assert_eq!(e["end-reason"], "eos");
    // The still part starts at 1 s; a lossy encode may refine it for a few frames.
    let start = e["start"]["running-time"].as_u64().unwrap();
    assert!((SECOND..SECOND + SECOND / 2).contains(&start), "{e:#}");
    report
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn python_monitor() {
    let clip = media_clip("apps-py", true);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = std::env::temp_dir().join(format!("vqmon-apps-py-{}.json", std::process::id()));

    let out = run(Command::new("/usr/bin/python3")
        .arg(root.join("pipelines/monitor.py"))
        .arg("--report")
        .arg(&report)
        .arg(&clip)
        .env("GST_PLUGIN_PATH", plugin_dir()));
    assert!(
        out.contains("freeze update, started at 1.000 s, 2.000 s so far, major"),
        "{out}"
    );
    assert!(out.contains("freeze start at"), "{out}");
    assert!(out.contains("freeze end, started at 1."), "{out}");
    assert!(
        out.contains("vqmon report: 1 defects, complete: True"),
        "{out}"
    );
    check_report(&report);
    let _ = std::fs::remove_file(report);
    let _ = std::fs::remove_file(clip);
}

#[test]
fn rust_monitor_example() {
    let clip = media_clip("apps-rs", true);
    let report = std::env::temp_dir().join(format!("vqmon-apps-rs-{}.json", std::process::id()));
    let mut out = Vec::new();
    let outcome = monitor::run(clip.to_str().unwrap(), Some(&report), &mut out).expect("runs");
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("freeze start at"), "{out}");
    assert!(out.contains("freeze end, started at"), "{out}");
    // The 3 s freeze becomes major at 2 s (alarm-duration): one update says so.
    assert!(
        out.contains("freeze update, started at 1.000 s, 2.000 s so far, major"),
        "{out}"
    );
    assert_eq!(outcome.defects.len(), 3, "start, update and end: {out}");
    assert_eq!(
        outcome.report,
        check_report(&report),
        "the bus message carries the file's report"
    );
    let _ = std::fs::remove_file(report);
    let _ = std::fs::remove_file(clip);
}
