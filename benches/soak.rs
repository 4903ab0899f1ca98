// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Soak: one monitored stream for 10^6 frames at a high defect rate, with vqreport collecting
//! every defect and writing event lines, as a 24/7 run would. Resident memory must stay flat
//! once vqreport's event list reached its bound: the peak over the last fifth of the run is
//! under 1 % above the peak over the second fifth (peaks, since the bounded list fills and is
//! halved in a saw-tooth).
//!
//!   cargo bench --bench soak             10^6 frames (about 11 h of 25 fps video)
//!   cargo bench --bench soak -- 200000   another length
//!
//! The stream is videotestsrc 64x48 (so the run measures the monitor and the report, not the
//! decoding) through vqinject, which freezes 1 s of every 2 s: a freeze defect every 2 s, 20 000
//! in 10^6 frames, each with a start, updates and an end line.

#[path = "../tests/common/mod.rs"]
mod common;

use gst::prelude::*;

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

fn main() {
    common::init();
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let benching = std::env::args().any(|a| a == "--bench");
    // cargo test runs benches once as a smoke test: keep it small.
    let frames = args
        .first()
        .copied()
        .unwrap_or(if benching { 1_000_000 } else { 20_000 });
    let seconds = frames / 25;
    let schedule: Vec<String> = (0..seconds / 2)
        .map(|k| format!("freeze@{}s+1s", 2 * k))
        .collect();
    let dir = std::env::temp_dir().join(format!("vqmon-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,width=64,height=48,framerate=25/1 ! vqinject name=inject ! \
         vqfreeze min-duration=300000000 ! fakesink \
         vqreport event-lines=true ndjson-location={} location={}",
        dir.join("events.ndjson").display(),
        dir.join("report.json").display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    p.by_name("inject")
        .unwrap()
        .set_property("schedule", schedule.join(";"));
    let sink = p.iterate_sinks().into_iter().flatten().next().unwrap();
    let frames_out = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = frames_out.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let t0 = std::time::Instant::now();
    p.set_state(gst::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let (early, late) = (frames / 5..2 * frames / 5, 4 * frames / 5..frames);
    let (mut rss_warm, mut rss_peak) = (0u64, 0u64);
    loop {
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(200),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
            break;
        }
        let done = frames_out.load(std::sync::atomic::Ordering::Relaxed);
        let rss = rss_kib();
        if early.contains(&done) {
            rss_warm = rss_warm.max(rss);
        }
        if late.contains(&done) {
            rss_peak = rss_peak.max(rss);
        }
    }
    let rss_end = rss_kib();
    p.set_state(gst::State::Null).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let freezes = report["summary"]["freeze"]["count"].as_u64().unwrap_or(0);
    let growth = |r: u64| 100.0 * (r as f64 - rss_warm as f64) / rss_warm.max(1) as f64;
    println!(
        "{frames} frames in {:.1} s; {freezes} freeze defects ({} kept in full, {} omitted); \
         peak RSS over frames {early:?} {rss_warm} KiB, over {late:?} {rss_peak} KiB ({:+.2} %); \
         after the final report {rss_end} KiB ({:+.2} %)",
        t0.elapsed().as_secs_f64(),
        report["events"].as_array().map_or(0, Vec::len),
        report["events-omitted"],
        growth(rss_peak),
        growth(rss_end),
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(freezes >= seconds / 2 - 1, "{freezes} freezes");
    if benching {
        assert!(growth(rss_peak) < 1.0, "resident memory grew after warm-up");
    }
}
