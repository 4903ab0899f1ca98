// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Real-looking benchmark frames: textured (value noise plus detail) and moving (panned 3 pixels
//! per frame), 8-bit luma planes of `w` x `h`.

/// Textured frames with motion: value noise plus detail, shifted a little per frame.
pub fn frames_sized(n: usize, w: usize, h: usize) -> Vec<Vec<u8>> {
    let mut seed = 12345u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let cw = w + 64;
    let lattice: Vec<f64> = (0..(cw / 8 + 2) * (h / 8 + 2))
        .map(|_| 40.0 + 160.0 * rnd())
        .collect();
    let gw = cw / 8 + 2;
    let mut canvas = vec![0u8; cw * h];
    for y in 0..h {
        for x in 0..cw {
            let (gx, gy, fx, fy) = (x / 8, y / 8, (x % 8) as f64 / 8.0, (y % 8) as f64 / 8.0);
            let l = |a: usize, b: usize| lattice[b * gw + a];
            let v = l(gx, gy) * (1.0 - fx) * (1.0 - fy)
                + l(gx + 1, gy) * fx * (1.0 - fy)
                + l(gx, gy + 1) * (1.0 - fx) * fy
                + l(gx + 1, gy + 1) * fx * fy
                + 12.0 * (rnd() - 0.5);
            canvas[y * cw + x] = v.clamp(16.0, 235.0) as u8;
        }
    }
    (0..n)
        .map(|k| {
            let mut f = vec![0u8; w * h];
            for y in 0..h {
                f[y * w..(y + 1) * w].copy_from_slice(&canvas[y * cw + 3 * k..y * cw + 3 * k + w]);
            }
            f
        })
        .collect()
}
