// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Cost of vqartifact's per-frame analysis (the luma pass, the cell decisions and the blockiness
//! ratio) on textured, moving frames at 720p, 1080p and 2160p, and of one grid estimate (run once
//! per second of video).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gstvqmon::vqartifact::cells::{CellParams, Cells};
use gstvqmon::vqartifact::features::{CELL, Features};
use gstvqmon::vqartifact::grid::{self, Axis};
use std::hint::black_box;

#[path = "frames.rs"]
mod frames;

fn analyse(
    f: &mut Features,
    cells: &mut Cells,
    medians: &mut Vec<u32>,
    pic: &[u8],
    w: usize,
    h: usize,
) -> f64 {
    f.begin(w, h);
    f.plane(pic, w, 0);
    let c = cells.analyse(f, &CellParams::default(), 3);
    let (r8, _) = grid::blockiness(
        &f.colprof[..w],
        &f.rowprof[..h],
        Axis::NATIVE,
        Axis::NATIVE,
        w,
        h,
        medians,
    );
    r8 + f64::from(c.new_cells)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("vqartifact");
    g.throughput(Throughput::Elements(1));
    for (name, w, h) in [
        ("720p", 1280, 720),
        ("1080p", 1920, 1080),
        ("2160p", 3840, 2160),
    ] {
        let fr = frames::frames_sized(4, w, h);
        let mut f = Features::new(w, h);
        let mut cells = Cells::new(w / CELL, h / CELL);
        let mut medians = Vec::with_capacity(w.max(h));
        let mut k = 0;
        g.bench_function(format!("{name}-8bit"), |b| {
            b.iter(|| {
                k = (k + 1) % fr.len();
                black_box(analyse(
                    &mut f,
                    &mut cells,
                    &mut medians,
                    black_box(&fr[k]),
                    w,
                    h,
                ))
            })
        });
    }
    // Where the time goes at 1080p: the luma pass alone, the cell decisions alone, and the floor:
    // reading every byte of the plane once (summing it).
    let (w, h) = (1920, 1080);
    let fr = frames::frames_sized(4, w, h);
    let mut f = Features::new(w, h);
    let mut cells = Cells::new(w / CELL, h / CELL);
    let mut k = 0;
    g.bench_function("1080p-pass-only", |b| {
        b.iter(|| {
            k = (k + 1) % fr.len();
            f.begin(w, h);
            f.plane(black_box(&fr[k]), w, 0);
            black_box(f.colprof[7])
        })
    });
    // Its own measured frame, so that it measures the same run alone (`cargo bench cells-only`)
    // as after the pass above: filtered alone it used to analyse an empty grid.
    f.begin(w, h);
    f.plane(&fr[0], w, 0);
    g.bench_function("1080p-cells-only", |b| {
        b.iter(|| {
            black_box(
                cells
                    .analyse(black_box(&f), &CellParams::default(), 3)
                    .new_cells,
            )
        })
    });
    g.bench_function("1080p-read-floor", |b| {
        b.iter(|| {
            k = (k + 1) % fr.len();
            black_box(
                fr[k]
                    .chunks_exact(64)
                    .map(|c| c.iter().map(|&v| u32::from(v)).sum::<u32>())
                    .fold(0u32, u32::wrapping_add),
            )
        })
    });
    // 10-bit: the element unpacks each row to 8 bits first (what this adds is the unpacking).
    let (w, h) = (1920, 1080);
    let fr = frames::frames_sized(4, w, h);
    for (name, w, h) in [
        ("720p", 1280, 720),
        ("1080p", 1920, 1080),
        ("2160p", 3840, 2160),
    ] {
        let fr16: Vec<Vec<u16>> = frames::frames_sized(4, w, h)
            .iter()
            .map(|p| p.iter().map(|&v| u16::from(v) << 2).collect())
            .collect();
        let mut f = Features::new(w, h);
        let mut cells = Cells::new(w / CELL, h / CELL);
        // As the element does: each band unpacked into 17 scratch rows (the row above, 16 rows).
        let mut band = vec![0u8; (CELL + 1) * w];
        let mut k = 0;
        g.bench_function(format!("{name}-10bit"), |b| {
            b.iter(|| {
                k = (k + 1) % fr16.len();
                let pic = &fr16[k];
                f.begin(w, h);
                for b0 in (0..h).step_by(CELL) {
                    let n = (h - b0).min(CELL);
                    band.copy_within((CELL) * w..(CELL + 1) * w, 0);
                    for r in 0..n {
                        let out = &mut band[(r + 1) * w..(r + 2) * w];
                        for (o, &v) in out.iter_mut().zip(&pic[(b0 + r) * w..(b0 + r + 1) * w]) {
                            *o = (v >> 2) as u8;
                        }
                    }
                    let mut rows: [&[u8]; CELL] = [&[]; CELL];
                    for (r, slot) in rows.iter_mut().enumerate().take(n) {
                        *slot = &band[(r + 1) * w..(r + 2) * w];
                    }
                    f.band(&rows[..n], (b0 > 0).then(|| &band[..w]));
                }
                black_box(cells.analyse(&f, &CellParams::default(), 3).new_cells)
            })
        });
    }
    // One second of accumulated profiles (25 moving frames), both axes, as the element estimates
    // them: of the clean frames, and with an 8-pixel coding grid added to every frame.
    let profiles = |grid_step: u32| -> (Vec<f32>, Vec<f32>) {
        let mut f = Features::new(w, h);
        let (mut cx, mut cy) = (vec![0f32; w], vec![0f32; h]);
        for k in 0..25 {
            f.begin(w, h);
            f.plane(&fr[k % fr.len()], w, 0);
            for (x, a) in cx.iter_mut().enumerate() {
                *a += (f.colprof[x] + if x % 8 == 0 { grid_step } else { 0 }) as f32;
            }
            for (y, a) in cy.iter_mut().enumerate() {
                *a += (f.rowprof[y] + if y % 8 == 0 { grid_step } else { 0 }) as f32;
            }
        }
        (cx, cy)
    };
    let mut scratch = Vec::with_capacity(2 * w);
    for (name, step) in [("clean", 0u32), ("8px-grid", 2 * h as u32)] {
        let (cx, cy) = profiles(step);
        g.bench_function(format!("grid-estimate-1080p-{name}"), |b| {
            b.iter(|| {
                (
                    black_box(grid::estimate(black_box(&cx), &mut scratch)),
                    black_box(grid::estimate(black_box(&cy), &mut scratch)),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
