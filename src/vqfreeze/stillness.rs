// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Per-block stillness measurement of a luma plane against the previous one (no GStreamer types).
//!
//! One pass over each frame computes, per 16x16 block: the sum of absolute differences (SAD) to the
//! previous frame, the luma sum, and the count of black pixels; the same pass copies the frame's
//! luma into our own previous-frame buffer, so no upstream buffer is ever held. The per-frame
//! reduction turns these into the figures the freeze decision needs, in 8-bit code values whatever
//! the bit depth (FFmpeg's `freezedetect` normalises the same way).

pub const BLOCK: usize = 16;

/// Bins of the block-MAD histogram used for the median (noise floor), in 1/4 code value steps.
const HIST_BINS: usize = 256;
const HIST_STEP: f64 = 0.25;

/// Measurements of one frame against the previous one and the held reference.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameStats {
    /// False for the first frame after a reset: there was nothing to compare with.
    pub compared: bool,
    /// Bit-identical luma in the analysed region.
    pub exact: bool,
    /// Mean absolute frame difference to the previous frame (8-bit code values).
    pub mafd: f64,
    /// Largest mean absolute difference of one block to the previous frame.
    pub max_block_mad: f64,
    /// Median block MAD: the noise floor of the frame difference.
    pub noise_floor: f64,
    /// Largest change of one block's mean luma since the previous frame.
    pub max_mean_delta: f64,
    /// Largest change of one block's mean luma since the held reference picture.
    pub max_ref_delta: f64,
    /// Largest change of one block's mean luma since the first picture of the still run; it bounds
    /// the drift that refreshes may add up to (a slow fade is not a refreshed freeze).
    pub max_origin_delta: f64,
    /// Fraction of analysed pixels at or below the black threshold.
    pub black_ratio: f64,
    /// Mean luma of the analysed region (8-bit code values).
    pub mean_luma: f64,
}

/// Thresholds of the still/changed decision, in 8-bit code values unless stated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StillParams {
    /// FFmpeg-compatible noise threshold as a fraction of full scale (0.001 = -60 dB).
    pub noise: f64,
    /// Largest block MAD (and block mean change) of a still picture.
    pub block: f64,
    /// Largest block change of a refresh of a frozen picture (re-encoding "pumping").
    pub refresh: f64,
    /// Accept changing grain or noise over a still picture.
    pub grain: bool,
}

/// How a frame relates to the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The picture did not change. `strict` is false when it only holds because grain or noise
    /// was discounted.
    Still { exact: bool, strict: bool },
    /// A small, picture-wide change of the kind re-encoding a frozen picture makes.
    Weak,
    /// The picture moved.
    Strong,
}

/// Classifies a frame from its measurements.
pub fn classify(s: &FrameStats, p: &StillParams) -> Change {
    if !s.compared {
        return Change::Strong;
    }
    let noise_cv = p.noise * 256.0;
    if s.exact && s.max_ref_delta <= p.block {
        return Change::Still {
            exact: true,
            strict: true,
        };
    }
    if s.mafd <= noise_cv && s.max_block_mad <= p.block && s.max_ref_delta <= p.block {
        return Change::Still {
            exact: false,
            strict: true,
        };
    }
    // Noise and grain raise every block's MAD alike and average out of block means; motion raises a
    // few blocks well above the floor and moves their means.
    let (excess, mafd_excess) = if p.grain {
        (
            (s.max_block_mad - 1.5 * s.noise_floor).max(0.0),
            (s.mafd - s.noise_floor).max(0.0),
        )
    } else {
        (s.max_block_mad, s.mafd)
    };
    if p.grain && excess <= p.block && s.max_mean_delta <= p.block && s.max_ref_delta <= p.block {
        return Change::Still {
            exact: false,
            strict: false,
        };
    }
    if excess <= p.refresh
        && s.max_origin_delta <= p.refresh
        && s.max_mean_delta <= p.refresh
        && s.max_ref_delta <= p.refresh
        && mafd_excess <= p.refresh / 8.0
    {
        Change::Weak
    } else {
        Change::Strong
    }
}

/// Block grid and per-block accumulators for one picture size.
#[derive(Debug)]
pub struct Stillness {
    width: usize,
    height: usize,
    cols: usize,
    rows: usize,
    depth: u32,
    /// Previous frame's luma, `width * height` samples (one of the two is used).
    prev8: Vec<u8>,
    prev16: Vec<u16>,
    has_prev: bool,
    sad: Vec<u32>,
    sum: Vec<u32>,
    black: Vec<u32>,
    prev_sum: Vec<u32>,
    ref_sum: Vec<u32>,
    origin_sum: Vec<u32>,
    has_ref: bool,
    /// Blocks that take part in the analysis (regions).
    mask: Vec<bool>,
    black_threshold: u16,
}

impl Stillness {
    /// Allocates everything a `width` x `height` picture of `depth` bits needs; nothing is
    /// allocated per frame afterwards.
    pub fn new(width: usize, height: usize, depth: u32) -> Self {
        let cols = width.div_ceil(BLOCK);
        let rows = height.div_ceil(BLOCK);
        let n = cols * rows;
        let pixels = width * height;
        Stillness {
            width,
            height,
            cols,
            rows,
            depth,
            prev8: if depth == 8 {
                vec![0; pixels]
            } else {
                Vec::new()
            },
            prev16: if depth > 8 {
                vec![0; pixels]
            } else {
                Vec::new()
            },
            has_prev: false,
            sad: vec![0; n],
            sum: vec![0; n],
            black: vec![0; n],
            prev_sum: vec![0; n],
            ref_sum: vec![0; n],
            origin_sum: vec![0; n],
            has_ref: false,
            mask: vec![true; n],
            black_threshold: 0,
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn grid(&self) -> (usize, usize) {
        (self.cols, self.rows)
    }

    /// Sets which blocks are analysed (`cols * rows`, row major).
    pub fn set_mask(&mut self, mask: &[bool]) {
        self.mask.copy_from_slice(mask);
    }

    /// Sets the black-pixel threshold in native code values (a pixel is black if `<=` it).
    pub fn set_black_threshold(&mut self, threshold: u16) {
        self.black_threshold = threshold;
    }

    /// Forgets the previous frame and the reference: the next frame compares with nothing.
    pub fn reset(&mut self) {
        self.has_prev = false;
        self.has_ref = false;
    }

    /// Makes the frame just measured the reference picture of a new still run.
    pub fn set_reference_to_current(&mut self) {
        self.ref_sum.copy_from_slice(&self.sum);
        self.origin_sum.copy_from_slice(&self.sum);
        self.has_ref = true;
    }

    /// Moves the reference to the frame just measured (an accepted refresh), keeping the origin.
    pub fn reanchor_reference(&mut self) {
        self.ref_sum.copy_from_slice(&self.sum);
    }

    /// Measures one band of up to 16 rows of 8-bit luma, starting at block row `band`.
    pub fn band_u8(&mut self, band: usize, rows: &[&[u8]]) {
        debug_assert!(self.depth == 8 && rows.len() <= BLOCK);
        let y0 = band * BLOCK;
        let w = self.width;
        let base = band * self.cols;
        let thr = self.black_threshold.min(255) as u8;
        let full = w / BLOCK;
        let prev = &mut self.prev8[y0 * w..(y0 + rows.len()) * w];
        for bx in 0..self.cols {
            let x0 = bx * BLOCK;
            let (sad, sum, black) = if bx < full {
                block16_u8(rows, prev, w, x0, thr)
            } else {
                block_tail_u8(rows, prev, w, x0, thr)
            };
            self.sad[base + bx] = sad;
            self.sum[base + bx] = sum;
            self.black[base + bx] = black;
        }
    }

    /// Measures one band of up to 16 rows of luma of 9 to 16 bits, starting at block row `band`.
    pub fn band_u16(&mut self, band: usize, rows: &[&[u16]]) {
        debug_assert!(self.depth > 8 && rows.len() <= BLOCK);
        let y0 = band * BLOCK;
        let w = self.width;
        let base = band * self.cols;
        let thr = self.black_threshold;
        let prev = &mut self.prev16[y0 * w..(y0 + rows.len()) * w];
        for bx in 0..self.cols {
            let x0 = bx * BLOCK;
            let x1 = (x0 + BLOCK).min(w);
            let (mut sad, mut sum, mut black) = (0u32, 0u32, 0u32);
            for (r, row) in rows.iter().enumerate() {
                let p = &mut prev[r * w + x0..r * w + x1];
                for (c, p) in row[x0..x1].iter().zip(p.iter_mut()) {
                    sad += c.abs_diff(*p) as u32;
                    sum += *c as u32;
                    black += (*c <= thr) as u32;
                    *p = *c;
                }
            }
            self.sad[base + bx] = sad;
            self.sum[base + bx] = sum;
            self.black[base + bx] = black;
        }
    }

    fn block_pixels(&self, bx: usize, by: usize) -> u32 {
        let w = (self.width - bx * BLOCK).min(BLOCK);
        let h = (self.height - by * BLOCK).min(BLOCK);
        (w * h) as u32
    }

    /// Reduces the block measurements of the frame just fed into its [`FrameStats`].
    pub fn finish_frame(&mut self) -> FrameStats {
        let scale = f64::from(1u32 << (self.depth - 8));
        let compared = self.has_prev;
        let mut hist = [0u32; HIST_BINS];
        let (mut total_sad, mut total_pix, mut total_black, mut total_sum) =
            (0u64, 0u64, 0u64, 0u64);
        let (mut max_mad, mut max_mean, mut max_ref, mut max_origin) = (0f64, 0f64, 0f64, 0f64);
        let mut blocks = 0u32;
        for by in 0..self.rows {
            for bx in 0..self.cols {
                let i = by * self.cols + bx;
                if !self.mask[i] {
                    continue;
                }
                let n = self.block_pixels(bx, by);
                let nf = f64::from(n) * scale;
                blocks += 1;
                total_pix += u64::from(n);
                total_black += u64::from(self.black[i]);
                total_sum += u64::from(self.sum[i]);
                if compared {
                    total_sad += u64::from(self.sad[i]);
                    let mad = f64::from(self.sad[i]) / nf;
                    max_mad = max_mad.max(mad);
                    let bin = ((mad / HIST_STEP) as usize).min(HIST_BINS - 1);
                    hist[bin] += 1;
                    let dm = (f64::from(self.sum[i]) - f64::from(self.prev_sum[i])).abs() / nf;
                    max_mean = max_mean.max(dm);
                }
                if self.has_ref {
                    let dr = (f64::from(self.sum[i]) - f64::from(self.ref_sum[i])).abs() / nf;
                    max_ref = max_ref.max(dr);
                    let d0 = (f64::from(self.sum[i]) - f64::from(self.origin_sum[i])).abs() / nf;
                    max_origin = max_origin.max(d0);
                }
            }
        }
        let mut noise_floor = 0.0;
        if compared && blocks > 0 {
            let half = blocks.div_ceil(2);
            let mut acc = 0;
            for (b, &c) in hist.iter().enumerate() {
                acc += c;
                if acc >= half {
                    noise_floor = (b as f64 + 0.5) * HIST_STEP;
                    break;
                }
            }
        }
        self.prev_sum.copy_from_slice(&self.sum);
        self.has_prev = true;
        let pix = total_pix.max(1) as f64;
        FrameStats {
            compared,
            exact: compared && total_sad == 0,
            mafd: total_sad as f64 / pix / scale,
            max_block_mad: max_mad,
            noise_floor,
            max_mean_delta: max_mean,
            max_ref_delta: max_ref,
            max_origin_delta: max_origin,
            black_ratio: if total_pix == 0 {
                0.0
            } else {
                total_black as f64 / pix
            },
            mean_luma: total_sum as f64 / pix / scale,
        }
    }
}

/// SAD, sum and black count of one full 16-wide block column of a band, copying it into `prev`.
#[inline]
fn block16_u8(rows: &[&[u8]], prev: &mut [u8], w: usize, x0: usize, thr: u8) -> (u32, u32, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of the x86_64 baseline; every access is bounds-checked by the
        // slicing below before the unaligned loads and stores.
        unsafe { block16_u8_sse2(rows, prev, w, x0, thr) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block_tail_u8(rows, prev, w, x0, thr)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn block16_u8_sse2(
    rows: &[&[u8]],
    prev: &mut [u8],
    w: usize,
    x0: usize,
    thr: u8,
) -> (u32, u32, u32) {
    use std::arch::x86_64::*;
    unsafe {
        let zero = _mm_setzero_si128();
        let t = _mm_set1_epi8(thr as i8);
        let mut sad = zero;
        let mut sum = zero;
        let mut black = zero;
        for (r, row) in rows.iter().enumerate() {
            let c = &row[x0..x0 + BLOCK];
            let p = &mut prev[r * w + x0..r * w + x0 + BLOCK];
            let cv = _mm_loadu_si128(c.as_ptr() as *const __m128i);
            let pv = _mm_loadu_si128(p.as_ptr() as *const __m128i);
            _mm_storeu_si128(p.as_mut_ptr() as *mut __m128i, cv);
            sad = _mm_add_epi64(sad, _mm_sad_epu8(cv, pv));
            sum = _mm_add_epi64(sum, _mm_sad_epu8(cv, zero));
            // 0xff where c <= thr (saturating c - thr is zero), summed with psadbw.
            let is_black = _mm_cmpeq_epi8(_mm_subs_epu8(cv, t), zero);
            black = _mm_add_epi64(black, _mm_sad_epu8(is_black, zero));
        }
        let h = |v: __m128i| (_mm_cvtsi128_si32(v) + _mm_extract_epi16::<4>(v)) as u32;
        (h(sad), h(sum), h(black) / 255)
    }
}

/// Scalar version for the right-hand partial block column (and non-x86 targets).
fn block_tail_u8(rows: &[&[u8]], prev: &mut [u8], w: usize, x0: usize, thr: u8) -> (u32, u32, u32) {
    let x1 = (x0 + BLOCK).min(w);
    let (mut sad, mut sum, mut black) = (0u32, 0u32, 0u32);
    for (r, row) in rows.iter().enumerate() {
        let p = &mut prev[r * w + x0..r * w + x1];
        for (c, p) in row[x0..x1].iter().zip(p.iter_mut()) {
            sad += c.abs_diff(*p) as u32;
            sum += *c as u32;
            black += (*c <= thr) as u32;
            *p = *c;
        }
    }
    (sad, sum, black)
}

/// Feeds a whole 8-bit plane (`stride` bytes per row) through `s`; for tests and benchmarks.
pub fn measure_plane_u8(s: &mut Stillness, plane: &[u8], stride: usize) -> FrameStats {
    let (w, h) = (s.width(), s.height());
    let mut rows: [&[u8]; BLOCK] = [&[]; BLOCK];
    for band in 0..h.div_ceil(BLOCK) {
        let y0 = band * BLOCK;
        let n = (h - y0).min(BLOCK);
        for (r, row) in rows.iter_mut().enumerate().take(n) {
            let off = (y0 + r) * stride;
            *row = &plane[off..off + w];
        }
        s.band_u8(band, &rows[..n]);
    }
    s.finish_frame()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> StillParams {
        StillParams {
            noise: 0.001,
            block: 2.0,
            refresh: 8.0,
            grain: true,
        }
    }

    /// Deterministic texture with some structure.
    fn texture(w: usize, h: usize, shift: usize) -> Vec<u8> {
        let mut v = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let xs = x + shift;
                let val = 128.0
                    + 50.0 * ((xs as f64) * 0.21).sin() * ((y as f64) * 0.13).cos()
                    + 30.0 * ((xs as f64 + 2.0 * y as f64) * 0.05).sin();
                v[y * w + x] = val as u8;
            }
        }
        v
    }

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f64) / (1u64 << 31) as f64
    }

    #[test]
    fn first_frame_is_not_compared() {
        let (w, h) = (100, 60);
        let mut s = Stillness::new(w, h, 8);
        let st = measure_plane_u8(&mut s, &texture(w, h, 0), w);
        assert!(!st.compared);
        assert_eq!(classify(&st, &params()), Change::Strong);
    }

    #[test]
    fn exact_repeat_and_odd_size() {
        let (w, h) = (101, 37);
        let mut s = Stillness::new(w, h, 8);
        let f = texture(w, h, 0);
        measure_plane_u8(&mut s, &f, w);
        s.set_reference_to_current();
        let st = measure_plane_u8(&mut s, &f, w);
        assert!(st.compared && st.exact);
        assert_eq!(st.mafd, 0.0);
        assert_eq!(
            classify(&st, &params()),
            Change::Still {
                exact: true,
                strict: true
            }
        );
    }

    #[test]
    fn small_motion_is_caught_by_the_block_maximum() {
        let (w, h) = (320, 240);
        let mut s = Stillness::new(w, h, 8);
        let f = texture(w, h, 0);
        measure_plane_u8(&mut s, &f, w);
        s.set_reference_to_current();
        let mut g = f.clone();
        // An 8x8 object of contrast 40 appears: 0.08% of the picture.
        for y in 100..108 {
            for x in 200..208 {
                g[y * w + x] = g[y * w + x].saturating_add(40);
            }
        }
        let st = measure_plane_u8(&mut s, &g, w);
        assert!(st.mafd < 0.05, "global mean dilutes it: {}", st.mafd);
        assert!(st.max_block_mad > 8.0);
        assert_eq!(classify(&st, &params()), Change::Strong);
    }

    #[test]
    fn grain_over_a_still_picture_is_still_only_in_grain_mode() {
        let (w, h) = (320, 240);
        let mut s = Stillness::new(w, h, 8);
        let f = texture(w, h, 0);
        let mut seed = 1;
        let mut noisy = |f: &[u8]| -> Vec<u8> {
            f.iter()
                .map(|&v| {
                    let n = (lcg(&mut seed) + lcg(&mut seed) + lcg(&mut seed) - 1.5) * 6.0;
                    (v as f64 + n).round().clamp(0.0, 255.0) as u8
                })
                .collect()
        };
        measure_plane_u8(&mut s, &noisy(&f), w);
        s.set_reference_to_current();
        let st = measure_plane_u8(&mut s, &noisy(&f), w);
        assert!(st.mafd > 1.0, "noise is visible to the SAD: {}", st.mafd);
        assert_eq!(
            classify(&st, &params()),
            Change::Still {
                exact: false,
                strict: false
            }
        );
        let strict = StillParams {
            grain: false,
            ..params()
        };
        assert_ne!(
            std::mem::discriminant(&classify(&st, &strict)),
            std::mem::discriminant(&Change::Still {
                exact: false,
                strict: false
            })
        );
        // A one pixel pan under the same grain is not still (a smooth texture may only be a weak
        // change per frame; the tracker never lets consecutive weak changes hold a freeze).
        let st = measure_plane_u8(&mut s, &noisy(&texture(w, h, 1)), w);
        assert!(!matches!(classify(&st, &params()), Change::Still { .. }));
    }

    #[test]
    fn reference_catches_slow_drift() {
        let (w, h) = (64, 64);
        let mut s = Stillness::new(w, h, 8);
        let mut f = texture(w, h, 0);
        measure_plane_u8(&mut s, &f, w);
        s.set_reference_to_current();
        let mut last = None;
        for _ in 0..20 {
            // A fade of 0.3 code values per frame: below every per-frame threshold...
            for v in f.iter_mut() {
                *v = v.saturating_sub(1);
            }
            let st = measure_plane_u8(&mut s, &f, w);
            last = Some(classify(&st, &params()));
            if last == Some(Change::Weak) || last == Some(Change::Strong) {
                break;
            }
        }
        // ...but the distance to the reference grows until it is a change.
        assert!(matches!(last, Some(Change::Weak) | Some(Change::Strong)));
    }

    #[test]
    fn black_ratio_and_mask() {
        let (w, h) = (32, 32);
        let mut s = Stillness::new(w, h, 8);
        s.set_black_threshold(37);
        let mut f = vec![16u8; w * h];
        // Right half bright.
        for y in 0..h {
            for x in 16..32 {
                f[y * w + x] = 200;
            }
        }
        let st = measure_plane_u8(&mut s, &f, w);
        assert!((st.black_ratio - 0.5).abs() < 1e-9);
        s.set_mask(&[true, false, true, false]);
        let st = measure_plane_u8(&mut s, &f, w);
        assert!((st.black_ratio - 1.0).abs() < 1e-9);
    }

    #[test]
    fn sixteen_bit_matches_eight_bit_scaled() {
        let (w, h) = (48, 40);
        let f8 = texture(w, h, 0);
        let g8 = texture(w, h, 3);
        let mut s8 = Stillness::new(w, h, 8);
        measure_plane_u8(&mut s8, &f8, w);
        let st8 = measure_plane_u8(&mut s8, &g8, w);
        let mut s10 = Stillness::new(w, h, 10);
        for plane in [&f8, &g8] {
            let p16: Vec<u16> = plane.iter().map(|&v| (v as u16) << 2).collect();
            for band in 0..h.div_ceil(BLOCK) {
                let y0 = band * BLOCK;
                let n = (h - y0).min(BLOCK);
                let rows: Vec<&[u16]> = (0..n)
                    .map(|r| &p16[(y0 + r) * w..(y0 + r + 1) * w])
                    .collect();
                s10.band_u16(band, &rows);
            }
            let st10 = s10.finish_frame();
            if st10.compared {
                assert!((st10.mafd - st8.mafd).abs() < 1e-9);
                assert!((st10.max_block_mad - st8.max_block_mad).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn sse2_and_scalar_agree() {
        let (w, h) = (64, 16);
        let f = texture(w, h, 5);
        let g = texture(w, h, 9);
        let rows: Vec<&[u8]> = (0..h).map(|r| &f[r * w..(r + 1) * w]).collect();
        for x0 in [0, 16, 32, 48] {
            let mut p1 = g.clone();
            let mut p2 = g.clone();
            let a = block16_u8(&rows, &mut p1, w, x0, 100);
            let b = block_tail_u8(&rows, &mut p2, w, x0, 100);
            assert_eq!(a, b);
            assert_eq!(p1, p2);
        }
    }
}
