// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Picture changes on the luma plane of any layout vqmon reads (8-bit in place or packed, 9-16
//! bit words), in 8-bit code values.

use crate::luma::{LumaLayout, Sample};

/// Small deterministic generator (xorshift), seeded per injection.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// A luma plane to read and write: data, stride, size and layout.
pub struct Plane<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
    pub layout: LumaLayout,
}

impl Plane<'_> {
    /// Reads luma at (x, y), 8-bit code values.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> u8 {
        let row = y * self.stride;
        match self.layout.sample {
            Sample::U8 { step, offset } => self.data[row + offset + x * step],
            Sample::U16 {
                step,
                offset,
                big_endian,
                shift,
            } => {
                let i = row + 2 * (offset + x * step);
                let w = if big_endian {
                    u16::from_be_bytes([self.data[i], self.data[i + 1]])
                } else {
                    u16::from_le_bytes([self.data[i], self.data[i + 1]])
                };
                (((w >> shift) as u32) >> (self.layout.depth - 8)).min(255) as u8
            }
            Sample::Rgb8 { .. } => 0,
        }
    }

    /// Writes luma at (x, y) from an 8-bit code value.
    #[inline]
    pub fn set(&mut self, x: usize, y: usize, v: u8) {
        let row = y * self.stride;
        match self.layout.sample {
            Sample::U8 { step, offset } => self.data[row + offset + x * step] = v,
            Sample::U16 {
                step,
                offset,
                big_endian,
                shift,
            } => {
                let i = row + 2 * (offset + x * step);
                let w = ((v as u16) << (self.layout.depth - 8)) << shift;
                let b = if big_endian {
                    w.to_be_bytes()
                } else {
                    w.to_le_bytes()
                };
                self.data[i] = b[0];
                self.data[i + 1] = b[1];
            }
            Sample::Rgb8 { .. } => (),
        }
    }

    pub fn writable(layout: &LumaLayout) -> bool {
        !matches!(layout.sample, Sample::Rgb8 { .. })
    }
}

/// Paints the luma black (`level` code values).
pub fn black(p: &mut Plane, level: u8) {
    for y in 0..p.height {
        for x in 0..p.width {
            p.set(x, y, level);
        }
    }
}

/// Adds +/- `noise` code values to every `k`-th pixel: a re-encoded, not bit-identical, repeat.
pub fn add_noise(p: &mut Plane, noise: u8, rng: &mut Rng) {
    if noise == 0 {
        return;
    }
    for y in 0..p.height {
        for x in (0..p.width).step_by(3) {
            let d = rng.below(2 * noise as u64 + 1) as i32 - noise as i32;
            let v = (p.get(x, y) as i32 + d).clamp(0, 255) as u8;
            p.set(x, y, v);
        }
    }
}

/// Re-quantises each 8x8 block: its mean plus the residual rounded to a multiple of `q`.
pub fn blocky(p: &mut Plane, q: u32) {
    let q = q.max(2) as i32;
    for by in (0..p.height).step_by(8) {
        for bx in (0..p.width).step_by(8) {
            let (h, w) = ((p.height - by).min(8), (p.width - bx).min(8));
            let mut sum = 0u32;
            for y in by..by + h {
                for x in bx..bx + w {
                    sum += p.get(x, y) as u32;
                }
            }
            let mean = (sum / (w * h) as u32) as i32;
            for y in by..by + h {
                for x in bx..bx + w {
                    let r = p.get(x, y) as i32 - mean;
                    let r = ((r as f32 / q as f32).round() as i32) * q;
                    p.set(x, y, (mean + r).clamp(0, 255) as u8);
                }
            }
        }
    }
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

/// Places a macroblock-aligned region covering `area` of the picture, at a seeded position.
pub fn region(width: usize, height: usize, area: f64, rng: &mut Rng) -> Rect {
    let aspect = width as f64 / height.max(1) as f64;
    let total = (width * height) as f64 * area.clamp(0.0, 1.0);
    let mut h = ((total / aspect).sqrt() / 16.0).round().max(1.0) as usize * 16;
    let mut w = ((total / h as f64) / 16.0).round().max(1.0) as usize * 16;
    w = w.min(width / 16 * 16).max(16.min(width));
    h = h.min(height / 16 * 16).max(16.min(height));
    let x = (rng.below(((width - w) / 16 + 1) as u64) as usize) * 16;
    let y = (rng.below(((height - h) / 16 + 1) as u64) as usize) * 16;
    Rect { x, y, w, h }
}

/// Concealment-failure damage inside `r`, one 16x16 macroblock at a time: shifted copies of
/// other macroblocks, flat grey or green-black fills, rows smeared down from their top line.
pub fn corrupt(p: &mut Plane, r: Rect, rng: &mut Rng) {
    let (w, h) = (p.width, p.height);
    for by in (r.y..r.y + r.h).step_by(16) {
        for bx in (r.x..r.x + r.w).step_by(16) {
            let bh = (h.saturating_sub(by)).min(16);
            let bw = (w.saturating_sub(bx)).min(16);
            match rng.below(10) {
                // Misplaced macroblock: a copy from up to 64 px away.
                0..=3 => {
                    let sx =
                        (bx as i64 + rng.below(129) as i64 - 64).clamp(0, (w - bw) as i64) as usize;
                    let sy =
                        (by as i64 + rng.below(129) as i64 - 64).clamp(0, (h - bh) as i64) as usize;
                    for y in 0..bh {
                        for x in 0..bw {
                            let v = p.get(sx + x, sy + y);
                            p.set(bx + x, by + y, v);
                        }
                    }
                }
                // Grey (missing, neutral) or green (zeroed YUV) fill.
                4..=5 => fill(p, bx, by, bw, bh, 128),
                6 => fill(p, bx, by, bw, bh, 0),
                // Smeared: the top line repeated down the block.
                _ => {
                    for y in 1..bh {
                        for x in 0..bw {
                            let v = p.get(bx + x, by);
                            p.set(bx + x, by + y, v);
                        }
                    }
                }
            }
        }
    }
}

fn fill(p: &mut Plane, bx: usize, by: usize, bw: usize, bh: usize, v: u8) {
    for y in by..by + bh {
        for x in bx..bx + bw {
            p.set(x, y, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(data: &mut [u8], w: usize, h: usize) -> Plane<'_> {
        Plane {
            data,
            stride: w,
            width: w,
            height: h,
            layout: LumaLayout::for_format(gst_video::VideoFormat::Gray8).unwrap(),
        }
    }

    #[test]
    fn corrupt_stays_in_its_region_and_blocky_quantises() {
        gst::init().unwrap();
        let (w, h) = (160, 96);
        let orig: Vec<u8> = (0..w * h).map(|i| ((i * 7) % 251) as u8).collect();
        let mut data = orig.clone();
        let mut rng = Rng::new(3);
        let r = region(w, h, 0.2, &mut rng);
        assert_eq!((r.x % 16, r.y % 16, r.w % 16, r.h % 16), (0, 0, 0, 0));
        let area = (r.w * r.h) as f64 / (w * h) as f64;
        assert!((0.12..0.3).contains(&area), "{area}");
        corrupt(&mut plane(&mut data, w, h), r, &mut rng);
        let mut changed = 0;
        for y in 0..h {
            for x in 0..w {
                let inside = x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
                if data[y * w + x] != orig[y * w + x] {
                    assert!(inside, "({x},{y}) outside {r:?}");
                    changed += 1;
                }
            }
        }
        assert!(changed as f64 > 0.5 * (r.w * r.h) as f64);
        let mut data = orig.clone();
        blocky(&mut plane(&mut data, w, h), 32);
        assert_ne!(data, orig);
        // 10-bit words round-trip 8-bit code values.
        let layout = LumaLayout::for_format(gst_video::VideoFormat::I42010le).unwrap();
        let mut words = vec![0u8; 2 * 16];
        let mut p = Plane {
            data: &mut words,
            stride: 32,
            width: 16,
            height: 1,
            layout,
        };
        p.set(3, 0, 200);
        assert_eq!(p.get(3, 0), 200);
        assert_eq!(u16::from_le_bytes([words[6], words[7]]), 800);
    }
}
