// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Event precision and recall of vqartifact on the corrupted-H.264 evaluation set of the tests
//! (tests/common/h264.rs), next to FFmpeg `blockdetect` on the very same decoded frames at its
//! best threshold (a frame whose score rises above the threshold is a detection).
//!
//! `cargo run --release --example corruption-eval` (needs ffmpeg on PATH).

#[path = "../tests/common/mod.rs"]
mod common;

use common::h264::{self, Detection, Score};
use std::io::Write;
use std::process::{Command, Stdio};

/// (frame index, blockdetect score) of each decoded frame.
type FrameScores = Vec<(u64, f64)>;

/// blockdetect's per-frame score of each decoded frame, in output order.
fn blockdetect(run: &h264::Run) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let (w, h) = (run.enc.width, run.enc.height);
    let mut child = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
        ])
        .args([
            "-pix_fmt",
            "gray",
            "-s",
            &format!("{w}x{h}"),
            "-r",
            "25",
            "-i",
            "-",
        ])
        .args([
            "-vf",
            "blockdetect,metadata=print:file=-",
            "-f",
            "null",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let frames: Vec<Vec<u8>> = run.bad.iter().map(|f| f.luma.clone()).collect();
    let writer = std::thread::spawn(move || {
        for f in frames {
            if stdin.write_all(&f).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| "writer panicked")?;
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|l| l.strip_prefix("lavfi.block="))
        .filter_map(|v| v.trim().parse().ok())
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init();
    let mut ours: Vec<(String, Score)> = Vec::new();
    let mut theirs: Vec<(Vec<h264::FrameTruth>, FrameScores)> = Vec::new();
    for case in h264::corpus() {
        let run = h264::run_case(&case, "vqartifact");
        let pts0 = run.clean[0].pts;
        let det = h264::detections(&run.bad_log, pts0, 25);
        let s = h264::score(&run.truth, &det);
        let clean_events = h264::detections(&run.clean_log, pts0, 25).len();
        println!(
            "{:9} seed {:2}: bursts {:?}, vqartifact events at {:?}, on the clean decode {}",
            case.name,
            case.seed,
            h264::bursts(&run.truth, 25)
                .iter()
                .map(|b| (b.first, b.last))
                .collect::<Vec<_>>(),
            det.iter().map(|d| d.frame).collect::<Vec<_>>(),
            clean_events
        );
        ours.push((case.name.to_string(), s));
        let scores = blockdetect(&run)?;
        let frames: Vec<(u64, f64)> = run
            .bad
            .iter()
            .zip(&scores)
            .map(|(f, &s)| ((f.pts - pts0) / 40_000_000, s))
            .collect();
        theirs.push((run.truth.clone(), frames));
    }
    let total = |class: Option<&str>| {
        let mut t = Score::default();
        for (name, s) in &ours {
            if class.is_none_or(|c| c == name) {
                t.add(s);
            }
        }
        t
    };
    // blockdetect: onsets of the score above a threshold, every threshold tried, the best F1 kept.
    let mut best: Option<(f64, f64, Score)> = None;
    let mut th = 1.0;
    while th < 3.0 {
        let mut t = Score::default();
        for (truth, frames) in &theirs {
            let mut det = Vec::new();
            let mut above = false;
            for &(i, s) in frames {
                if s > th && !above {
                    det.push(Detection {
                        frame: i,
                        bbox: None,
                    });
                }
                above = s > th;
            }
            t.add(&h264::score(truth, &det));
        }
        let f1 = 2.0 * t.precision() * t.recall() / (t.precision() + t.recall()).max(1e-9);
        if best.as_ref().is_none_or(|b| f1 > b.1) {
            best = Some((th, f1, t));
        }
        th += 0.005;
    }
    let (th, _, bd) = best.ok_or("no threshold")?;
    println!();
    println!(
        "{:38} {:>6} {:>9} {:>10} {:>7}",
        "", "bursts", "recall", "precision", "events"
    );
    for (label, s) in [
        ("vqartifact, cuts and keyframes", total(Some("cuts"))),
        (
            "vqartifact, P-frames inside a shot",
            total(Some("p-frames")),
        ),
        ("vqartifact, all", total(None)),
        (&*format!("blockdetect > {th:.3} (best F1), all"), bd),
    ] {
        println!(
            "{:38} {:>6} {:>9.2} {:>10.2} {:>7}",
            label,
            s.bursts,
            s.recall(),
            s.precision(),
            s.detections
        );
    }
    Ok(())
}
