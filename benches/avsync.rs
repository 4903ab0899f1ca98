// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Cost of avsyncmon's per-buffer work: the luma probe and flash detector on a textured 1080p
//! frame (8- and 10-bit), the beep detector and audio onsets on 20 ms of 48 kHz stereo, and the
//! timestamp checks of one buffer; and one real-content estimate over a 20 s window (made every
//! `content-interval`, 5 s, not per buffer). Compare with decoding: avdec_h264 spends ~6.6 ms on one
//! 1080p frame on this class of machine (benches/compare.sh measures it side by side).

use criterion::{Criterion, criterion_group, criterion_main};
use gstvqmon::avsyncmon::content::{AudioOnsets, Correlator, HOP};
use gstvqmon::avsyncmon::cues::{BeepDetector, BeepParams, FlashDetector, VisualProbe};
use gstvqmon::avsyncmon::timeline::{ContentClock, Media, Timeline, TimelineParams};
use gstvqmon::luma::LumaLayout;
use gstvqmon::message::Stamp;
use std::hint::black_box;

fn textured(w: usize, h: usize, bytes: usize, k: usize) -> Vec<u8> {
    let mut seed = 99u64 + k as u64;
    let mut v = vec![0u8; w * h * bytes];
    for (i, px) in v.iter_mut().enumerate() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *px = (((i / bytes) % w + k * 3) as u64 % 200 + (seed >> 60)) as u8;
    }
    v
}

fn video(c: &mut Criterion) {
    gst::init().unwrap();
    for (name, format, bytes) in [
        ("1080p-8bit", gst_video::VideoFormat::I420, 1),
        ("1080p-10bit", gst_video::VideoFormat::I42010le, 2),
    ] {
        let layout = LumaLayout::for_format(format).unwrap();
        let frames: Vec<Vec<u8>> = (0..4).map(|k| textured(1920, 1080, bytes, k)).collect();
        let mut probe = VisualProbe::new(layout, 1920, 1080);
        let mut flash = FlashDetector::default();
        let mut i = 0;
        c.bench_function(&format!("avsyncmon/video-frame/{name}"), |b| {
            b.iter(|| {
                i += 1;
                let f = probe
                    .analyse(black_box(&frames[i % 4]), 1920 * bytes)
                    .unwrap();
                black_box(flash.push(&f, 50.0))
            })
        });
    }
}

fn audio(c: &mut Criterion) {
    let rate = 48_000u32;
    // 20 ms of stereo: a 1 kHz beep every 3 s over noise, as (mix, peak) per sample frame.
    let samples: Vec<(f32, f32)> = (0..rate as usize * 6)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let beep = if (i % (3 * rate as usize)) < 4800 {
                0.3 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
            } else {
                0.0
            };
            let noise = ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.001;
            (beep + noise, (beep + noise).abs())
        })
        .collect();
    let mut beep = BeepDetector::new(rate, BeepParams::default());
    let mut onsets = AudioOnsets::new(rate);
    let mut pos = 0usize;
    c.bench_function("avsyncmon/audio-buffer/20ms-48k", |b| {
        b.iter(|| {
            let start = pos % (samples.len() - 960);
            pos += 960;
            let rt0 = start as u64 * 1_000_000_000 / rate as u64;
            let mut found = 0;
            for (k, &(mix, peak)) in samples[start..start + 960].iter().enumerate() {
                if beep.push(mix, peak, (start as u64, rt0)).is_some() {
                    found += 1;
                }
                let t = rt0 + k as u64 * 1_000_000_000 / rate as u64;
                black_box(onsets.push(t, mix));
            }
            black_box(found)
        })
    });
}

fn timestamps(c: &mut Criterion) {
    let mut tl = Timeline::new(Media::Audio);
    tl.set_clock(ContentClock::audio(48_000));
    let p = TimelineParams::default();
    let mut out = Vec::new();
    let mut i = 0u64;
    let mut id = 0u64;
    c.bench_function("avsyncmon/timestamps/one-buffer", |b| {
        b.iter(|| {
            i += 1;
            let mut ids = || {
                id += 1;
                id
            };
            out.clear();
            tl.push(
                &p,
                black_box(i * 20_000_000),
                960,
                None,
                false,
                Stamp::default(),
                &mut ids,
                &mut out,
            );
            black_box(out.len())
        })
    });
}

/// One content estimate: 20 s of 25 fps motion and of audio onsets, pseudo-random events with
/// the sound 80 ms late, estimated over the whole window at lags of +/- 1 s.
fn content(c: &mut Criterion) {
    let mut corr = Correlator::new();
    let mut seed = 7u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    let hops = 20_000_000_000 / HOP;
    // Events at frame starts (a frame is 4 hops).
    let events: Vec<u64> = (0..hops / 4)
        .filter(|_| next() < 0.08)
        .map(|f| f * 4)
        .collect();
    for f in 0..500u64 {
        let hop = f * 4;
        let hit = events.iter().any(|&e| e >= hop && e < hop + 4);
        corr.push_video(hop * HOP, 4 * HOP, if hit { 30.0 } else { 2.0 + next() });
    }
    for h in 0..hops + 100 {
        let late = events.iter().any(|&e| e + 8 == h);
        corr.push_audio(h, if late { 3.0 } else { 0.2 * next() });
    }
    // The whole decision runs: the estimate is made, 80 ms.
    let e = corr.finish(20_000_000_000, 1_000_000_000).unwrap();
    assert_eq!(
        e.result.map(|v| (v.offset + 500_000) / 1_000_000),
        Ok(80),
        "{e:?}"
    );
    c.bench_function("avsyncmon/content-estimate/20s-window", |b| {
        b.iter(|| black_box(corr.finish(20_000_000_000, 1_000_000_000)))
    });
}

criterion_group!(benches, video, audio, timestamps, content);
criterion_main!(benches);
