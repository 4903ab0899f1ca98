// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

mod common;

use common::avsignal::AvSignal;
use common::*;
use gst::prelude::*;
use gstvqmon::{DefectMessage, EndReason, Phase};

const MS: u64 = 1_000_000;
const FPS: u64 = 25;

/// (start, end) running times of the start/end pairs of `defect` in `msgs`.
fn spans(msgs: &[DefectMessage], defect: &str) -> Vec<(u64, u64)> {
    msgs.iter()
        .filter(|m| m.defect == defect && m.phase == Phase::End)
        .map(|m| (ns(m.start.running_time), ns(m.end.unwrap().running_time)))
        .collect()
}

fn video_pipeline(schedule: &str, frames: u64) -> BusLog {
    init();
    let info = i420_info(320, 240, FPS as i32);
    let p = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{}\" ! vqinject name=inj seed=7 schedule=\"{schedule}\" \
         ! vqfreeze name=vf ! fakesink",
        info.to_caps().unwrap()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    run_to_eos(&p, |p| {
        let src = appsrc(p);
        let scene = Scene::new(320, 240);
        for i in 0..frames {
            let mut b = scene.buffer(&Shot::moving(i), &info);
            stamp(&mut b, i, FPS);
            src.push_buffer(b).unwrap();
        }
        src.end_of_stream().unwrap();
    })
}

#[test]
fn video_injections_are_found_by_vqfreeze() {
    let seen = video_pipeline(
        "freeze@3s+3s; black@9s+3s; drop@14s+3s; stutter@20s+4s; freeze@26s+2500ms:noise=4",
        30 * FPS,
    );
    let frame = SECOND / FPS;
    for (kind, defect) in [("freeze", "freeze"), ("black", "black"), ("drop", "stall")] {
        let truth = spans(&seen.truth, defect);
        let found = spans(&seen.defects, defect);
        assert!(!truth.is_empty(), "{kind}: no ground truth");
        for (ts, te) in &truth {
            let m = found
                .iter()
                .find(|(fs, fe)| fs.abs_diff(*ts) <= frame && fe.abs_diff(*te) <= frame);
            assert!(m.is_some(), "{kind} {ts}..{te} not found in {found:?}");
        }
        // Nothing reported that was not injected.
        assert_eq!(found.len(), truth.len(), "{kind}: {found:?} vs {truth:?}");
    }
    // Exact times of the schedule.
    assert_eq!(spans(&seen.truth, "freeze")[0], (3 * SECOND, 6 * SECOND));
    assert_eq!(spans(&seen.truth, "stall")[0], (14 * SECOND, 17 * SECOND));
    // The freeze under noise is found too, as a noisy or content freeze.
    let noisy = seen
        .defects
        .iter()
        .find(|d| {
            d.defect == "freeze" && d.phase == Phase::End && ns(d.start.running_time) >= 25 * SECOND
        })
        .expect("noisy freeze found");
    assert!(ns(noisy.start.running_time).abs_diff(26 * SECOND) <= frame);
    // Stutter: one episode inside the window.
    let st = spans(&seen.defects, "stutter");
    assert_eq!(st.len(), 1, "{:?}", seen.defects);
    assert!(st[0].0 >= 20 * SECOND && st[0].0 < 24 * SECOND, "{st:?}");
    let truth_st = seen
        .truth
        .iter()
        .find(|d| d.defect == "stutter" && d.phase == Phase::End)
        .unwrap();
    let holds = truth_st
        .evidence
        .as_ref()
        .unwrap()
        .get::<u64>("holds")
        .unwrap();
    assert!(holds >= 3, "{truth_st:?}");
    let runs = seen
        .defects
        .iter()
        .find(|d| d.defect == "stutter" && d.phase == Phase::End)
        .unwrap()
        .evidence
        .as_ref()
        .unwrap()
        .get::<u64>("runs")
        .unwrap();
    assert_eq!(runs, holds, "every injected hitch is one stutter run");
    for t in &seen.truth {
        if t.phase == Phase::End {
            assert_eq!(t.end_reason, Some(EndReason::Recovered));
        }
    }
}

#[test]
fn empty_schedule_changes_no_byte() {
    init();
    for (schedule, caps, bufs) in [
        ("", AvSignal::new(25, 10, |_| 0).video_caps(), {
            let s = AvSignal::new(25, 10, |_| 0);
            (0..10).map(|i| s.video_buffer(i)).collect::<Vec<_>>()
        }),
        // Entries for the other media are ignored.
        (
            "gap@0s+1s; offset@0s+1s:100ms",
            AvSignal::new(25, 10, |_| 0).video_caps(),
            {
                let s = AvSignal::new(25, 10, |_| 0);
                (0..10).map(|i| s.video_buffer(i)).collect::<Vec<_>>()
            },
        ),
        ("black@0s+1s", AvSignal::new(25, 10, |_| 0).audio_caps(), {
            let s = AvSignal::new(25, 10, |_| 0);
            (0..10)
                .map(|i| s.audio_buffer(i * 960, 960))
                .collect::<Vec<_>>()
        }),
    ] {
        let mut h = gst_check::Harness::new("vqinject");
        h.element().unwrap().set_property("schedule", schedule);
        let bus = gst::Bus::new();
        h.element().unwrap().set_bus(Some(&bus));
        h.set_src_caps(caps);
        h.play();
        for b in bufs {
            let ptr = b.as_ptr();
            let bytes = b.map_readable().unwrap().to_vec();
            let pts = b.pts();
            h.push(b).unwrap();
            let out = h.pull().unwrap();
            assert_eq!(out.as_ptr(), ptr, "{schedule}: the buffer was copied");
            assert_eq!(out.map_readable().unwrap().as_slice(), &bytes[..]);
            assert_eq!(out.pts(), pts);
        }
        let mut seen = BusLog::default();
        seen.drain(&bus);
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
        assert!(seen.truth.is_empty(), "{schedule}: {:?}", seen.truth);
    }
}

/// Runs test-signal media; the audio goes through vqinject with `schedule`.
fn audio_pipeline(schedule: &str, secs: u64) -> BusLog {
    init();
    let sig = AvSignal::new(25, 25 * secs, |_| 0);
    // Bounded: the feeder blocks, so neither branch runs more than about a second ahead.
    let q = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000";
    let p = gst::parse::launch(&format!(
        "avsyncmon name=m appsrc name=vsrc format=time ! {q} ! m.video_sink m.video_src ! fakesink sync=false \
         appsrc name=asrc format=time ! {q} ! vqinject name=inj schedule=\"{schedule}\" ! m.audio_sink \
         m.audio_src ! fakesink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    run_to_eos(&p, |p| {
        let get = |n: &str| {
            let a = p.by_name(n).unwrap().downcast::<gst_app::AppSrc>().unwrap();
            a.set_max_bytes(100_000);
            a.set_block(true);
            a
        };
        sig.feed(&get("vsrc"), &get("asrc"));
    })
}

fn test_offsets(seen: &BusLog) -> Vec<(u64, f64)> {
    seen.measurements_from("test-signal")
        .map(|m| {
            (
                ns(m.at.running_time),
                m.values.get::<i64>("offset").unwrap() as f64 / 1e6,
            )
        })
        .collect()
}

#[test]
fn audio_offset_is_measured_by_avsyncmon() {
    // Audio delayed by 200 ms from 1 s to 16 s: the pairs at 3..15 s measure +200 ms, to the
    // sample; afterwards the content jumps back and the offset is 0 again.
    let seen = audio_pipeline("offset@1s+15s:200ms", 25);
    let got = test_offsets(&seen);
    assert_eq!(got.len(), 8, "{got:?}");
    for (t, o) in &got {
        let want = if *t < 16 * SECOND { 200.0 } else { 0.0 };
        assert!((o - want).abs() <= 1.0, "at {t}: {o} (want {want})");
    }
    let truth: Vec<_> = seen
        .truth
        .iter()
        .filter(|d| d.defect == "av-offset")
        .collect();
    assert_eq!(truth.len(), 2);
    assert_eq!(ns(truth[0].start.running_time), SECOND);
    assert_eq!(ns(truth[1].end.unwrap().running_time), 16 * SECOND);
    // 200 ms is late beyond BT.1359's 125 ms: an alarm from the third pair.
    let alarm: Vec<_> = seen
        .defects
        .iter()
        .filter(|d| d.defect == "av-offset")
        .collect();
    assert_eq!(alarm.len(), 2, "{alarm:#?}");
    assert_eq!(ns(alarm[0].start.running_time), 3 * SECOND);
    assert_eq!(ns(alarm[1].end.unwrap().running_time), 18 * SECOND);
}

#[test]
fn audio_gap_and_drift_are_found_by_avsyncmon() {
    let seen = audio_pipeline("gap@5s+300ms; drift@10s+30s:2000ppm", 45);
    let gaps: Vec<_> = seen
        .defects
        .iter()
        .filter(|d| d.defect == "ts-discont")
        .collect();
    assert_eq!(gaps.len(), 1, "{:#?}", seen.defects);
    let ev = gaps[0].evidence.as_ref().unwrap();
    assert_eq!(ev.get::<String>("stream").unwrap(), "audio");
    assert_eq!(ev.get::<i64>("delta").unwrap(), 300 * MS as i64);
    let truth = seen
        .truth
        .iter()
        .find(|d| d.defect == "ts-discont" && d.phase == Phase::End)
        .unwrap();
    // The detector reports the jump at the first buffer after it: the injection's exclusive end.
    assert_eq!(gaps[0].start.running_time, truth.end.unwrap().running_time);
    // 2000 ppm: 40 ms of divergence 20 s into the drift.
    let drift: Vec<_> = seen
        .defects
        .iter()
        .filter(|d| d.defect == "clock-drift" && d.phase == Phase::Start)
        .collect();
    assert_eq!(drift.len(), 1, "{:#?}", seen.defects);
    let t = ns(drift[0].start.running_time) as f64 / 1e9;
    assert!((29.9..30.2).contains(&t), "{t}");
    let ppm = drift[0]
        .evidence
        .as_ref()
        .unwrap()
        .get::<f64>("ppm")
        .unwrap();
    assert!(ppm > 100.0, "{ppm}");
}

fn run_corrupt(schedule: &str, seed: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<DefectMessage>) {
    init();
    let sig = AvSignal::new(25, 20, |_| 0);
    let mut h = gst_check::Harness::new("vqinject");
    h.element().unwrap().set_property("schedule", schedule);
    h.element().unwrap().set_property("seed", seed);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(sig.video_caps());
    h.play();
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let b = sig.video_buffer(i);
        ins.push(b.map_readable().unwrap().to_vec());
        h.push(b).unwrap();
        outs.push(h.pull().unwrap().map_readable().unwrap().to_vec());
    }
    h.push_event(gst::event::Eos::new());
    let mut seen = BusLog::default();
    seen.drain(&bus);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    (ins, outs, seen.truth)
}

#[test]
fn corrupt_and_blocky_change_what_they_say() {
    // 160x120 I420: luma is the first 19200 bytes.
    let (ins, outs, truth) = run_corrupt("corrupt@200ms+200ms:area=0.25", 11);
    let ev = truth[0].evidence.as_ref().unwrap();
    let r = |f: &str| ev.get::<u32>(f).unwrap() as usize;
    let (x, y, w, h) = (r("x"), r("y"), r("width"), r("height"));
    assert_eq!(truth[0].defect, "corruption");
    for (i, (a, b)) in ins.iter().zip(&outs).enumerate() {
        let inside_window = (5..10).contains(&i);
        let mut changed = 0;
        for (k, (p, q)) in a.iter().zip(b).enumerate() {
            if p == q {
                continue;
            }
            assert!(inside_window, "frame {i} changed outside the window");
            assert!(k < 160 * 120, "chroma changed");
            let (px, py) = (k % 160, k / 160);
            assert!(
                px >= x && px < x + w && py >= y && py < y + h,
                "({px},{py}) outside"
            );
            changed += 1;
        }
        if inside_window {
            assert!(
                changed as f64 > 0.3 * (w * h) as f64,
                "frame {i}: {changed}"
            );
        }
    }
    // The same seed damages the same way; another seed does not.
    let (_, again, _) = run_corrupt("corrupt@200ms+200ms:area=0.25", 11);
    assert_eq!(outs, again);
    let (_, other, _) = run_corrupt("corrupt@200ms+200ms:area=0.25", 12);
    assert_ne!(outs, other);
    // Blocky: every frame of the window changed, and only those.
    let (ins, outs, truth) = run_corrupt("blocky@0s+400ms:q=32", 1);
    assert_eq!(truth[0].defect, "blockiness");
    for (i, (a, b)) in ins.iter().zip(&outs).enumerate() {
        assert_eq!(a != b, i < 10, "frame {i}");
    }
}

#[test]
fn signal_and_errors() {
    init();
    // The action signal starts an injection at the next buffer.
    let sig = AvSignal::new(25, 20, |_| 0);
    let mut h = gst_check::Harness::new("vqinject");
    let bus = gst::Bus::new();
    let elem = h.element().unwrap();
    elem.set_bus(Some(&bus));
    h.set_src_caps(sig.video_caps());
    h.play();
    h.push(sig.video_buffer(0)).unwrap();
    h.pull().unwrap();
    assert!(elem.emit_by_name::<bool>("inject", &[&"black+80ms"]));
    assert!(!elem.emit_by_name::<bool>("inject", &[&"melt+1s"]));
    for i in 1..5 {
        h.push(sig.video_buffer(i)).unwrap();
        let out = h.pull().unwrap();
        let luma0 = out.map_readable().unwrap()[0];
        assert_eq!(luma0 == 16, i < 3, "frame {i}");
    }
    let mut seen = BusLog::default();
    seen.drain(&bus);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(spans(&seen.truth, "black"), vec![(40 * MS, 120 * MS)]);
    assert!(
        seen.warnings
            .iter()
            .any(|w| w.contains("unknown kind 'melt'")),
        "{:?}",
        seen.warnings
    );
    assert_eq!(elem.property::<u64>("injections"), 1);
    // A bad schedule or schedule file fails the state change with the reason in the error's
    // main text (what gst-launch prints first), not a generic one.
    let dir = std::env::temp_dir().join(format!("vqinject-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.txt");
    std::fs::write(&big, "# padding\n".repeat(120_000)).unwrap();
    for (props, needle) in [
        ("schedule=\"freeze@1s\"", "kind@start+duration"),
        ("schedule=\"freeze@1+1\"", "'1' needs a unit"),
        ("schedule=\"freeze@1s+1s:noise=300\"", "noise"),
        ("location=/dev/zero", "not a regular file"),
        (
            &format!("location={}", big.display()),
            "larger than 1024 KiB",
        ),
        (
            "location=/nonexistent/schedule.txt",
            "cannot read schedule file",
        ),
    ] {
        let p = gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! vqinject {props} ! fakesink"
        ))
        .unwrap();
        assert!(p.set_state(gst::State::Playing).is_err(), "{props}");
        let err = p
            .bus()
            .unwrap()
            .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
            .unwrap();
        let gst::MessageView::Error(e) = err.view() else {
            unreachable!()
        };
        let text = e.error().to_string();
        assert!(text.contains(needle), "{props}: {text}");
        assert!(!text.contains("supporting library"), "{props}: {text}");
        p.set_state(gst::State::Null).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `secs` of a two-tone stereo programme at -23 LUFS in `format`/`layout`, through vqinject with
/// `schedule` and vqaudio (EBU R128).
fn audio_quality_pipeline(schedule: &str, secs: u64, format: &str, layout: &str) -> BusLog {
    init();
    let p = gst::parse::launch(&format!(
        "audiotestsrc wave=sine freq=997 volume=0.1 num-buffers={n} samplesperbuffer=480 \
         ! audio/x-raw,rate=48000,channels=2 ! audioconvert dithering=none \
         ! audio/x-raw,format={format},layout={layout} \
         ! vqinject seed=3 schedule=\"{schedule}\" ! vqaudio loudness-standard=ebu-r128 \
         loudness-tolerance=3.5 ! fakesink",
        n = secs * 100
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    run_to_eos(&p, |_| ())
}

#[test]
fn audio_quality_injections_are_found_by_vqaudio() {
    // A 997 Hz tone at -20 dBFS in both channels reads -20 LUFS: within EBU R128 +/-3.5 LU here,
    // so only what is injected is reported.
    let schedule = "clip@2s+1s:gain=26dB; mute@5s+4s:channel=1; invert@12s+6s:channel=0; \
                    gain@22s+14s:+8dB; silence@40s+3s";
    for (format, layout) in [("S16LE", "interleaved"), ("F32LE", "non-interleaved")] {
        let log = audio_quality_pipeline(schedule, 46, format, layout);
        let what = format!("{format} {layout}");
        assert!(
            log.errors.is_empty() && log.warnings.is_empty(),
            "{what}: {log:?}"
        );
        assert_eq!(log.truth.len(), 10, "{what}: {:#?}", log.truth);
        for truth in log.truth.iter().filter(|t| t.phase == Phase::End) {
            let (a, b) = (
                ns(truth.start.running_time),
                ns(truth.end.unwrap().running_time),
            );
            let found = spans(&log.defects, &truth.defect);
            let tol = match truth.defect.as_str() {
                // The last clipped run ends within half a period of the end of the window.
                "clipping" => MS,
                // Placed to the 100 ms correlation block.
                "phase" => 100 * MS,
                // Short-term loudness (3 s) leaves the window after the step and comes back 3 s
                // after it: start within a step of the window, end within the window.
                "loudness" => 3_100 * MS,
                // Silence starts at the first silent sample: the waveform may pass under the
                // threshold a sample or two before the window, at a zero crossing.
                _ => MS,
            };
            assert!(
                found
                    .iter()
                    .any(|(s, e)| s.abs_diff(a) <= tol && e.abs_diff(b) <= tol),
                "{what}: {} [{a}, {b}) not found in {found:?}: {}",
                truth.defect,
                summary(&log.defects)
            );
        }
        // Nothing else: one defect per injection, and the clipped stretch is over the true-peak
        // limit too (the gain step also fails the integrated verdict, a point).
        let starts: Vec<&str> = log
            .defects
            .iter()
            .filter(|m| m.phase == Phase::Start)
            .map(|m| m.defect.as_str())
            .collect();
        assert_eq!(
            starts,
            [
                "clipping",
                "true-peak",
                "channel-loss",
                "phase",
                "loudness",
                "silence"
            ],
            "{what}: {}",
            summary(&log.defects)
        );
        let tp = spans(&log.defects, "true-peak");
        assert_eq!(tp.len(), 1);
        assert!(tp[0].0.abs_diff(2_000 * MS) <= 10 * MS && tp[0].1.abs_diff(3_000 * MS) <= 10 * MS);
    }
}
