// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! One process monitoring N concurrent 1080p25 streams fed from memory: CPU and resident memory
//! per stream, and how many streams one core keeps in real time.
//!
//!   cargo bench --bench scale            N = 1, 8, 32, 128 (pin it: taskset -c 0 ...)
//!   cargo bench --bench scale -- 1 4     chosen N
//!
//! Each stream is `appsrc ! MONITOR ! fakesink` for MONITOR = vqfreeze, vqartifact, both (every
//! vqmon video detector) and vqartifact's reduced-cost `frame-step` 2 and 4; the same run with `identity` in its place is the baseline, so
//! the figures are the monitor's own. Frames are zero-copy buffers over 16 shared, textured 1080p
//! frames (each stream starts at another one), so resident memory grows only by what each
//! pipeline and its monitor hold.

#[path = "../tests/common/mod.rs"]
mod common;

use gst::prelude::*;
use std::time::Instant;

const W: u32 = 1920;
const H: u32 = 1080;
const FPS: u64 = 25;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name: utime is the 14th field, stime the 15th (clock ticks).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

struct Run {
    cpu: f64,
    wall: f64,
    rss_peak_delta: u64,
}

fn run(n: usize, frames: u64, element: &str, pool: &[gst::Buffer], caps: &gst::Caps) -> Run {
    let rss0 = rss_bytes();
    let pipelines: Vec<(gst::Pipeline, gst_app::AppSrc)> = (0..n)
        .map(|_| {
            let p = gst::parse::launch(&format!(
                "appsrc name=src format=time block=true max-buffers=2 caps=\"{caps}\" ! {element} ! fakesink sync=false"
            ))
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
            let src = p.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
            p.set_state(gst::State::Playing).unwrap();
            (p, src)
        })
        .collect();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let rss_mid = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    std::thread::scope(|s| {
        for (k, (_, src)) in pipelines.iter().enumerate() {
            let rss_mid = rss_mid.clone();
            s.spawn(move || {
                for i in 0..frames {
                    // A new buffer header over the shared frame memory: no pixel is copied.
                    let mut b = pool[(k + i as usize) % pool.len()].clone();
                    let bm = b.make_mut();
                    bm.set_pts(gst::ClockTime::from_nseconds(common::t(i, FPS)));
                    bm.set_duration(gst::ClockTime::from_nseconds(common::t(1, FPS)));
                    if src.push_buffer(b).is_err() {
                        break;
                    }
                    if i == frames / 2 && k == 0 {
                        rss_mid.store(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
                let _ = src.end_of_stream();
            });
        }
    });
    for (p, _) in &pipelines {
        let bus = p.bus().unwrap();
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(600), &[gst::MessageType::Eos]);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let rss_peak = rss_mid
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(rss_bytes());
    for (p, _) in &pipelines {
        p.set_state(gst::State::Null).unwrap();
    }
    Run {
        cpu,
        wall,
        rss_peak_delta: rss_peak.saturating_sub(rss0),
    }
}

fn main() {
    common::init();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let benching = std::env::args().any(|a| a == "--bench");
    let (ns, frames): (Vec<usize>, u64) = if !args.is_empty() {
        (args.iter().map(|a| a.parse().expect("N")).collect(), 250)
    } else if benching {
        (vec![1, 8, 32, 128], 250)
    } else {
        // cargo test runs benches once as a smoke test: keep it small.
        (vec![1, 2], 10)
    };
    let info = common::i420_info(W, H, FPS as i32);
    let caps = info.to_caps().unwrap();
    let scene = common::Scene::new(W as usize, H as usize);
    let pool: Vec<gst::Buffer> = (0..16u64)
        .map(|i| scene.buffer(&common::Shot::moving(i * 7), &info))
        .collect();

    println!(
        "1080p25 I420 streams fed from memory, {frames} frames each; each monitor's own cost (minus an identity baseline)"
    );
    println!(
        "{:>5} {:>22} {:>14} {:>14} {:>16} {:>22}",
        "N", "monitor", "CPU ms/frame", "CPU %/stream", "RSS MiB/stream", "real-time streams/core"
    );
    let monitors = [
        "vqfreeze",
        "vqartifact",
        "vqfreeze ! vqartifact",
        "vqartifact frame-step=2",
        "vqartifact frame-step=4",
    ];
    let mut rows = Vec::new();
    for &n in &ns {
        let base = run(n, frames, "identity", &pool, &caps);
        for monitor in monitors {
            let det = run(n, frames, monitor, &pool, &caps);
            let per_frame = (det.cpu - base.cpu).max(0.0) / (n as f64 * frames as f64);
            let pct = per_frame * FPS as f64 * 100.0;
            let rss = (det.rss_peak_delta as f64 - base.rss_peak_delta as f64).max(0.0)
                / n as f64
                / 1048576.0;
            let total_per_frame = det.cpu / (n as f64 * frames as f64);
            let streams_per_core = 1.0 / (total_per_frame * FPS as f64);
            // Frames are pushed as fast as the pipeline takes them: the added wall time per frame
            // of a single stream is the latency the monitor adds to each buffer.
            let latency_ms = (det.wall - base.wall) / frames as f64 * 1e3;
            if n == 1 {
                println!(
                    "      {monitor}: added latency per buffer (one stream): {latency_ms:.3} ms"
                );
            }
            println!(
                "{n:>5} {monitor:>22} {:>14.3} {:>14.2} {:>16.2} {:>22.1}",
                per_frame * 1e3,
                pct,
                rss,
                streams_per_core
            );
            rows.push(serde_json::json!({
                "streams": n,
                "monitor": monitor,
                "frames-per-stream": frames,
                "cpu-ms-per-frame": per_frame * 1e3,
                "cpu-percent-per-stream": pct,
                "rss-mib-per-stream": rss,
                "pipeline-cpu-ms-per-frame": total_per_frame * 1e3,
                "real-time-streams-per-core": streams_per_core,
                "wall-seconds": det.wall,
                "added-latency-ms-per-buffer": latency_ms,
            }));
        }
    }
    if benching {
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale.json");
        std::fs::write(&out, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
        println!("written to {}", out.display());
    }
}
