// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

mod common;

use common::*;
use gst::glib;
use gst::prelude::*;
use gstvqmon::{DefectMessage, EndReason, Phase};

const FPS: u64 = 30;
const W: u32 = 320;
const H: u32 = 240;

/// Frames `0..total`, moving except for the freezes `(first frame, frames)`, each showing the
/// picture of its first frame.
fn schedule(total: u64, freezes: &[(u64, u64)]) -> Vec<Shot> {
    (0..total)
        .map(|i| {
            let content = freezes
                .iter()
                .find(|(s, n)| i >= *s && i < s + n)
                .map_or(i, |(s, _)| *s);
            Shot {
                content,
                ..Shot::moving(i)
            }
        })
        .collect()
}

fn buffers(scene: &Scene, info: &gst_video::VideoInfo, shots: &[Shot]) -> Vec<gst::Buffer> {
    shots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut b = scene.buffer(s, info);
            stamp(&mut b, i as u64, FPS);
            b
        })
        .collect()
}

fn v<T: ToValue>(x: T) -> glib::Value {
    x.to_value()
}

/// The freezes of the standard schedule: 0.5, 1, 2, 5 and 10 s, 3 s of motion between them.
fn standard_freezes() -> Vec<(u64, u64)> {
    let mut at = 2 * FPS;
    [FPS / 2, FPS, 2 * FPS, 5 * FPS, 10 * FPS]
        .iter()
        .map(|&n| {
            let f = (at, n);
            at += n + 3 * FPS;
            f
        })
        .collect()
}

/// Each found freeze starts and ends within one frame of the injected one. Running times are
/// compared: x264enc offsets PTS by 1000 hours (and the segment with them).
fn assert_within_a_frame(found: &[(&DefectMessage, &DefectMessage)], expected: &[(u64, u64)]) {
    let frame = t(1, FPS) as i64;
    for ((s, e), (first, n)) in found.iter().zip(expected) {
        let ds = ns(s.start.running_time) as i64 - t(*first, FPS) as i64;
        let de = ns(e.end.unwrap().running_time) as i64 - t(first + n, FPS) as i64;
        assert!(
            ds.abs() <= frame,
            "start off by {ds} ns for the freeze at frame {first}"
        );
        assert!(
            de.abs() <= frame,
            "end off by {de} ns for the freeze at frame {first}"
        );
    }
}

fn assert_freezes_exact(msgs: &[DefectMessage], expected: &[(u64, u64)]) {
    let found = intervals(msgs, "freeze");
    assert_eq!(
        found.len(),
        expected.len(),
        "freezes found: {:#?}",
        found
            .iter()
            .map(|(s, e)| (s.start.pts, e.end.unwrap().pts))
            .collect::<Vec<_>>()
    );
    for ((s, e), (first, n)) in found.iter().zip(expected) {
        let (start, end) = (t(*first, FPS), t(first + n, FPS));
        assert_eq!(
            ns(s.start.pts),
            start,
            "start of the freeze at frame {first}"
        );
        assert_eq!(ns(s.start.running_time), start);
        assert_eq!(ns(s.start.stream_time), start);
        assert_eq!(
            ns(e.end.unwrap().pts),
            end,
            "end of the freeze at frame {first}"
        );
        assert_eq!(ns(e.duration), end - start);
        assert_eq!(e.end_reason, Some(EndReason::Recovered));
        assert_eq!(e.start, s.start, "start and end share the start times");
        assert!(s.detected_running_time.unwrap() >= s.start.running_time.unwrap());
    }
}

#[test]
fn freezes_of_every_length_are_timed_exactly() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let freezes = standard_freezes();
    let total = freezes.last().map(|(s, n)| s + n).unwrap() + 2 * FPS;
    let bufs = buffers(&scene, &info, &schedule(total, &freezes));
    let (msgs, out) = run_harness(&[("min-duration", v(SECOND * 4 / 10))], &info, bufs.clone());
    assert_eq!(out.len(), bufs.len(), "every buffer passes");
    assert_freezes_exact(&msgs, &freezes);
    for (s, e) in intervals(&msgs, "freeze") {
        assert_eq!(evidence_str(s, "kind"), "exact");
        assert!(s.element.starts_with("vqfreeze"), "{}", s.element);
        let frames = evidence_u64(e, "frames");
        let expected = freezes
            .iter()
            .find(|(f, _)| t(*f, FPS) == ns(s.start.pts))
            .unwrap()
            .1;
        assert_eq!(frames, expected);
        // Confirmed once the picture was shown for min-duration (0.4 s = 12 frames).
        assert_eq!(
            ns(s.detected_running_time),
            ns(s.start.running_time) + t(11, FPS),
            "detection latency"
        );
    }
    // Nothing else on moving content.
    assert!(msgs.iter().all(|m| m.defect == "freeze"), "{msgs:#?}");

    // At the defaults every one is a freeze: minor below alarm-duration (2 s), major from
    // there on, with an update when it becomes major.
    let (msgs, _) = run_harness(&[], &info, bufs.clone());
    assert_freezes_exact(&msgs, &freezes);
    for ((s, e), (_, n)) in intervals(&msgs, "freeze").iter().zip(&freezes) {
        assert_eq!(evidence_str(s, "severity"), "minor");
        let major = *n >= 2 * FPS;
        assert_eq!(
            evidence_str(e, "severity"),
            if major { "major" } else { "minor" }
        );
        let ups: Vec<_> = msgs
            .iter()
            .filter(|m| m.phase == Phase::Update && m.id == s.id)
            .collect();
        if major {
            assert_eq!(evidence_str(ups[0], "severity"), "major");
            assert_eq!(ns(ups[0].duration), 2 * SECOND, "major at alarm-duration");
        } else {
            assert!(ups.is_empty(), "{ups:#?}");
        }
    }
    // Heartbeats: every 10 s of an open freeze (only the 10 s one lasts that long).
    let beats: Vec<_> = msgs
        .iter()
        .filter(|m| m.phase == Phase::Update && ns(m.duration) == 10 * SECOND)
        .collect();
    assert_eq!(beats.len(), 1, "{beats:#?}");

    // With min-duration 2 s (FFmpeg freezedetect's default) only the 2, 5 and 10 s ones.
    let (msgs, _) = run_harness(&[("min-duration", v(2 * SECOND))], &info, bufs);
    assert_freezes_exact(&msgs, &freezes[2..]);
}

/// Freezes a viewer sees, 0.4 to 1 s, are found at the defaults, to the frame, as minor.
#[test]
fn short_freezes_are_found_at_the_defaults() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    // 0.4, 0.6 and 1 s.
    let freezes = [(2 * FPS, 10), (4 * FPS, 15), (6 * FPS, 25)];
    let bufs = buffers(&scene, &info, &schedule(9 * FPS, &freezes));
    let (msgs, _) = run_harness(&[], &info, bufs);
    assert_freezes_exact(&msgs, &freezes);
    for (s, e) in intervals(&msgs, "freeze") {
        assert_eq!(evidence_str(s, "severity"), "minor");
        assert_eq!(evidence_str(e, "severity"), "minor");
        // Confirmed once shown for min-duration (0.3 s = 9 frames).
        assert_eq!(
            ns(s.detected_running_time),
            ns(s.start.running_time) + t(8, FPS)
        );
    }
    assert_eq!(msgs.len(), 6, "{}", summary(&msgs));
    // A hold of 8 frames (0.27 s) is below min-duration: no freeze (and a stutter hitch).
    let bufs = buffers(&scene, &info, &schedule(4 * FPS, &[(2 * FPS, 8)]));
    let (msgs, _) = run_harness(&[], &info, bufs);
    assert!(intervals(&msgs, "freeze").is_empty(), "{}", summary(&msgs));
}

/// The standard freezes in 2 s of motion after the last, with fresh grain (sigma 3) on every frame.
fn grainy_standard_freezes() -> (Vec<(u64, u64)>, Vec<Shot>) {
    let freezes = standard_freezes();
    let total = freezes.last().map(|(s, n)| s + n).unwrap() + 2 * FPS;
    let shots = schedule(total, &freezes)
        .into_iter()
        .map(|s| Shot { grain: 3.0, ..s })
        .collect();
    (freezes, shots)
}

#[test]
fn freezes_under_fresh_grain_are_found() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let (freezes, shots) = grainy_standard_freezes();
    let bufs = buffers(&scene, &info, &shots);
    // At the defaults: every freeze to the frame, the 10 s one in one piece.
    let (msgs, _) = run_harness(&[], &info, bufs.clone());
    assert_freezes_exact(&msgs, &freezes);
    for (s, _) in intervals(&msgs, "freeze") {
        assert_eq!(evidence_str(s, "kind"), "noisy");
    }
    // Without grain tolerance the changing grain keeps the picture "alive".
    let (msgs, _) = run_harness(&[("grain-tolerant", v(false))], &info, bufs);
    assert!(intervals(&msgs, "freeze").is_empty(), "{msgs:#?}");
}

/// Fresh grain (sigma 3) on every frame, then x264 as a monitor would receive it: the encoder
/// refreshes the grainy frozen picture at every I-frame and keeps re-coding grain in between.
/// Each freeze ends on its true last frame and the 10 s one is not split.
#[test]
fn freezes_under_grain_through_an_encoder_end_on_their_last_frame() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let (freezes, shots) = grainy_standard_freezes();
    let (msgs, errors) = run_appsrc_pipeline(
        "x264enc threads=1 bitrate=1500 key-int-max=50 speed-preset=veryfast ! h264parse ! \
         avdec_h264 ! vqfreeze ! fakesink",
        &info,
        buffers(&scene, &info, &shots),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let found = intervals(&msgs, "freeze");
    assert_eq!(found.len(), freezes.len(), "{}", summary(&msgs));
    assert_within_a_frame(&found, &freezes);
    for ((_, e), (first, n)) in found.iter().zip(&freezes) {
        assert_eq!(
            ns(e.end.unwrap().running_time),
            t(first + n, FPS),
            "the freeze at frame {first} ends on its last frame: {}",
            summary(&msgs)
        );
    }
}

/// The standard freezes through `encoder ! h264parse ! avdec_h264 ! vqfreeze`: every freeze is
/// found, within a frame of where it was injected. Returns the messages.
fn through_encoder(encoder: &str) -> Vec<DefectMessage> {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let freezes = standard_freezes();
    let total = freezes.last().map(|(s, n)| s + n).unwrap() + 2 * FPS;
    let bufs = buffers(&scene, &info, &schedule(total, &freezes));
    let (msgs, errors) = run_appsrc_pipeline(
        &format!("{encoder} ! h264parse ! avdec_h264 ! vqfreeze min-duration=400000000 ! fakesink"),
        &info,
        bufs,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let found = intervals(&msgs, "freeze");
    assert_eq!(found.len(), freezes.len(), "{}", summary(&msgs));
    assert_within_a_frame(&found, &freezes);
    msgs
}

#[test]
fn freezes_survive_a_lossy_reencode() {
    // Short GOPs: every 0.5 s an I-frame refreshes the frozen picture with small changes.
    let msgs = through_encoder(
        "x264enc threads=1 bitrate=600 key-int-max=15 speed-preset=ultrafast tune=zerolatency",
    );
    assert!(
        msgs.iter().all(|m| m.utc.is_none()),
        "no UTC outside live pipelines"
    );
    let refreshes: u64 = intervals(&msgs, "freeze")
        .iter()
        .map(|(_, e)| evidence_u64(e, "refreshes"))
        .sum();
    // The I-frames inside the freezes refreshed the picture: the tolerance was exercised.
    assert!(refreshes >= 3, "refreshes tolerated: {refreshes}");
}

/// Default x264 settings (B-frames, lookahead, mb-tree) at a starved bitrate keep refining a still
/// picture after a cut and at every I-frame.
#[test]
fn freezes_survive_an_encoder_that_refines_still_pictures() {
    let msgs = through_encoder("x264enc threads=1 bitrate=300");
    for (_, e) in intervals(&msgs, "freeze") {
        // No grain here: the changes the encoder makes are "content", never "noisy".
        let kind = evidence_str(e, "kind");
        assert!(kind == "content" || kind == "exact", "{kind}");
    }
}

#[test]
fn black_is_its_own_defect() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    // Motion, 3 s black, motion, a 0.5 s black hold (a fade through black), motion, 0.2 s
    // black (too short), motion.
    let holds = [(FPS, 3 * FPS), (6 * FPS, FPS / 2), (8 * FPS, FPS / 5)];
    let shots: Vec<Shot> = (0..10 * FPS)
        .map(|i| Shot {
            black: holds.iter().any(|(s, n)| (*s..s + n).contains(&i)),
            ..Shot::moving(i)
        })
        .collect();
    let (msgs, _) = run_harness(&[], &info, buffers(&scene, &info, &shots));
    let blacks = intervals(&msgs, "black");
    assert_eq!(blacks.len(), 2, "{msgs:#?}");
    for ((s, e), (first, n)) in blacks.iter().zip(holds) {
        assert_eq!(ns(s.start.pts), t(first, FPS));
        assert_eq!(ns(e.end.unwrap().pts), t(first + n, FPS));
        assert_eq!(ns(e.duration), t(n, FPS));
        assert_eq!(evidence_u64(e, "frames"), n);
        // Confirmed when 0.3 s (black-min-duration) of black had been shown.
        assert_eq!(ns(s.detected_running_time), t(first, FPS) + t(8, FPS));
        assert_eq!(evidence_str(s, "severity"), "minor");
        let major = n >= 2 * FPS;
        assert_eq!(
            evidence_str(e, "severity"),
            if major { "major" } else { "minor" }
        );
    }
    assert!(
        intervals(&msgs, "freeze").is_empty(),
        "black is not a freeze: {msgs:#?}"
    );

    // The black threshold follows FFmpeg: luma 37 is black in limited range, 38 is not.
    let grey = |y: u8| {
        let mut b = gst::Buffer::with_size(info.size()).unwrap();
        {
            let bm = b.get_mut().unwrap();
            let mut f = gst_video::VideoFrameRef::from_buffer_ref_writable(bm, &info).unwrap();
            f.plane_data_mut(0).unwrap().fill(y);
            f.plane_data_mut(1).unwrap().fill(128);
            f.plane_data_mut(2).unwrap().fill(128);
        }
        b
    };
    for (y, expect) in [(37u8, 1usize), (38, 0)] {
        let bufs: Vec<_> = (0..3 * FPS)
            .map(|i| {
                let mut b = grey(y);
                stamp(&mut b, i, FPS);
                b
            })
            .collect();
        let (msgs, _) = run_harness(&[], &info, bufs);
        assert_eq!(intervals(&msgs, "black").len(), expect, "luma {y}");
    }
}

#[test]
fn stalls_from_timestamp_gaps() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    // Frames 0..60, then nothing for 3 s, then 60 more frames; then a 1 s gap (not a stall).
    let idx: Vec<u64> = (0..60).chain(150..210).chain(240..300).collect();
    let bufs: Vec<_> = idx
        .iter()
        .map(|&i| {
            let mut b = scene.buffer(&Shot::moving(i), &info);
            stamp(&mut b, i, FPS);
            b
        })
        .collect();
    let (msgs, out) = run_harness(&[], &info, bufs);
    assert_eq!(out.len(), idx.len());
    let stalls = intervals(&msgs, "stall");
    assert_eq!(stalls.len(), 1, "{msgs:#?}");
    let (s, e) = stalls[0];
    assert_eq!(
        ns(s.start.pts),
        t(60, FPS),
        "stall starts where frame 60 was due"
    );
    assert_eq!(ns(e.end.unwrap().pts), t(150, FPS));
    assert_eq!(ns(e.duration), 3 * SECOND);
    assert_eq!(evidence_str(s, "source"), "timestamp-gap");
    assert_eq!(evidence_u64(s, "missing-frames"), 90);
    assert_eq!(ns(s.detected_running_time), t(150, FPS));
    assert_eq!(msgs.len(), 2, "nothing else: {msgs:#?}");
}

#[test]
fn live_watchdog_reports_a_stall_while_it_happens() {
    init();
    let pipeline = gst::parse::launch(
        "appsrc name=src is-live=true format=time do-timestamp=true \
         caps=video/x-raw,format=I420,width=64,height=48,framerate=25/1 ! \
         vqfreeze stall-timeout=300000000 ! fakesink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = appsrc(&pipeline);
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let info = i420_info(64, 48, 25);
    let scene = Scene::new(64, 48);
    let push = |i: u64| {
        let mut b = scene.buffer(&Shot::moving(i), &info);
        b.get_mut()
            .unwrap()
            .set_duration(gst::ClockTime::from_mseconds(40));
        src.push_buffer(b).unwrap();
    };
    for i in 0..10 {
        push(i);
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    // Now nothing arrives: the watchdog must speak before the next frame does.
    let start = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(5),
            &[gst::MessageType::Element],
        )
        .and_then(|m| DefectMessage::from_message(&m))
        .expect("stall start while no frame arrives")
        .unwrap();
    assert_eq!(start.defect, "stall");
    assert_eq!(start.phase, Phase::Start);
    assert_eq!(evidence_str(&start, "source"), "watchdog");
    assert!(start.utc.is_some(), "live pipelines carry UTC");
    let latency = ns(start.detected_running_time) - ns(start.start.running_time);
    assert!(
        latency >= 300_000_000,
        "detected {latency} ns after the last frame"
    );
    push(10);
    let end = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(5),
            &[gst::MessageType::Element],
        )
        .and_then(|m| DefectMessage::from_message(&m))
        .expect("stall end when a frame arrives")
        .unwrap();
    assert_eq!(
        (end.defect.as_str(), end.phase, end.id),
        ("stall", Phase::End, start.id)
    );
    assert_eq!(end.end_reason, Some(EndReason::Recovered));
    assert!(ns(end.duration) >= 300_000_000);
    // Exactly one stall: the timestamp gap of the same stall is not reported again.
    src.end_of_stream().unwrap();
    let mut more = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(5)) {
        if let gst::MessageView::Eos(_) = msg.view() {
            break;
        }
        if let Some(d) = DefectMessage::from_message(&msg) {
            more.push(d.unwrap());
        }
    }
    assert!(more.iter().all(|m| m.defect != "stall"), "{more:#?}");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Pictures shown for `hold(k)` frames each (`k` counts pictures), for `total` frames.
fn cadence(total: u64, hold: impl Fn(u64) -> u64) -> Vec<Shot> {
    let mut shots = Vec::new();
    let mut k = 0;
    while (shots.len() as u64) < total {
        for _ in 0..hold(k) {
            let i = shots.len() as u64;
            shots.push(Shot {
                content: k,
                ..Shot::moving(i)
            });
        }
        k += 1;
    }
    shots.truncate(total as usize);
    shots
}

/// Hitches: pictures held 6 frames (0.2 s at 30 fps) at irregular places in 10 s of motion.
fn hitches() -> (Vec<Shot>, Vec<u64>) {
    let at = [70u64, 95, 131, 160, 230];
    let shots = cadence(10 * FPS, |k| if at.contains(&k) { 6 } else { 1 });
    // Frame of the first repeat of each hitch.
    let firsts = at
        .iter()
        .enumerate()
        .map(|(j, &k)| k + 5 * j as u64 + 1)
        .collect();
    (shots, firsts)
}

#[test]
fn stutter_is_a_hitch_and_single_duplicates_are_not() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let (shots, firsts) = hitches();
    let (msgs, _) = run_harness(&[], &info, buffers(&scene, &info, &shots));
    let st = intervals(&msgs, "stutter");
    // The hitches are less than 2 s apart, except the last: two episodes.
    assert_eq!(st.len(), 2, "{}", summary(&msgs));
    let (s, e) = st[0];
    assert_eq!(
        ns(s.start.pts),
        t(firsts[0], FPS),
        "starts at the first repeat"
    );
    assert_eq!(
        ns(e.end.unwrap().pts),
        t(firsts[3] + 5, FPS),
        "ends after the last repeat of its last hitch"
    );
    assert_eq!(evidence_u64(e, "runs"), 4);
    assert_eq!(evidence_u64(e, "longest-run-frames"), 6);
    assert_eq!(evidence_u64(e, "cadence-frames"), 1);
    assert_eq!(evidence_u64(e, "repeated-frames"), 4 * 5);
    assert_eq!(evidence_u64(st[1].1, "runs"), 1);
    assert!(intervals(&msgs, "freeze").is_empty());

    // Natural single duplicates (and one triple) at irregular places: counted, no episode.
    let dups = [70u64, 95, 131, 140, 200];
    let shots = cadence(10 * FPS, |k| match k {
        250 => 3,
        k if dups.contains(&k) => 2,
        _ => 1,
    });
    let (mut h, bus) = harness_on_bus("vqfreeze", &[], &info);
    for b in buffers(&scene, &info, &shots) {
        h.push(b).unwrap();
    }
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert!(h.push_event(gst::event::Eos::new()));
    let msgs = drain_defects(&bus);
    assert!(msgs.is_empty(), "{}", summary(&msgs));
    assert_eq!(stats.get::<u64>("stutter-runs").unwrap(), 0);
    assert!(stats.get::<u64>("duplicate-holds").unwrap() >= 1, "{stats}");
}

/// Frame-rate conversion by repetition is a cadence, periodic or not; a hitch inside it is
/// stutter.
#[test]
fn cadences_are_not_stutter_but_a_hitch_inside_them_is() {
    type Hold = fn(u64) -> u64;
    // (name, fps, frames a picture is shown)
    let cases: [(&str, u64, Hold); 5] = [
        ("2:3 pulldown, 24 to 30 fps", 30, |k| {
            1 + u64::from(k % 4 == 3)
        }),
        ("2:3, 10 to 25 fps", 25, |k| 2 + k % 2),
        ("2:2:3", 25, |k| 2 + u64::from(k % 3 == 2)),
        ("24 to 25 fps", 25, |k| 1 + u64::from(k % 24 == 23)),
        ("8 to 25 fps", 25, |k| 3 + u64::from(k % 8 == 7)),
    ];
    for (name, fps, hold) in cases {
        let info = i420_info(W, H, fps as i32);
        let scene = Scene::new(W as usize, H as usize);
        let stamped = |shots: &[Shot]| -> Vec<gst::Buffer> {
            shots
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut b = scene.buffer(s, &info);
                    stamp(&mut b, i as u64, fps);
                    b
                })
                .collect()
        };
        let total = 12 * fps;
        let (msgs, _) = run_harness(&[], &info, stamped(&cadence(total, hold)));
        assert!(msgs.is_empty(), "{name}: {}", summary(&msgs));

        // One picture held 0.12 s longer than the cadence ever holds one, after 6 s.
        let longest = (0..total).map(hold).max().unwrap();
        let extra = (fps * 12).div_ceil(100);
        let k0 = (0..)
            .find(|&k| (0..k).map(hold).sum::<u64>() >= 6 * fps)
            .unwrap();
        let shots = cadence(total, |k| if k == k0 { longest + extra } else { hold(k) });
        let (msgs, _) = run_harness(&[], &info, stamped(&shots));
        let st = intervals(&msgs, "stutter");
        assert_eq!(st.len(), 1, "{name}: {}", summary(&msgs));
        let first: u64 = (0..k0).map(hold).sum();
        assert_eq!(ns(st[0].0.start.pts), t(first + 1, fps), "{name}");
        assert_eq!(
            ns(st[0].1.end.unwrap().pts),
            t(first + longest + extra, fps),
            "{name}"
        );
        assert_eq!(evidence_u64(st[0].1, "runs"), 1, "{name}");
        assert!(intervals(&msgs, "freeze").is_empty(), "{name}");
    }
}

/// A frozen picture that is mostly black but shows something (a logo, credits) is black and a
/// freeze; a moving logo on black is black only.
#[test]
fn a_frozen_logo_on_black_is_a_freeze() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    // 2 s motion, 1 s a wandering logo on black, 1.5 s that logo frozen, 1 s wandering, motion.
    let frozen = (3 * FPS, 3 * FPS / 2);
    let shots: Vec<Shot> = (0..8 * FPS)
        .map(|i| {
            let on_black = (2 * FPS..11 * FPS / 2).contains(&i);
            Shot {
                black: on_black,
                logo: on_black,
                content: if (frozen.0..frozen.0 + frozen.1).contains(&i) {
                    frozen.0
                } else {
                    i
                },
                ..Shot::moving(i)
            }
        })
        .collect();
    let (msgs, _) = run_harness(&[], &info, buffers(&scene, &info, &shots));
    let blacks = intervals(&msgs, "black");
    assert_eq!(blacks.len(), 1, "{}", summary(&msgs));
    assert_eq!(ns(blacks[0].0.start.pts), t(2 * FPS, FPS));
    assert_eq!(ns(blacks[0].1.end.unwrap().pts), t(11 * FPS / 2, FPS));
    assert_freezes_exact(&msgs, &[frozen]);
    let (_, e) = intervals(&msgs, "freeze")[0];
    assert_eq!(evidence_u64(e, "black-frames"), frozen.1);
}

#[test]
fn no_defects_on_motion_pans_fades_and_quiet_views() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let n = 12 * FPS;
    type ShotFn = Box<dyn Fn(u64) -> Shot>;
    let cases: Vec<(&str, ShotFn)> = vec![
        ("moving", Box::new(Shot::moving)),
        (
            "slow pan of one pixel per frame",
            Box::new(|i| Shot {
                pan: 1.0,
                objects: 0,
                ..Shot::moving(i)
            }),
        ),
        (
            "slow pan under grain",
            Box::new(|i| Shot {
                pan: 1.0,
                objects: 0,
                grain: 2.0,
                ..Shot::moving(i)
            }),
        ),
        (
            // A still picture fading to grey: every frame differs from the last by less than
            // any threshold, the change adds up. (Where a fade turns back, the picture really
            // is still for a moment.)
            "slow fade of a still picture to grey over 12 s",
            Box::new(move |i| Shot {
                content: 0,
                objects: 0,
                fade: 1.0 - 0.9 * i as f64 / n as f64,
                ..Shot::moving(0)
            }),
        ),
        (
            "quiet camera view with small distant motion and sensor noise",
            Box::new(|i| Shot {
                quiet: true,
                grain: 2.0,
                ..Shot::moving(i)
            }),
        ),
    ];
    for (name, f) in cases {
        let shots: Vec<Shot> = (0..n).map(&f).collect();
        let (msgs, _) = run_harness(&[], &info, buffers(&scene, &info, &shots));
        assert!(msgs.is_empty(), "{name}: {msgs:#?}");
    }
}

/// A 16x16 picture is one block: its own difference cannot also be the grain floor.
#[test]
fn a_tiny_moving_picture_is_not_a_freeze() {
    let info = i420_info(16, 16, FPS as i32);
    let scene = Scene::new(16, 16);
    let shots: Vec<Shot> = (0..5 * FPS)
        .map(|i| Shot {
            pan: 1.0,
            objects: 0,
            ..Shot::moving(i)
        })
        .collect();
    let (msgs, _) = run_harness(&[], &info, buffers(&scene, &info, &shots));
    assert!(msgs.is_empty(), "{msgs:#?}");
}

/// A `regions` value that cannot be honoured fails where a gst-launch user looks, with the
/// reason; nothing else is analysed instead.
#[test]
fn regions_that_cannot_be_honoured_are_an_error() {
    let src = "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240";
    // Malformed: refused when set (before the element has a bus), reported at the state change.
    assert_fails_with(
        &format!("{src} ! vqfreeze regions=include:10,10 ! fakesink"),
        "Invalid regions 'include:10,10'",
    );
    // Well formed, but outside the picture: no block left to analyse.
    assert_fails_with(
        &format!("{src} ! vqfreeze regions=include:400,300,50,50 ! fakesink"),
        "leave no 16x16 block of the 320x240 picture",
    );
    // Everything excluded.
    assert_fails_with(
        &format!("{src} ! vqfreeze regions=exclude:0,0,100%,100% ! fakesink"),
        "leave no 16x16 block",
    );
    // A valid set of regions runs.
    assert_eq!(
        first_error(&format!(
            "{src} ! vqfreeze regions=include:0,0,50%,50% ! fakesink"
        )),
        None
    );
}

#[test]
fn regions_keep_a_ticker_from_hiding_a_freeze() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let freeze = (FPS, 4 * FPS);
    let shots: Vec<Shot> = schedule(6 * FPS, &[freeze])
        .into_iter()
        .enumerate()
        .map(|(i, s)| Shot {
            ticker: true,
            grain_seed: i as u64,
            ..s
        })
        .collect();
    let bufs = buffers(&scene, &info, &shots);
    let (msgs, _) = run_harness(&[], &info, bufs.clone());
    assert!(
        intervals(&msgs, "freeze").is_empty(),
        "the ticker moves: {msgs:#?}"
    );
    for regions in ["exclude:75%,0,25%,10%", "include:0,30,320,210"] {
        let (msgs, _) = run_harness(&[("regions", v(regions))], &info, bufs.clone());
        assert_freezes_exact(&msgs, &[freeze]);
    }
}

#[test]
fn flags_kinds_and_timestamp_less_buffers() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let freeze = (FPS, 3 * FPS);
    let shots = schedule(5 * FPS, &[freeze]);
    // Duplicates marked GAP upstream (as videorate does): kind "flagged"... unless bit-identical
    // already says "exact"; make the duplicates differ by one code value in one pixel.
    let bufs: Vec<_> = buffers(&scene, &info, &shots)
        .into_iter()
        .enumerate()
        .map(|(i, mut b)| {
            let i = i as u64;
            if i > freeze.0 && i < freeze.0 + freeze.1 {
                let bm = b.get_mut().unwrap();
                bm.set_flags(gst::BufferFlags::GAP);
                let mut m = bm.map_writable().unwrap();
                m[0] = m[0].wrapping_add(1);
            }
            b
        })
        .collect();
    let (msgs, _) = run_harness(&[], &info, bufs.clone());
    let f = intervals(&msgs, "freeze");
    assert_eq!(f.len(), 1);
    assert_eq!(evidence_str(f[0].1, "kind"), "flagged");
    assert_eq!(evidence_u64(f[0].1, "flagged-frames"), freeze.1 - 1);

    // The same stream without any PTS: times are rebuilt from durations, from 0.
    let bufs: Vec<_> = bufs
        .into_iter()
        .map(|mut b| {
            b.get_mut().unwrap().set_pts(gst::ClockTime::NONE);
            b
        })
        .collect();
    init();
    let mut h = gst_check::Harness::new("vqfreeze");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(info.to_caps().unwrap());
    for b in bufs {
        h.push(b).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut warnings = 0;
    let mut defects = Vec::new();
    while let Some(m) = bus.pop() {
        if let gst::MessageView::Warning(_) = m.view() {
            warnings += 1;
        }
        if let Some(d) = DefectMessage::from_message(&m) {
            defects.push(d.unwrap());
        }
    }
    assert_eq!(warnings, 1, "one warning about missing timestamps");
    let f = intervals(&defects, "freeze");
    assert_eq!(f.len(), 1, "{defects:#?}");
    // The first buffer has no PTS to start from: the timeline starts at 0 and follows durations,
    // so the running time is exact while the PTS is unknown... until the first PTS is known.
    assert_eq!(f[0].0.start.pts, None);
    assert_eq!(ns(f[0].1.duration), 3 * SECOND);
}

#[test]
fn variable_frame_rate_without_durations() {
    init();
    // framerate=0/1 and no buffer durations: frames 40 ms apart, then 20 ms apart.
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, W, H)
        .fps(gst::Fraction::new(0, 1))
        .build()
        .unwrap();
    let scene = Scene::new(W as usize, H as usize);
    let mut pts = 0u64;
    let mut expected = (0, 0);
    let bufs: Vec<_> = (0..200u64)
        .map(|i| {
            let step = if i < 100 { 40_000_000 } else { 20_000_000 };
            // Frames 50..=99 show the picture of frame 50: 2.0 s at 40 ms.
            let content = if (50..100).contains(&i) { 50 } else { i };
            let mut b = scene.buffer(
                &Shot {
                    content,
                    ..Shot::moving(i)
                },
                &info,
            );
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_nseconds(pts));
            if i == 50 {
                expected.0 = pts;
            }
            if i == 100 {
                expected.1 = pts;
            }
            pts += step;
            b
        })
        .collect();
    let (msgs, _) = run_harness(&[("min-duration", v(SECOND))], &info, bufs);
    let f = intervals(&msgs, "freeze");
    assert_eq!(f.len(), 1, "{}", summary(&msgs));
    assert_eq!(ns(f[0].0.start.pts), expected.0);
    assert_eq!(ns(f[0].1.end.unwrap().pts), expected.1);
    assert_eq!(ns(f[0].1.duration), 2 * SECOND);
    // Confirmed when 1 s had been shown: 25 frames of 40 ms, the last one's duration estimated.
    assert_eq!(
        ns(f[0].0.detected_running_time),
        expected.0 + 24 * 40_000_000
    );
}

#[test]
fn flush_segment_caps_and_eos_close_open_defects() {
    init();
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let frozen = scene.buffer(&Shot::moving(0), &info);
    let mut h = gst_check::Harness::new("vqfreeze");
    h.element()
        .unwrap()
        .set_property("min-duration", SECOND / 2);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(info.to_caps().unwrap());
    let push_frozen = |h: &mut gst_check::Harness, range: std::ops::Range<u64>| {
        for i in range {
            let mut b = frozen.copy();
            stamp(&mut b, i, FPS);
            h.push(b).unwrap();
        }
    };
    // 1 s frozen, then a flush.
    push_frozen(&mut h, 0..FPS);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let msgs = drain_defects(&bus);
    let f = intervals(&msgs, "freeze");
    assert_eq!(f.len(), 1, "{msgs:#?}");
    assert_eq!(f[0].1.end_reason, Some(EndReason::Flush));
    assert_eq!(
        ns(f[0].1.end.unwrap().pts),
        t(FPS, FPS),
        "ends after the last frame seen"
    );
    assert_eq!(ns(f[0].1.duration), SECOND);

    // After the flush the history is gone: the same picture is not still "continued".
    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
    seg.set_start(gst::ClockTime::ZERO);
    assert!(h.push_event(gst::event::Segment::new(&seg)));
    push_frozen(&mut h, 0..FPS / 4);
    assert!(
        drain_defects(&bus).is_empty(),
        "0.25 s after a flush is no freeze"
    );
    push_frozen(&mut h, FPS / 4..FPS);
    let msgs = drain_defects(&bus);
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        ns(msgs[0].start.pts),
        0,
        "a fresh freeze, from the first frame after the flush"
    );

    // A new segment closes it.
    seg.set_base(gst::ClockTime::from_seconds(10));
    assert!(h.push_event(gst::event::Segment::new(&seg)));
    let msgs = drain_defects(&bus);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].end_reason, Some(EndReason::Segment));

    // A caps change closes it.
    push_frozen(&mut h, 0..FPS);
    let info2 = i420_info(W / 2, H / 2, FPS as i32);
    h.set_src_caps(info2.to_caps().unwrap());
    let msgs = drain_defects(&bus);
    let ends: Vec<_> = msgs.iter().filter(|m| m.phase == Phase::End).collect();
    assert_eq!(ends.len(), 1, "{msgs:#?}");
    assert_eq!(ends[0].end_reason, Some(EndReason::Caps));
    assert_eq!(
        ns(ends[0].start.running_time),
        10 * SECOND,
        "running time follows the segment base"
    );

    // EOS closes it, at the end of the last frame.
    let small = Scene::new((W / 2) as usize, (H / 2) as usize).buffer(&Shot::moving(0), &info2);
    for i in 0..FPS {
        let mut b = small.copy();
        stamp(&mut b, i, FPS);
        h.push(b).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let msgs = drain_defects(&bus);
    let ends: Vec<_> = msgs.iter().filter(|m| m.phase == Phase::End).collect();
    assert_eq!(ends.len(), 1, "{msgs:#?}");
    assert_eq!(ends[0].end_reason, Some(EndReason::Eos));
    assert_eq!(ns(ends[0].end.unwrap().pts), SECOND);
}

#[test]
fn buffers_pass_through_untouched() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let bufs = buffers(&scene, &info, &schedule(FPS, &[]));
    let ptrs: Vec<_> = bufs.iter().map(|b| b.as_ptr()).collect();
    let copies: Vec<Vec<u8>> = bufs
        .iter()
        .map(|b| b.map_readable().unwrap().to_vec())
        .collect();
    let (_, out) = run_harness(&[], &info, bufs);
    for ((o, p), c) in out.iter().zip(&ptrs).zip(&copies) {
        assert_eq!(o.as_ptr(), *p, "the same buffer, not a copy");
        assert_eq!(&o.map_readable().unwrap()[..], &c[..], "unchanged");
    }
}

#[test]
fn bad_buffers_are_reported_and_passed() {
    init();
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let mut h = gst_check::Harness::new("vqfreeze");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(info.to_caps().unwrap());
    for i in 0..10u64 {
        let mut b = if i % 3 == 1 {
            gst::Buffer::from_slice(vec![7u8; 1000]) // truncated
        } else {
            scene.buffer(&Shot::moving(i), &info)
        };
        stamp(&mut b, i, FPS);
        assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok));
        assert!(h.try_pull().is_some());
    }
    let mut warnings = Vec::new();
    while let Some(m) = bus.pop() {
        if let gst::MessageView::Warning(w) = m.view() {
            warnings.push(w.error().to_string());
        }
    }
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("bad-buffers").unwrap(), 3);
    assert_eq!(stats.get::<u64>("frames").unwrap(), 7);
}

#[test]
fn every_format_family_and_odd_sizes() {
    let formats = [
        "I420",
        "YV12",
        "NV12",
        "NV21",
        "Y42B",
        "Y444",
        "GRAY8",
        "YUY2",
        "UYVY",
        "AYUV",
        "I420_10LE",
        "I420_10BE",
        "I420_12LE",
        "P010_10LE",
        "P016_LE",
        "Y444_16LE",
        "GRAY16_LE",
        "GRAY16_BE",
        "RGB",
        "BGRx",
        "xRGB",
        "RGBA",
    ];
    let info = i420_info(160, 120, FPS as i32);
    let scene = Scene::new(160, 120);
    let freeze = (FPS / 2, 2 * FPS);
    let shots = schedule(4 * FPS, &[freeze]);
    for fmt in formats {
        let bufs = buffers(&scene, &info, &shots);
        let (msgs, errors) = run_appsrc_pipeline(
            &format!(
                "videoconvert ! video/x-raw,format={fmt} ! vqfreeze min-duration=500000000 ! fakesink"
            ),
            &info,
            bufs,
        );
        assert!(errors.is_empty(), "{fmt}: {errors:?}");
        assert_freezes_exact(&msgs, &[freeze]);
    }
    for (w, h) in [(321u32, 241u32), (17, 9), (1, 1)] {
        let info = i420_info(w, h, FPS as i32);
        let scene = Scene::new(w as usize, h as usize);
        let bufs = buffers(&scene, &info, &shots);
        let (msgs, _) = run_harness(&[("min-duration", v(SECOND / 2))], &info, bufs);
        if w > 1 {
            assert_freezes_exact(&msgs, &[freeze]);
        } else {
            // A single pixel cannot show motion reliably; it must just not crash.
            assert!(msgs.iter().all(|m| m.defect == "freeze"));
        }
    }
}

#[test]
fn unsupported_formats_fail_negotiation_readably() {
    init();
    // Fixed caps: the link is refused when the pipeline is built, saying why.
    let err = gst::parse::launch(
        "videotestsrc num-buffers=5 ! video/x-raw,format=v210,width=64,height=48 ! vqfreeze ! fakesink",
    )
    .expect_err("v210 cannot be linked to vqfreeze");
    assert!(
        err.to_string().contains("can't handle caps") && err.to_string().contains("v210"),
        "{err}"
    );

    // Caps known only when data flows: negotiation fails with an error message, no crash.
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time caps=video/x-raw,format=v210,width=64,height=48,framerate=25/1 ! \
         vqfreeze ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = appsrc(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let _ = src.push_buffer(gst::Buffer::with_size(64 * 48 * 3).unwrap());
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("an error");
    match msg.view() {
        gst::MessageView::Error(e) => {
            let text = format!("{} {:?}", e.error(), e.debug());
            assert!(text.contains("not-negotiated"), "{text}");
        }
        other => panic!("expected a negotiation error, got {other:?}"),
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // The layout code says why, for the log.
    let why = gstvqmon::luma::LumaLayout::for_format(gst_video::VideoFormat::V210).unwrap_err();
    assert!(why.to_string().contains("v210"), "{why}");
}

#[test]
fn properties_have_documented_defaults() {
    init();
    let e = gst::ElementFactory::make("vqfreeze").build().unwrap();
    let expected: &[(&str, glib::Value)] = &[
        ("min-duration", v(3 * SECOND / 10)),
        ("alarm-duration", v(2 * SECOND)),
        ("noise", v(0.001f64)),
        ("block-threshold", v(2.0f64)),
        ("refresh-threshold", v(8.0f64)),
        ("grain-tolerant", v(true)),
        ("black-pixel-threshold", v(0.10f64)),
        ("black-picture-threshold", v(0.98f64)),
        ("black-min-duration", v(3 * SECOND / 10)),
        ("stall-timeout", v(2 * SECOND)),
        ("update-interval", v(10 * SECOND)),
        ("regions", v("")),
        ("post-messages", v(true)),
    ];
    for (name, value) in expected {
        let pspec = e.find_property(name).unwrap();
        assert_eq!(
            pspec.default_value().serialize().unwrap(),
            value.serialize().unwrap(),
            "{name} default"
        );
        assert_eq!(
            e.property_value(name).serialize().unwrap(),
            value.serialize().unwrap(),
            "{name}"
        );
        assert!(
            pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_PLAYING),
            "{name} tunable while playing"
        );
        assert!(!pspec.blurb().unwrap_or_default().is_empty());
    }
    assert!(
        (e.property::<f64>("noise-db") + 60.0).abs() < 1e-9,
        "-60 dB"
    );
    e.set_property("noise-db", -40.0f64);
    assert!((e.property::<f64>("noise") - 0.01).abs() < 1e-12);
    e.set_property("regions", "exclude:10,10,20,20");
    assert_eq!(e.property::<String>("regions"), "exclude:10,10,20,20");
    assert!(
        !e.property::<bool>("qos"),
        "QoS is off: a monitor never drops frames"
    );
}

/// The reduced-cost mode's accuracy, measured on the cases above at row steps 1, 2 and 4.
#[test]
fn row_step_accuracy() {
    let info = i420_info(W, H, FPS as i32);
    let scene = Scene::new(W as usize, H as usize);
    let freezes = standard_freezes();
    let total = freezes.last().map(|(s, n)| s + n).unwrap() + 2 * FPS;
    let clean = buffers(&scene, &info, &schedule(total, &freezes));
    let grainy: Vec<Shot> = schedule(total, &freezes)
        .into_iter()
        .map(|s| Shot { grain: 3.0, ..s })
        .collect();
    let grainy = buffers(&scene, &info, &grainy);
    let stutter = buffers(&scene, &info, &hitches().0);
    let n = 12 * FPS;
    let negatives: Vec<Vec<gst::Buffer>> = [
        (0..n).map(Shot::moving).collect::<Vec<_>>(),
        (0..n)
            .map(|i| Shot {
                pan: 1.0,
                objects: 0,
                ..Shot::moving(i)
            })
            .collect(),
        (0..n)
            .map(|i| Shot {
                pan: 1.0,
                objects: 0,
                grain: 2.0,
                ..Shot::moving(i)
            })
            .collect(),
        (0..n)
            .map(|i| Shot {
                quiet: true,
                grain: 2.0,
                ..Shot::moving(i)
            })
            .collect(),
    ]
    .iter()
    .map(|shots| buffers(&scene, &info, shots))
    .collect();

    // A still picture whose only motion is a dash two rows high: the hardest case for row-step.
    let dash = buffers(
        &scene,
        &info,
        &(0..n)
            .map(|i| Shot {
                content: 0,
                objects: 0,
                thin_dash: true,
                ..Shot::moving(i)
            })
            .collect::<Vec<_>>(),
    );
    let mut table = String::from(
        "row-step  freezes exact  grain freezes exact  stutter runs  false alarms  thin dash seen\n",
    );
    for step in [1u32, 2, 4] {
        let props = [("min-duration", v(SECOND * 4 / 10)), ("row-step", v(step))];
        let exact = |bufs: &[gst::Buffer]| {
            let (msgs, _) = run_harness(&props, &info, bufs.to_vec());
            let found = intervals(&msgs, "freeze");
            found
                .iter()
                .zip(&freezes)
                .filter(|((s, e), (first, n))| {
                    ns(s.start.pts) == t(*first, FPS) && ns(e.end.unwrap().pts) == t(first + n, FPS)
                })
                .count()
                - found.len().saturating_sub(freezes.len())
        };
        let (clean_ok, grain_ok) = (exact(&clean), exact(&grainy));
        let (msgs, _) = run_harness(&[("row-step", v(step))], &info, stutter.clone());
        let runs: u64 = intervals(&msgs, "stutter")
            .iter()
            .map(|(_, e)| evidence_u64(e, "runs"))
            .sum();
        let false_alarms: usize = negatives
            .iter()
            .map(|bufs| {
                run_harness(&[("row-step", v(step))], &info, bufs.clone())
                    .0
                    .len()
            })
            .sum();
        let (msgs, _) = run_harness(&[("row-step", v(step))], &info, dash.clone());
        let dash_seen = intervals(&msgs, "freeze").is_empty();
        table += &format!(
            "{step:>8}  {clean_ok:>9}/5  {grain_ok:>15}/5  {runs:>10}/5  {false_alarms:>12}  {dash_seen:>14}\n"
        );
        // Up to row-step 2 every pair of rows has an analysed one; beyond, a thin dash can hide.
        assert_eq!(dash_seen, step <= 2, "row-step {step}\n{table}");
        // At row-step 4 the quiet view's object (8 rows tall) is 2 analysed rows: under sensor
        // noise its motion is not seen, and one short false freeze (start and end) follows.
        assert_eq!(
            (clean_ok, grain_ok, runs, false_alarms),
            (5, 5, 5, if step <= 2 { 0 } else { 2 }),
            "row-step {step}\n{table}"
        );
    }
    eprintln!("{table}");
}
