// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `make demo`: a generated stream with known defects goes through an H.264 encode and decode and
//! vqfreeze; the defects it reports are printed next to the ones injected.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use gstvqmon::{DefectMessage, Phase};

const FPS: u64 = 25;
const W: u32 = 640;
const H: u32 = 360;

struct Injected {
    defect: &'static str,
    start: f64,
    end: f64,
    what: &'static str,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    init();
    let secs = |s: f64| (s * FPS as f64).round() as u64;
    let injected = [
        Injected {
            defect: "freeze",
            start: 4.0,
            end: 7.0,
            what: "picture held 3 s",
        },
        Injected {
            defect: "black",
            start: 10.0,
            end: 13.0,
            what: "black 3 s",
        },
        Injected {
            defect: "freeze",
            start: 16.0,
            end: 20.0,
            what: "picture held 4 s under fresh film grain",
        },
        Injected {
            defect: "stall",
            start: 24.0,
            end: 27.0,
            what: "no frames for 3 s",
        },
        Injected {
            defect: "stutter",
            start: 31.0,
            end: 33.2,
            what: "5 repeated frames, 1 on an I-frame",
        },
    ];
    let total = secs(40.0);
    let stutter_frames: Vec<u64> = [31.0, 31.4, 32.2, 32.6, 33.12]
        .iter()
        .map(|&s| secs(s))
        .collect();

    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let mut content = 0u64;
    let mut frames = Vec::new();
    for i in 0..total {
        let t = i as f64 / FPS as f64;
        if (24.0..27.0).contains(&t) {
            continue; // stall: these frames never arrive
        }
        // The picture of 4.00 s is held until 7.00 s (and of 16.00 s until 20.00 s).
        let held = (t > 4.0 && t < 7.0) || (t > 16.0 && t < 20.0) || stutter_frames.contains(&i);
        if !held {
            content += 1;
        }
        let shot = Shot {
            content,
            black: (10.0..13.0).contains(&t),
            grain: if (14.0..22.0).contains(&t) { 3.0 } else { 0.0 },
            grain_seed: i,
            ..Shot::moving(i)
        };
        let mut b = scene.buffer(&shot, &info);
        stamp(&mut b, i, FPS);
        frames.push(b);
    }

    println!(
        "vqmon demo: {} s of generated {W}x{H} {FPS} fps textured, moving video with known defects,\n\
         encoded with x264enc, decoded with avdec_h264 and analysed inline by vqfreeze.\n",
        total / FPS
    );
    // The encoded stream is also kept, for `make demo` to analyse with pipelines/analyze-file.sh.
    let clip = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vqmon-demo.mp4");
    let (msgs, errors) = run_appsrc_pipeline(
        &format!(
            "x264enc threads=1 bitrate=2000 key-int-max=50 speed-preset=ultrafast tune=zerolatency ! \
             tee name=t ! queue ! h264parse ! avdec_h264 ! vqfreeze name=vqfreeze ! fakesink \
             t. ! queue ! h264parse ! mp4mux ! filesink location={}",
            clip.display()
        ),
        &info,
        frames,
    );
    if !errors.is_empty() {
        return Err(format!("pipeline failed: {errors:?}").into());
    }

    // Times relative to the running time of the stream (x264enc shifts PTS by 1000 hours).
    let rt = |t: Option<gst::ClockTime>| t.map_or(f64::NAN, |t| t.nseconds() as f64 / 1e9);
    let detected: Vec<(&DefectMessage, &DefectMessage)> = msgs
        .iter()
        .filter(|m| m.phase == Phase::Start)
        .filter_map(|s| {
            msgs.iter()
                .find(|e| e.phase == Phase::End && e.id == s.id)
                .map(|e| (s, e))
        })
        .collect();

    println!(
        "{:<9}{:>9}{:>9}  {:<42}|  {:>9}{:>9}{:>9}  evidence",
        "injected", "start", "end", "", "detected", "end", "latency"
    );
    let mut matched = vec![false; detected.len()];
    let mut hits = 0;
    for inj in &injected {
        let found = detected.iter().enumerate().find(|(_, (s, e))| {
            s.defect == inj.defect
                && rt(s.start.running_time) < inj.end + 0.5
                && rt(e.end.and_then(|e| e.running_time)) > inj.start - 0.5
        });
        print!(
            "{:<9}{:>9.3}{:>9.3}  {:<42}|",
            inj.defect, inj.start, inj.end, inj.what
        );
        match found {
            Some((k, (s, e))) => {
                matched[k] = true;
                hits += 1;
                let ev = e.evidence.as_ref().unwrap();
                let detail = match inj.defect {
                    "freeze" => format!(
                        "kind={} refreshes={}",
                        ev.get::<String>("kind")?,
                        ev.get::<u64>("refreshes")?
                    ),
                    "stall" => format!("missing-frames={}", ev.get::<u64>("missing-frames")?),
                    "stutter" => format!("runs={}", ev.get::<u64>("runs")?),
                    _ => format!("frames={}", ev.get::<u64>("frames")?),
                };
                println!(
                    "  {:>9.3}{:>9.3}{:>8.3}s  {detail}",
                    rt(s.start.running_time),
                    rt(e.end.and_then(|e| e.running_time)),
                    rt(s.detected_running_time) - rt(s.start.running_time),
                );
            }
            None => println!("  {:>9}", "MISSED"),
        }
    }
    for (k, (s, e)) in detected.iter().enumerate() {
        if !matched[k] {
            println!(
                "{:<9}{:>9}{:>9}  {:<42}|  {:>9.3}{:>9.3}  FALSE ALARM: {}",
                "-",
                "",
                "",
                "",
                rt(s.start.running_time),
                rt(e.end.and_then(|e| e.running_time)),
                s.defect
            );
        }
    }
    let precision = if detected.is_empty() {
        1.0
    } else {
        hits as f64 / detected.len() as f64
    };
    let recall = hits as f64 / injected.len() as f64;
    println!(
        "\nprecision {:.2} ({hits}/{} detected), recall {:.2} ({hits}/{} injected)",
        precision,
        detected.len(),
        recall,
        injected.len()
    );
    println!(
        "every defect message above is a 'vqmon-defect' element message; see docs/messages.md"
    );
    if hits != injected.len() || hits != detected.len() {
        return Err("the demo did not find exactly what was injected".into());
    }
    Ok(())
}
