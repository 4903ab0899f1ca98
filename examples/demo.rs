// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `make demo`: a generated audio/video stream (textured, moving picture with a flash every 3 s
//! and a matching beep over a quiet bed) gets every kind of defect injected by vqinject; the video
//! goes through an H.264 encode and decode, then vqfreeze, vqartifact, avsyncmon and vqaudio
//! watch both streams and vqreport
//! writes the JSON report. The demo prints what was injected next to what was detected, with precision and
//! recall, and keeps the encoded MP4 for `vqmon analyze`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::avsignal::AvSignal;
use common::*;
use gst::prelude::*;
use gstvqmon::{DefectMessage, Phase};

const SCHEDULE: &str = "freeze@4s+3s; black@10s+3s; freeze@16s+3s:noise=4; drop@22s+3s; \
    stutter@28s+3s; corrupt@33s+1s:area=0.2; blocky@36s+2s:q=28; \
    mute@4s+4s:channel=1; clip@13.5s+1s:gain=52dB; gain@18s+12s:+8dB; \
    offset@40s+12s:200ms; gap@55s+300ms; silence@57s+2s; drift@60s+24s:2000ppm";

/// The programme loudness of the demo's audio (beeps over a quiet bed, as measured), the target
/// vqaudio judges it against: a custom standard, +/-3 LU, -1 dBTP.
const TARGET_LUFS: f64 = -27.0;

/// Defects a detector may rightly report for an injected kind (vqmon-injection `defect`).
fn expected(injected: &str) -> &'static [&'static str] {
    match injected {
        "freeze" => &["freeze"],
        "black" => &["black"],
        // Dropped frames: a stall, a gap (maybe a potential shift) in video timestamps, and
        // frames lost from a fixed-rate stream.
        "stall" => &["stall", "ts-discont", "timeline-shift", "corruption"],
        "stutter" => &["stutter"],
        "av-offset" => &["av-offset"],
        "ts-discont" => &["ts-discont", "timeline-shift"],
        "clock-drift" => &["clock-drift"],
        "corruption" => &["corruption"],
        "blockiness" => &["blockiness"],
        "silence" => &["silence"],
        "channel-loss" => &["channel-loss"],
        // A gain stage that clips puts the true peak over the limit too, and, like a gain step,
        // can fail the programme's integrated loudness.
        "clipping" => &["clipping", "true-peak", "loudness"],
        "loudness" => &["loudness"],
        _ => &[],
    }
}

struct Interval<'a> {
    start: f64,
    end: f64,
    start_msg: &'a DefectMessage,
    end_msg: Option<&'a DefectMessage>,
}

fn secs(t: Option<gst::ClockTime>) -> f64 {
    t.map_or(f64::NAN, |t| t.nseconds() as f64 / 1e9)
}

/// Pairs start and end messages by id (points are their own interval).
fn intervals(msgs: &[DefectMessage]) -> Vec<Interval<'_>> {
    let mut out = Vec::new();
    for m in msgs {
        match m.phase {
            Phase::Start => {
                let end = msgs
                    .iter()
                    .find(|e| e.phase == Phase::End && e.id == m.id && e.element == m.element);
                out.push(Interval {
                    start: secs(m.start.running_time),
                    end: end.map_or(f64::INFINITY, |e| secs(e.end.and_then(|e| e.running_time))),
                    start_msg: m,
                    end_msg: end,
                });
            }
            // The integrated loudness verdict judges the whole programme.
            Phase::Point
                if m.evidence
                    .as_ref()
                    .and_then(|e| e.get::<String>("scope").ok())
                    .as_deref()
                    == Some("integrated") =>
            {
                out.push(Interval {
                    start: 0.0,
                    end: f64::INFINITY,
                    start_msg: m,
                    end_msg: None,
                })
            }
            Phase::Point => out.push(Interval {
                start: secs(m.start.running_time),
                end: secs(m.start.running_time),
                start_msg: m,
                end_msg: None,
            }),
            _ => (),
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    init();
    let mut sig = AvSignal::new(25, 25 * 86, |_| 0);
    sig.width = 640;
    sig.height = 360;
    // A quiet programme bed under the beeps (-50 dBFS peak white noise), so that silence and a
    // lost channel mean something.
    sig.bed = 0.003;
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target)?;
    let clip = target.join("vqmon-demo.mp4");
    let report = target.join("vqmon-demo-live-report.json");
    println!(
        "vqmon demo: {} s of generated {}x{} 25 fps textured, moving video with a flash every 3 s and\n\
         a matching 1 kHz beep; vqinject injects, on the raw streams:\n  {SCHEDULE}\n\
         video: x264enc -> avdec_h264 -> vqfreeze -> vqartifact -> avsyncmon; audio: -> avsyncmon -> vqaudio;\n         vqreport -> {}\n",
        sig.frames / 25,
        sig.width,
        sig.height,
        report.display()
    );
    let q = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=0";
    let desc = format!(
        "avsyncmon name=sync vqreport location={report} mp4mux name=mux ! filesink location={clip} \
         appsrc name=vsrc format=time ! vqinject name=inject-video seed=1 schedule=\"{SCHEDULE}\" ! \
           x264enc threads=1 bitrate=2000 key-int-max=50 speed-preset=ultrafast tune=zerolatency ! \
           h264parse ! tee name=vt \
           vt. ! {q} ! avdec_h264 ! vqfreeze name=vqfreeze ! \
             vqartifact name=vqartifact ! sync.video_sink sync.video_src ! fakesink sync=false \
           vt. ! {q} ! mux. \
         appsrc name=asrc format=time ! vqinject name=inject-audio seed=1 schedule=\"{SCHEDULE}\" ! tee name=at \
           at. ! {q} ! sync.audio_sink sync.audio_src ! vqaudio name=vqaudio \
             target-loudness={TARGET_LUFS} loudness-tolerance=3 ! fakesink sync=false \
           at. ! {q} ! audioconvert ! avenc_aac ! mux.",
        report = report.display(),
        clip = clip.display(),
    );
    let p = gst::parse::launch(&desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let get = |n: &str| {
        let a = p.by_name(n).unwrap().downcast::<gst_app::AppSrc>().unwrap();
        a.set_max_bytes(0);
        a
    };
    let (v, a) = (get("vsrc"), get("asrc"));
    p.set_state(gst::State::Playing)?;
    sig.feed(&v, &a);
    let mut truth = Vec::new();
    let mut detected = Vec::new();
    for msg in p
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(600))
    {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                p.set_state(gst::State::Null)?;
                return Err(format!("pipeline failed: {} ({:?})", e.error(), e.debug()).into());
            }
            _ => {
                if let Some(t) = DefectMessage::from_injection_message(&msg) {
                    truth.push(t?);
                } else if let Some(d) = DefectMessage::from_message(&msg) {
                    detected.push(d?);
                }
            }
        }
    }
    p.set_state(gst::State::Null)?;

    let mut inj = intervals(&truth);
    inj.sort_by(|a, b| a.start.total_cmp(&b.start));
    let det = intervals(&detected);
    let mut used = vec![false; det.len()];
    println!(
        "{:<9}{:>8}{:>8}  {:<26}|  {:<15}{:>8}{:>8}  by",
        "injected", "start", "end", "", "detected", "start", "end"
    );
    let (mut scored, mut found) = (0, 0);
    for i in &inj {
        let kind = i.start_msg.defect.as_str();
        let spec = i
            .start_msg
            .evidence
            .as_ref()
            .and_then(|e| e.get::<String>("spec").ok())
            .unwrap_or_default();
        let spec: String = spec.split('@').next().unwrap_or("").to_string();
        let exp = expected(kind);
        let hits: Vec<usize> = det
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                exp.contains(&d.start_msg.defect.as_str())
                    && d.start < i.end + 0.5
                    && d.end.max(d.start) > i.start - 0.5
            })
            .map(|(k, _)| k)
            .collect();
        let head = format!("{:<9}{:>8.2}{:>8.2}  {:<26}|", spec, i.start, i.end, kind);
        if exp.is_empty() {
            println!("{head}  (no vqmon detector for '{kind}' yet: not scored)");
            continue;
        }
        scored += 1;
        if hits.is_empty() {
            println!("{head}  MISSED");
            continue;
        }
        found += 1;
        for (n, k) in hits.iter().enumerate() {
            used[*k] = true;
            let d = &det[*k];
            let lead = if n == 0 {
                head.clone()
            } else {
                format!("{:<51}|", "")
            };
            println!(
                "{lead}  {:<15}{:>8.2}{:>8}  {}",
                d.start_msg.defect,
                d.start,
                if d.end.is_finite() && d.end_msg.is_some() {
                    format!("{:.2}", d.end)
                } else {
                    "-".into()
                },
                d.start_msg.element
            );
        }
    }
    let false_alarms: Vec<&Interval> = det
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(d, _)| d)
        .collect();
    for d in &false_alarms {
        println!(
            "{:<51}|  {:<15}{:>8.2}{:>8.2}  {}  FALSE ALARM",
            "-", d.start_msg.defect, d.start, d.end, d.start_msg.element
        );
    }
    let precision = if det.is_empty() {
        1.0
    } else {
        (det.len() - false_alarms.len()) as f64 / det.len() as f64
    };
    let recall = found as f64 / scored.max(1) as f64;
    println!(
        "\nprecision {precision:.2} ({} of {} detections explained by an injection), recall {recall:.2} \
         ({found} of {scored} scored injections found)",
        det.len() - false_alarms.len(),
        det.len()
    );
    println!(
        "ground truth: 'vqmon-injection' messages; detections: 'vqmon-defect' messages (docs/messages.md)\n\
         report: {}; encoded stream: {}",
        report.display(),
        clip.display()
    );
    let violations = schema_violations(&report)?;
    if !violations.is_empty() {
        return Err(format!(
            "{} breaks docs/vqreport.schema.json: {violations:#?}",
            report.display()
        )
        .into());
    }
    println!("the report is valid against docs/vqreport.schema.json");
    if found != scored || !false_alarms.is_empty() {
        return Err("the demo did not find exactly what was injected".into());
    }
    Ok(())
}

/// What in the report at `path` breaks the published schema.
fn schema_violations(path: &std::path::Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/vqreport.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path)?)?;
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let validator = jsonschema::validator_for(&schema)?;
    Ok(validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect())
}
