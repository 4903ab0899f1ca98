// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Random abuse: bad timestamps, truncated buffers, flags, flushes, segments, gaps, caps
//! changes and property changes while playing, on vqfreeze, vqartifact, vqinject and both
//! branches of avsyncmon. Every element must pass every buffer, post only well-formed messages,
//! never error, and close every defect it opened exactly once, ending no earlier than it
//! started.

mod common;

use common::*;
use gst::glib;
use gst::prelude::*;
use gstvqmon::{DefectMessage, Phase};
use std::collections::HashSet;

fn caps_for(rng: &mut Rng) -> gst_video::VideoInfo {
    let formats = [
        gst_video::VideoFormat::I420,
        gst_video::VideoFormat::Nv12,
        gst_video::VideoFormat::Yuy2,
        gst_video::VideoFormat::Gray8,
        gst_video::VideoFormat::P01010le,
        gst_video::VideoFormat::I42010be,
        gst_video::VideoFormat::Bgrx,
    ];
    let f = formats[rng.next_u32() as usize % formats.len()];
    let w = 1 + rng.next_u32() % 90;
    let h = 1 + rng.next_u32() % 70;
    let fps = [0, 25, 30, 60][rng.next_u32() as usize % 4];
    gst_video::VideoInfo::builder(f, w, h)
        .fps(gst::Fraction::new(fps, 1))
        .build()
        .unwrap()
}

/// A property the abuse may change while playing, with the values it picks from.
type Knob = (&'static str, fn(&mut Rng) -> glib::Value);

/// Checks the defect (and vqinject injection) messages on `bus`: well formed, ids not reused,
/// every start ended exactly once, no end before its start. Returns how many started.
fn check_defects(bus: &gst::Bus, what: &str) -> usize {
    let mut started = std::collections::HashMap::new();
    let mut ended = HashSet::new();
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Error(e) => panic!("{what}: error {:?}", e.error()),
            _ => {
                // vqinject's ground truth follows the same life as a defect.
                let parsed = DefectMessage::from_message(&msg)
                    .or_else(|| DefectMessage::from_injection_message(&msg));
                if let Some(d) = parsed {
                    let d = d.unwrap_or_else(|e| panic!("{what}: {e}"));
                    match d.phase {
                        Phase::Start => assert!(
                            started.insert(d.id, d.start.running_time).is_none(),
                            "{what}: id reused"
                        ),
                        Phase::End => {
                            let start = started.get(&d.id);
                            assert!(start.is_some(), "{what}: end before start");
                            assert!(ended.insert(d.id), "{what}: ended twice");
                            if let (Some(Some(s)), Some(e)) =
                                (start, d.end.and_then(|e| e.running_time))
                            {
                                assert!(
                                    e >= *s,
                                    "{what}: {} ends before it starts: {s} -> {e} ({:?})",
                                    d.defect,
                                    d.end_reason
                                );
                            }
                        }
                        Phase::Update => {
                            assert!(started.contains_key(&d.id) && !ended.contains(&d.id))
                        }
                        Phase::Point => (),
                    }
                }
            }
        }
    }
    let started: HashSet<u64> = started.into_keys().collect();
    assert_eq!(started, ended, "{what}: every defect that started ended");
    started.len()
}

#[test]
fn random_abuse_never_breaks_the_stream() {
    init();
    let vqfreeze: &[Knob] = &[
        ("row-step", |r| (1 + r.next_u32() % 4).to_value()),
        // Regions that leave a block on any picture (ones that leave none are an error).
        ("regions", |r| {
            ["", "include:0,0,100%,100%"][r.next_u32() as usize % 2].to_value()
        }),
        ("min-duration", |r| {
            u64::from(1 + r.next_u32() % 5).to_value()
        }),
    ];
    let vqartifact: &[Knob] = &[
        ("frame-step", |r| (1 + r.next_u32() % 3).to_value()),
        ("estimate-grid", |r| r.one_in(2).to_value()),
    ];
    let vqinject: &[Knob] = &[("seed", |r| u64::from(r.next_u32()).to_value())];
    let mut total = 0;
    for (factory, props, knobs) in [
        (
            "vqfreeze",
            &[
                ("min-duration", 100_000_000u64),
                ("black-min-duration", 100_000_000),
                ("stall-timeout", 500_000_000),
                ("update-interval", 200_000_000),
            ][..],
            vqfreeze,
        ),
        (
            "vqartifact",
            &[("hangover", 200_000_000u64)][..],
            vqartifact,
        ),
        ("vqinject", &[][..], vqinject),
    ] {
        let defects = abuse(factory, props, knobs);
        eprintln!("{factory}: defects opened and closed: {defects}");
        total += defects;
    }
    assert!(total > 50, "the abuse provoked defects: {total}");
}

fn abuse(factory: &str, props: &[(&str, u64)], knobs: &[Knob]) -> usize {
    let mut total_defects = 0;
    for seed in 1..=12u64 {
        let mut rng = Rng::new(seed);
        let mut h = gst_check::Harness::new(factory);
        let elem = h.element().unwrap();
        for (k, v) in props {
            elem.set_property(k, *v);
        }
        if factory == "vqinject" {
            elem.set_property(
                "schedule",
                "freeze@1s+2s; black@4s+1s; drop@6s+1s; corrupt@8s+1s; blocky@10s+2s; \
                 stutter@13s+3s",
            );
        }
        let bus = gst::Bus::new();
        elem.set_bus(Some(&bus));
        let mut info = caps_for(&mut rng);
        h.set_src_caps(info.to_caps().unwrap());
        let mut pts: i64 = 0;
        let mut content = vec![0u8; info.size()];
        let (mut pushed, mut pulled) = (0, 0);
        for _ in 0..600 {
            let r = rng.next_u32() % 100;
            match r {
                4 if !knobs.is_empty() => {
                    let (name, value) = knobs[rng.next_u32() as usize % knobs.len()];
                    elem.set_property_from_value(name, &value(&mut rng));
                }
                0 => {
                    info = caps_for(&mut rng);
                    h.set_src_caps(info.to_caps().unwrap());
                    content = vec![0u8; info.size()];
                }
                1 => {
                    assert!(h.push_event(gst::event::FlushStart::new()));
                    assert!(h.push_event(gst::event::FlushStop::new(true)));
                    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
                    seg.set_start(gst::ClockTime::from_nseconds(pts.max(0) as u64));
                    assert!(h.push_event(gst::event::Segment::new(&seg)));
                }
                2 => {
                    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
                    seg.set_base(gst::ClockTime::from_mseconds(u64::from(
                        rng.next_u32() % 5000,
                    )));
                    seg.set_rate(if rng.one_in(4) { 2.0 } else { 1.0 });
                    assert!(h.push_event(gst::event::Segment::new(&seg)));
                }
                3 => {
                    let ts = gst::ClockTime::from_nseconds(pts.max(0) as u64);
                    h.push_event(
                        gst::event::Gap::builder(ts)
                            .duration(gst::ClockTime::from_mseconds(300))
                            .build(),
                    );
                }
                _ => {
                    // Content: mostly a repeat of the last picture, sometimes new, sometimes black.
                    match rng.next_u32() % 10 {
                        0..=5 => (),
                        6 => content.fill(0),
                        _ => content.iter_mut().for_each(|v| *v = rng.next_u32() as u8),
                    }
                    let truncated = rng.one_in(25);
                    let data = if truncated {
                        content[..content.len() / 3].to_vec()
                    } else {
                        content.clone()
                    };
                    let mut b = gst::Buffer::from_slice(data);
                    {
                        let b = b.get_mut().unwrap();
                        // Timestamps: steady, missing, backwards, or far ahead.
                        match rng.next_u32() % 20 {
                            0 => (),
                            1 => pts -= 200_000_000,
                            2 => pts += 1_500_000_000,
                            _ => pts += 40_000_000,
                        }
                        if pts >= 0 && !rng.one_in(15) {
                            b.set_pts(gst::ClockTime::from_nseconds(pts as u64));
                        }
                        if !rng.one_in(3) {
                            b.set_duration(gst::ClockTime::from_mseconds(40));
                        }
                        let mut flags = gst::BufferFlags::empty();
                        for (p, f) in [
                            (10, gst::BufferFlags::DISCONT),
                            (10, gst::BufferFlags::GAP),
                            (20, gst::BufferFlags::CORRUPTED),
                        ] {
                            if rng.one_in(p) {
                                flags |= f;
                            }
                        }
                        b.set_flags(flags);
                    }
                    assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok), "{factory} seed {seed}");
                    pushed += 1;
                }
            }
            while h.try_pull().is_some() {
                pulled += 1;
            }
        }
        assert!(h.push_event(gst::event::Eos::new()));
        while h.try_pull().is_some() {
            pulled += 1;
        }
        if factory == "vqinject" {
            // drop and stutter remove or repeat frames on purpose.
            assert!(pulled > 0, "{factory} seed {seed}");
        } else {
            assert_eq!(pushed, pulled, "{factory} seed {seed}: every buffer passes");
        }
        let started = check_defects(&bus, &format!("{factory} seed {seed}"));
        total_defects += started;
        if elem.find_property("stats").is_some() {
            let stats = elem.property::<gst::Structure>("stats");
            assert!(
                stats.get::<u64>("bad-buffers").unwrap() > 0,
                "{factory} seed {seed}: truncated buffers seen"
            );
        }
    }
    total_defects
}

/// avsyncmon, with its two branches abused independently: random caps (audio rates and
/// channels, video sizes), flushes, segments, GAP events, untimed, truncated and flagged buffers,
/// timestamp jumps both ways, property changes while playing, and EOS on one branch then the
/// other. Every buffer passes on its own branch and every defect closes exactly once.
#[test]
fn random_abuse_of_both_avsyncmon_branches() {
    init();
    let mut total = 0;
    for seed in 1..=12u64 {
        let mut rng = Rng::new(seed);
        let elem = gst::ElementFactory::make("avsyncmon").build().unwrap();
        let bus = gst::Bus::new();
        elem.set_bus(Some(&bus));
        let mut hv = gst_check::Harness::with_element(&elem, Some("video_sink"), Some("video_src"));
        let mut ha = gst_check::Harness::with_element(&elem, Some("audio_sink"), Some("audio_src"));
        let video_caps = |rng: &mut Rng| {
            gst_video::VideoInfo::builder(
                gst_video::VideoFormat::Gray8,
                1 + rng.next_u32() % 64,
                1 + rng.next_u32() % 48,
            )
            .fps(gst::Fraction::new(
                [0, 25, 30][rng.next_u32() as usize % 3],
                1,
            ))
            .build()
            .unwrap()
        };
        let audio_caps = |rng: &mut Rng| {
            gst_audio::AudioInfo::builder(
                gst_audio::AudioFormat::S16le,
                [8_000, 44_100, 48_000][rng.next_u32() as usize % 3],
                1 + rng.next_u32() % 2,
            )
            .build()
            .unwrap()
        };
        let mut vinfo = video_caps(&mut rng);
        let mut ainfo = audio_caps(&mut rng);
        hv.set_src_caps(vinfo.to_caps().unwrap());
        ha.set_src_caps(ainfo.to_caps().unwrap());
        hv.play();
        ha.play();
        let (mut vt, mut at): (i64, i64) = (0, 0);
        let (mut pushed, mut pulled) = ([0u32; 2], [0u32; 2]);
        for _ in 0..1200 {
            let video = rng.one_in(2);
            let (h, t) = if video {
                (&mut hv, &mut vt)
            } else {
                (&mut ha, &mut at)
            };
            match rng.next_u32() % 100 {
                0 => {
                    if video {
                        vinfo = video_caps(&mut rng);
                        h.set_src_caps(vinfo.to_caps().unwrap());
                    } else {
                        ainfo = audio_caps(&mut rng);
                        h.set_src_caps(ainfo.to_caps().unwrap());
                    }
                }
                1 => {
                    assert!(h.push_event(gst::event::FlushStart::new()));
                    assert!(h.push_event(gst::event::FlushStop::new(true)));
                    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
                    seg.set_start(gst::ClockTime::from_nseconds((*t).max(0) as u64));
                    assert!(h.push_event(gst::event::Segment::new(&seg)));
                }
                2 => {
                    let ts = gst::ClockTime::from_nseconds((*t).max(0) as u64);
                    h.push_event(
                        gst::event::Gap::builder(ts)
                            .duration(gst::ClockTime::from_mseconds(300))
                            .build(),
                    );
                    *t += 300_000_000;
                }
                3 => {
                    let (name, value) = match rng.next_u32() % 3 {
                        0 => ("test-signals", rng.one_in(2).to_value()),
                        1 => ("content-analysis", rng.one_in(2).to_value()),
                        _ => (
                            "stall-threshold",
                            u64::from(rng.next_u32() % 3_000_000_000).to_value(),
                        ),
                    };
                    elem.set_property_from_value(name, &value);
                }
                _ => {
                    let (size, step) = if video {
                        (vinfo.size(), 40_000_000i64)
                    } else {
                        let n = 1 + rng.next_u32() as usize % 2000;
                        (
                            n * ainfo.bpf() as usize,
                            (n as u64 * 1_000_000_000 / u64::from(ainfo.rate())) as i64,
                        )
                    };
                    let size = if rng.one_in(25) { size / 3 } else { size };
                    let mut data = vec![0u8; size];
                    if rng.one_in(4) {
                        data.iter_mut().for_each(|v| *v = rng.next_u32() as u8);
                    }
                    let mut b = gst::Buffer::from_mut_slice(data);
                    {
                        let b = b.get_mut().unwrap();
                        match rng.next_u32() % 20 {
                            0 => *t -= 200_000_000,
                            1 => *t += 1_500_000_000,
                            _ => (),
                        }
                        if *t >= 0 && !rng.one_in(15) {
                            b.set_pts(gst::ClockTime::from_nseconds(*t as u64));
                        }
                        if !rng.one_in(3) {
                            b.set_duration(gst::ClockTime::from_nseconds(step as u64));
                        }
                        let mut flags = gst::BufferFlags::empty();
                        for (p, f) in [(10, gst::BufferFlags::DISCONT), (10, gst::BufferFlags::GAP)]
                        {
                            if rng.one_in(p) {
                                flags |= f;
                            }
                        }
                        b.set_flags(flags);
                    }
                    *t += step;
                    assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok), "seed {seed}");
                    pushed[usize::from(video)] += 1;
                }
            }
            while hv.try_pull().is_some() {
                pulled[1] += 1;
            }
            while ha.try_pull().is_some() {
                pulled[0] += 1;
            }
        }
        // EOS on one branch, then the other.
        assert!(hv.push_event(gst::event::Eos::new()));
        assert!(ha.push_event(gst::event::Eos::new()));
        while hv.try_pull().is_some() {
            pulled[1] += 1;
        }
        while ha.try_pull().is_some() {
            pulled[0] += 1;
        }
        assert_eq!(
            pushed, pulled,
            "seed {seed}: every buffer passes on its branch"
        );
        total += check_defects(&bus, &format!("avsyncmon seed {seed}"));
    }
    eprintln!("avsyncmon: defects opened and closed: {total}");
    assert!(total > 20, "the abuse provoked defects: {total}");
}
