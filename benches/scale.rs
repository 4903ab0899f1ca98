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
//! The streams-per-core figure computed from CPU time is then checked in real time: N live
//! streams, each fed at 25 fps by the wall clock (starts staggered over a frame period); a run
//! keeps real time when every frame arrives and 99 % leave the monitor less than one frame period
//! after they were due. The largest N that keeps it is searched for (bisection from 3/4 of the
//! computed figure, to within 5 %).
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

/// `appsrc ! ELEMENT ! fakesink SINK_PROPS`, playing, and its source.
fn stream(caps: &gst::Caps, element: &str, sink_props: &str) -> (gst::Pipeline, gst_app::AppSrc) {
    let p = gst::parse::launch(&format!(
        "appsrc name=src format=time block=true max-buffers=2 caps=\"{caps}\" ! {element} ! fakesink name=sink sync=false {sink_props}"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = p
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    p.set_state(gst::State::Playing).unwrap();
    (p, src)
}

/// Frame `i` of stream `k`: a new buffer header over shared frame memory (no pixel is copied).
fn frame(pool: &[gst::Buffer], k: usize, i: u64) -> gst::Buffer {
    let mut b = pool[(k + i as usize) % pool.len()].clone();
    let bm = b.make_mut();
    bm.set_pts(gst::ClockTime::from_nseconds(common::t(i, FPS)));
    bm.set_duration(gst::ClockTime::from_nseconds(common::t(1, FPS)));
    b
}

/// Waits for every pipeline's EOS.
fn wait_eos(pipelines: &[(gst::Pipeline, gst_app::AppSrc)]) {
    for (p, _) in pipelines {
        let bus = p.bus().unwrap();
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(600), &[gst::MessageType::Eos]);
    }
}

/// Lateness of frames leaving the monitor against their due time, in ms.
struct Live {
    frames: usize,
    /// CPU of the whole process per frame during the run (ms), and the share of the core used.
    cpu_ms: f64,
    load: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// N live streams for `seconds`: frame i of stream k is due at start + k * period / n + i *
/// period, where start follows the set-up of every pipeline; its lateness is measured when it
/// reaches the sink.
fn run_live(n: usize, seconds: u64, element: &str, pool: &[gst::Buffer], caps: &gst::Caps) -> Live {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    let period = Duration::from_nanos(common::t(1, FPS));
    let frames = seconds * FPS;
    // Arrivals at each sink (stream, pts, when); lateness is computed once the schedule's start
    // is known, after every pipeline is set up.
    type Arrivals = Arc<Mutex<Vec<(usize, u64, Instant)>>>;
    let arrivals: Arrivals = Arc::new(Mutex::new(Vec::with_capacity(n * frames as usize)));
    let pipelines: Vec<(gst::Pipeline, gst_app::AppSrc)> = (0..n)
        .map(|k| {
            let (p, src) = stream(caps, element, "signal-handoffs=true");
            let arrivals = arrivals.clone();
            p.by_name("sink")
                .unwrap()
                .connect("handoff", false, move |v| {
                    let pts = v[1].get::<gst::Buffer>().unwrap().pts().unwrap().nseconds();
                    arrivals.lock().unwrap().push((k, pts, Instant::now()));
                    None
                });
            (p, src)
        })
        .collect();
    let t0 = Instant::now() + Duration::from_millis(100);
    let start = |k: usize| t0 + period * k as u32 / n as u32;
    let cpu0 = cpu_seconds();
    std::thread::scope(|s| {
        for (k, (_, src)) in pipelines.iter().enumerate() {
            s.spawn(move || {
                for i in 0..frames {
                    let due = start(k) + period * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    if src.push_buffer(frame(pool, k, i)).is_err() {
                        break;
                    }
                }
                let _ = src.end_of_stream();
            });
        }
    });
    wait_eos(&pipelines);
    let cpu = cpu_seconds() - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    for (p, _) in &pipelines {
        p.set_state(gst::State::Null).unwrap();
    }
    let mut v: Vec<f64> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|&(k, pts, at)| {
            let due = start(k) + Duration::from_nanos(pts);
            at.saturating_duration_since(due).as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    let q = |f: f64| v.get(((v.len() as f64 * f) as usize).min(v.len().saturating_sub(1)));
    Live {
        cpu_ms: cpu * 1e3 / v.len().max(1) as f64,
        load: cpu / wall,
        frames: v.len(),
        p99_ms: q(0.99).copied().unwrap_or(f64::NAN),
        max_ms: v.last().copied().unwrap_or(f64::NAN),
    }
}

struct Run {
    cpu: f64,
    wall: f64,
    rss_peak_delta: u64,
}

fn run(n: usize, frames: u64, element: &str, pool: &[gst::Buffer], caps: &gst::Caps) -> Run {
    let rss0 = rss_bytes();
    let pipelines: Vec<(gst::Pipeline, gst_app::AppSrc)> =
        (0..n).map(|_| stream(caps, element, "")).collect();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let rss_mid = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    std::thread::scope(|s| {
        for (k, (_, src)) in pipelines.iter().enumerate() {
            let rss_mid = rss_mid.clone();
            s.spawn(move || {
                for i in 0..frames {
                    if src.push_buffer(frame(pool, k, i)).is_err() {
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
    wait_eos(&pipelines);
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
    // Streams per core computed from the largest N measured, per monitor.
    let mut per_core = std::collections::BTreeMap::new();
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
            per_core.insert(monitor, streams_per_core);
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
    // The computed streams per core, checked live (a short run when cargo test smoke-runs this).
    let (live_secs, live_monitors): (u64, &[&str]) = if benching {
        (8, &monitors)
    } else {
        (1, &monitors[..1])
    };
    println!(
        "real-time check: live streams fed at 25 fps for {live_secs} s; lateness of frames leaving the monitor"
    );
    println!(
        "{:>22} {:>6} {:>10} {:>12} {:>12} {:>14} {:>10} {:>10}",
        "monitor",
        "N",
        "frames",
        "p99 late ms",
        "max late ms",
        "CPU ms/frame",
        "core load",
        "real time"
    );
    for &monitor in live_monitors {
        let computed = if benching {
            (per_core[monitor].floor() as usize).max(1)
        } else {
            1
        };
        // Largest N known to keep real time, smallest known to miss it.
        let (mut kept, mut missed) = (0usize, usize::MAX);
        let mut n = (computed * 3 / 4).max(1);
        loop {
            let l = run_live(n, live_secs, monitor, &pool, &caps);
            let ok = l.frames as u64 == n as u64 * live_secs * FPS && l.p99_ms < 40.0;
            println!(
                "{monitor:>22} {n:>6} {:>10} {:>12.1} {:>12.1} {:>14.3} {:>9.0}% {:>10}",
                l.frames,
                l.p99_ms,
                l.max_ms,
                l.cpu_ms,
                l.load * 100.0,
                if ok { "kept" } else { "missed" }
            );
            rows.push(serde_json::json!({
                "kind": "real-time-check",
                "monitor": monitor,
                "streams": n,
                "computed-streams-per-core": computed,
                "seconds": live_secs,
                "frames": l.frames,
                "p99-lateness-ms": l.p99_ms,
                "max-lateness-ms": l.max_ms,
                "pipeline-cpu-ms-per-frame": l.cpu_ms,
                "core-load": l.load,
                "real-time": ok,
            }));
            if ok {
                kept = n;
            } else {
                missed = n;
            }
            if !benching {
                break;
            }
            n = if missed == usize::MAX {
                (kept * 5).div_ceil(4)
            } else {
                (kept + missed) / 2
            };
            if missed.saturating_sub(kept) <= (kept / 20).max(1) || n == kept || n == 0 {
                break;
            }
        }
        println!(
            "{monitor:>22}: largest N in real time on one core {kept} (computed from CPU: {computed})"
        );
        rows.push(serde_json::json!({
            "kind": "real-time-largest",
            "monitor": monitor,
            "streams": kept,
            "computed-streams-per-core": computed,
        }));
    }
    if benching {
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale.json");
        std::fs::write(&out, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
        println!("written to {}", out.display());
    }
}
