// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Cost of vqfreeze's per-frame analysis (measure, then every decision of the tracker) on
//! textured, moving 1080p frames.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gstvqmon::vqfreeze::stillness::{self, FrameStats, Stillness};
use gstvqmon::vqfreeze::tracker::{DEFAULT_PARAMS, FrameInput, Params, Reference, Times, Tracker};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

#[path = "frames.rs"]
mod frames;
use frames::frames_sized;

const W: usize = 1920;
const H: usize = 1080;

/// Textured 1080p frames with motion: value noise plus detail, shifted a little per frame.
fn frames(n: usize) -> Vec<Vec<u8>> {
    frames_sized(n, W, H)
}

/// What the element does with a measured frame: the tracker decides, the reference follows.
struct Decider {
    tracker: Tracker,
    params: Params,
    t: u64,
}

impl Decider {
    fn new() -> Self {
        Decider {
            tracker: Tracker::new(Arc::new(AtomicU64::new(1))),
            params: DEFAULT_PARAMS,
            t: 0,
        }
    }

    fn decide(&mut self, s: &mut Stillness, stats: FrameStats) -> bool {
        const FRAME: u64 = 40_000_000;
        self.t += FRAME;
        let input = FrameInput {
            times: Times::default(),
            t: self.t,
            duration: FRAME,
            stats,
            gap_flag: false,
        };
        let step = self.tracker.push(input, &*s, &self.params, false);
        match step.reference {
            Reference::Keep => (),
            Reference::Restart => s.set_reference_to_current(),
            Reference::Reanchor => s.reanchor_reference(),
        }
        step.events.is_empty()
    }
}

fn bench(c: &mut Criterion) {
    let fr = frames(8);
    let mut g = c.benchmark_group("vqfreeze-1080p");
    g.throughput(Throughput::Elements(1));

    let mut s = Stillness::new(W, H, 8);
    let mut d = Decider::new();
    s.set_black_threshold(37);
    let mut k = 0;
    g.bench_function("i420-8bit-moving", |b| {
        b.iter(|| {
            k = (k + 1) % fr.len();
            let st = stillness::measure_plane_u8(&mut s, black_box(&fr[k]), W);
            black_box(d.decide(&mut s, st))
        })
    });

    // Reduced-cost mode: every n-th row, as the element feeds it (stride x n, height / n).
    for step in [2usize, 4] {
        let mut s = Stillness::new(W, H.div_ceil(step), 8);
        let mut d = Decider::new();
        s.set_black_threshold(37);
        let mut k = 0;
        g.bench_function(format!("i420-8bit-moving-row-step-{step}"), |b| {
            b.iter(|| {
                k = (k + 1) % fr.len();
                let st = stillness::measure_plane_u8(&mut s, black_box(&fr[k]), W * step);
                black_box(d.decide(&mut s, st))
            })
        });
    }

    let mut s = Stillness::new(W, H, 8);
    let mut d = Decider::new();
    g.bench_function("i420-8bit-frozen", |b| {
        b.iter(|| {
            let st = stillness::measure_plane_u8(&mut s, black_box(&fr[0]), W);
            black_box(d.decide(&mut s, st))
        })
    });

    let fr16: Vec<Vec<u16>> = fr
        .iter()
        .take(4)
        .map(|f| f.iter().map(|&v| (v as u16) << 2).collect())
        .collect();
    let mut s = Stillness::new(W, H, 10);
    let mut d = Decider::new();
    let mut k = 0;
    g.bench_function("10bit-moving", |b| {
        b.iter(|| {
            k = (k + 1) % fr16.len();
            let st = stillness::measure_plane_u16(&mut s, black_box(&fr16[k]), W);
            black_box(d.decide(&mut s, st))
        })
    });

    // The per-frame reduction alone (block figures to frame figures).
    let mut s = Stillness::new(W, H, 8);
    stillness::measure_plane_u8(&mut s, &fr[0], W);
    stillness::measure_plane_u8(&mut s, &fr[1], W);
    g.bench_function("reduction-only", |b| b.iter(|| black_box(s.finish_frame())));

    // The memory floor: reading one luma plane.
    g.bench_function("read-luma-floor", |b| {
        b.iter(|| {
            k = (k + 1) % fr.len();
            black_box(fr[k].chunks_exact(64).fold(0u8, |a, c| a ^ c[0] ^ c[63]))
        })
    });
    g.finish();
}

/// 720p, 1080p and 2160p, 8 and 10-bit, on textured moving frames.
fn resolutions(c: &mut Criterion) {
    let mut g = c.benchmark_group("vqfreeze-sizes");
    g.throughput(Throughput::Elements(1));
    for (name, w, h) in [
        ("720p", 1280usize, 720usize),
        ("1080p", 1920, 1080),
        ("2160p", 3840, 2160),
    ] {
        let fr = frames_sized(4, w, h);
        let mut s = Stillness::new(w, h, 8);
        let mut d = Decider::new();
        let mut k = 0;
        g.bench_function(format!("{name}-8bit"), |b| {
            b.iter(|| {
                k = (k + 1) % fr.len();
                let st = stillness::measure_plane_u8(&mut s, black_box(&fr[k]), w);
                black_box(d.decide(&mut s, st))
            })
        });
        let fr16: Vec<Vec<u16>> = fr
            .iter()
            .map(|f| f.iter().map(|&v| (v as u16) << 2).collect())
            .collect();
        let mut s = Stillness::new(w, h, 10);
        let mut d = Decider::new();
        g.bench_function(format!("{name}-10bit"), |b| {
            b.iter(|| {
                k = (k + 1) % fr16.len();
                let st = stillness::measure_plane_u16(&mut s, black_box(&fr16[k]), w);
                black_box(d.decide(&mut s, st))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, resolutions);
criterion_main!(benches);
