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

/// Fewest analysed blocks from which their median MAD is taken as the noise floor (a 64x64
/// picture); below, grain is not discounted.
pub const MIN_FLOOR_BLOCKS: u32 = 16;

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

/// Classifies a frame from its measurements. `noise_floor` is asked only when the decision
/// depends on it (grain tolerance on a frame that is neither clearly still nor clearly moving), and
/// stored in `s`.
pub fn classify_with(
    s: &mut FrameStats,
    p: &StillParams,
    noise_floor: impl FnOnce() -> f64,
) -> Change {
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
    // Block means that moved further than a refresh may are motion, whatever the noise.
    if s.max_mean_delta > p.refresh || s.max_ref_delta > p.refresh || s.max_origin_delta > p.refresh
    {
        return Change::Strong;
    }
    // Noise and grain raise every block's MAD alike and average out of block means; motion raises a
    // few blocks well above the floor and moves their means.
    let (excess, mafd_excess) = if p.grain {
        s.noise_floor = noise_floor();
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
    if excess <= p.refresh && mafd_excess <= p.refresh / 8.0 {
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
    /// Per block column of the band being measured: SAD, sum and black count packed in 16-bit
    /// fields of two 64-bit lanes (16 rows of 8 pixels per lane never exceed 16 bits).
    acc: Vec<[u64; 2]>,
    /// AVX2 row kernel available (detected once at run time).
    avx2: bool,
    prev_sum: Vec<u32>,
    ref_sum: Vec<u32>,
    origin_sum: Vec<u32>,
    has_ref: bool,
    /// Blocks that take part in the analysis (regions).
    mask: Vec<bool>,
    /// Per block: 1 / (pixels x 2^(depth-8)), 0 for blocks outside the mask; turns sums into
    /// 8-bit-scale means with one multiplication.
    inv: Vec<f64>,
    /// Per block: all ones when included, else 0 (masks sums, no branch).
    w_incl: Vec<u32>,
    /// Per block: all ones when included and 16x16, else 0 (integer maxima over these).
    w_full: Vec<u32>,
    /// Included blocks that are not 16x16 (right and bottom edges), with their `inv`.
    edges: Vec<(usize, f64)>,
    /// Pixels and blocks included.
    included_pixels: u64,
    included_blocks: u32,
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
        let mut s = Stillness {
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
            acc: vec![[0; 2]; cols],
            avx2: detect_avx2(),
            prev_sum: vec![0; n],
            ref_sum: vec![0; n],
            origin_sum: vec![0; n],
            has_ref: false,
            mask: vec![true; n],
            inv: Vec::new(),
            w_incl: Vec::new(),
            w_full: Vec::new(),
            edges: Vec::new(),
            included_pixels: 0,
            included_blocks: 0,
            black_threshold: 0,
        };
        s.update_inv();
        s
    }

    /// Precomputes the per-block weights of the mask (at construction and on region changes).
    fn update_inv(&mut self) {
        let scale = f64::from(1u32 << (self.depth - 8));
        let n = self.cols * self.rows;
        let (mut inv, mut w_incl, mut w_full) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        self.edges.clear();
        self.included_pixels = 0;
        self.included_blocks = 0;
        for by in 0..self.rows {
            for bx in 0..self.cols {
                let i = by * self.cols + bx;
                let keep = self.mask[i];
                let px = self.block_pixels(bx, by);
                let full = px as usize == BLOCK * BLOCK;
                let v = if keep {
                    1.0 / (f64::from(px) * scale)
                } else {
                    0.0
                };
                inv.push(v);
                w_incl.push(if keep { u32::MAX } else { 0 });
                w_full.push(if keep && full { u32::MAX } else { 0 });
                if keep {
                    self.included_pixels += u64::from(px);
                    self.included_blocks += 1;
                    if !full {
                        self.edges.push((i, v));
                    }
                }
            }
        }
        self.inv = inv;
        self.w_incl = w_incl;
        self.w_full = w_full;
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
        self.update_inv();
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
    ///
    /// Rows are streamed in order (two sequential streams, prefetcher friendly); per-block sums
    /// stay in small accumulators.
    pub fn band_u8(&mut self, band: usize, rows: &[&[u8]]) {
        debug_assert!(self.depth == 8 && rows.len() <= BLOCK);
        let y0 = band * BLOCK;
        let w = self.width;
        let cols = self.cols;
        let base = band * cols;
        let thr = self.black_threshold.min(255) as u8;
        let full = w / BLOCK;
        self.acc.fill([0; 2]);
        let (mut tail_sad, mut tail_sum, mut tail_black) = (0, 0, 0);
        for (r, row) in rows.iter().enumerate() {
            let prev = &mut self.prev8[(y0 + r) * w..(y0 + r + 1) * w];
            let (cur, prev) = (&row[..w], prev);
            row_u8(
                &cur[..full * BLOCK],
                &mut prev[..full * BLOCK],
                thr,
                &mut self.acc[..full],
                self.avx2,
            );
            if full < cols {
                let (a, b, c) = span_u8(&cur[full * BLOCK..], &mut prev[full * BLOCK..], thr);
                tail_sad += a;
                tail_sum += b;
                tail_black += c;
            }
        }
        for (j, a) in self.acc[..full].iter().enumerate() {
            let field = |shift: u32| ((a[0] >> shift) & 0xffff) + ((a[1] >> shift) & 0xffff);
            self.sad[base + j] = field(0) as u32;
            self.sum[base + j] = field(16) as u32;
            self.black[base + j] = (field(32) / 255) as u32;
        }
        if full < cols {
            self.sad[base + full] = tail_sad;
            self.sum[base + full] = tail_sum;
            self.black[base + full] = tail_black;
        }
    }

    /// Measures one band of up to 16 rows of luma of 9 to 16 bits, starting at block row `band`.
    pub fn band_u16(&mut self, band: usize, rows: &[&[u16]]) {
        debug_assert!(self.depth > 8 && rows.len() <= BLOCK);
        let y0 = band * BLOCK;
        let w = self.width;
        let cols = self.cols;
        let base = band * cols;
        let thr = self.black_threshold;
        let (sad, sum, black) = (
            &mut self.sad[base..base + cols],
            &mut self.sum[base..base + cols],
            &mut self.black[base..base + cols],
        );
        sad.fill(0);
        sum.fill(0);
        black.fill(0);
        for (r, row) in rows.iter().enumerate() {
            let prev = &mut self.prev16[(y0 + r) * w..(y0 + r + 1) * w];
            #[cfg(target_arch = "x86_64")]
            if self.avx2 {
                // SAFETY: `avx2` is only true when the CPU has AVX2 (detect_avx2).
                unsafe { row_u16_avx2(&row[..w], prev, thr, sad, sum, black) };
                continue;
            }
            row_u16(&row[..w], prev, thr, sad, sum, black);
        }
    }

    fn block_pixels(&self, bx: usize, by: usize) -> u32 {
        let w = (self.width - bx * BLOCK).min(BLOCK);
        let h = (self.height - by * BLOCK).min(BLOCK);
        (w * h) as u32
    }

    /// Reduces the block measurements of the frame just fed into its [`FrameStats`]. The noise
    /// floor is left at 0; [`Stillness::classify`] computes it when it is needed.
    pub fn finish_frame(&mut self) -> FrameStats {
        let scale = f64::from(1u32 << (self.depth - 8));
        let n = self.sad.len();
        let (sad, sum, black) = (&self.sad[..n], &self.sum[..n], &self.black[..n]);
        let (prev, refs, origin) = (
            &self.prev_sum[..n],
            &self.ref_sum[..n],
            &self.origin_sum[..n],
        );
        let (wi, wf) = (&self.w_incl[..n], &self.w_full[..n]);
        let blocks = BlockFigures {
            sad,
            sum,
            black,
            prev,
            refs,
            origin,
            incl: wi,
            full: wf,
        };
        let Reduced {
            mut t_sad,
            t_sum,
            t_black,
            m_sad,
            m_mean,
            m_ref,
            m_origin,
        } = blocks.reduce(self.avx2);
        let inv_full = 1.0 / ((BLOCK * BLOCK) as f64 * scale);
        let (mut max_mad, mut max_mean, mut max_ref, mut max_origin) = (
            f64::from(m_sad) * inv_full,
            f64::from(m_mean) * inv_full,
            f64::from(m_ref) * inv_full,
            f64::from(m_origin) * inv_full,
        );
        for &(i, inv) in &self.edges {
            max_mad = max_mad.max(f64::from(sad[i]) * inv);
            max_mean = max_mean.max(f64::from(sum[i].abs_diff(prev[i])) * inv);
            max_ref = max_ref.max(f64::from(sum[i].abs_diff(refs[i])) * inv);
            max_origin = max_origin.max(f64::from(sum[i].abs_diff(origin[i])) * inv);
        }
        let compared = self.has_prev;
        if !compared {
            (t_sad, max_mad, max_mean) = (0, 0.0, 0.0);
        }
        if !self.has_ref {
            (max_ref, max_origin) = (0.0, 0.0);
        }
        self.prev_sum.copy_from_slice(&self.sum);
        self.has_prev = true;
        let pix = self.included_pixels.max(1) as f64;
        FrameStats {
            compared,
            exact: compared && t_sad == 0,
            mafd: t_sad as f64 / pix / scale,
            max_block_mad: max_mad,
            noise_floor: 0.0,
            max_mean_delta: max_mean,
            max_ref_delta: max_ref,
            max_origin_delta: max_origin,
            black_ratio: if self.included_pixels == 0 {
                0.0
            } else {
                t_black as f64 / pix
            },
            mean_luma: t_sum as f64 / pix / scale,
        }
    }

    /// Median block MAD of the frame last measured (8-bit code values): the level of grain or
    /// noise, which raises every block alike.
    pub fn noise_floor(&self) -> f64 {
        // The median stands for the floor only when motion can be the minority: with a handful
        // of blocks (a tiny picture or region) the moving block is the median, and motion would
        // be discounted as grain.
        if self.included_blocks < MIN_FLOOR_BLOCKS {
            return 0.0;
        }
        let mut hist = [0u32; HIST_BINS];
        for (&sad, &inv) in self.sad.iter().zip(&self.inv) {
            if inv != 0.0 {
                hist[((f64::from(sad) * inv * (1.0 / HIST_STEP)) as usize).min(HIST_BINS - 1)] += 1;
            }
        }
        let half = self.included_blocks.div_ceil(2);
        let mut acc = 0;
        for (b, &c) in hist.iter().enumerate() {
            acc += c;
            if acc >= half {
                return (b as f64 + 0.5) * HIST_STEP;
            }
        }
        0.0
    }

    /// Classifies the frame last measured, computing its noise floor only if needed.
    pub fn classify(&self, s: &mut FrameStats, p: &StillParams) -> Change {
        classify_with(s, p, || self.noise_floor())
    }

    /// Included blocks of the frame last measured with at least `share` of their pixels above
    /// the black threshold: what is visible on a black picture.
    pub fn content_blocks(&self, share: f64) -> u32 {
        let mut n = 0;
        for by in 0..self.rows {
            for bx in 0..self.cols {
                let i = by * self.cols + bx;
                if !self.mask[i] {
                    continue;
                }
                let px = f64::from(self.block_pixels(bx, by));
                if px - f64::from(self.black[i]) >= share * px {
                    n += 1;
                }
            }
        }
        n
    }
}

impl super::tracker::Features for Stillness {
    fn noise_floor(&self) -> f64 {
        Stillness::noise_floor(self)
    }

    fn content_blocks(&self) -> u32 {
        Stillness::content_blocks(self, super::tracker::CONTENT_SHARE)
    }
}

/// The per-block figures of one frame and the masks of the blocks that count.
struct BlockFigures<'a> {
    sad: &'a [u32],
    sum: &'a [u32],
    black: &'a [u32],
    prev: &'a [u32],
    refs: &'a [u32],
    origin: &'a [u32],
    /// All ones for included blocks.
    incl: &'a [u32],
    /// All ones for included 16x16 blocks.
    full: &'a [u32],
}

/// Totals over included blocks and maxima over included 16x16 blocks, in native sums.
#[derive(Debug, Default, PartialEq)]
struct Reduced {
    t_sad: u64,
    t_sum: u64,
    t_black: u64,
    m_sad: u32,
    m_mean: u32,
    m_ref: u32,
    m_origin: u32,
}

impl BlockFigures<'_> {
    fn reduce(&self, avx2: bool) -> Reduced {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is only true when the CPU has AVX2 (detect_avx2).
            return unsafe { self.reduce_avx2() };
        }
        let _ = avx2;
        self.reduce_portable()
    }

    /// [`BlockFigures::reduce_portable`] compiled for AVX2 (unsigned 32-bit maxima in vectors).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn reduce_avx2(&self) -> Reduced {
        self.reduce_portable()
    }

    /// Branch-free, 8 blocks at a time in lane accumulators the compiler keeps in vector
    /// registers; the last `n % 8` blocks through one lane.
    #[inline(always)]
    fn reduce_portable(&self) -> Reduced {
        let n = self.sad.len();
        let mut out = Reduced::default();
        let mut wide = Lanes::<8>::default();
        let mut i = 0;
        while i + 8 <= n {
            wide.add(self, i);
            i += 8;
            // A block figure is below 2^24 (256 samples of at most 16 bits): 32-bit lane totals
            // hold 2^8 of them; they are moved to the 64-bit totals every 8 steps.
            if (i / 8).is_multiple_of(8) {
                wide.drain_totals(&mut out);
            }
        }
        let mut narrow = Lanes::<1>::default();
        for k in i..n {
            narrow.add(self, k);
        }
        wide.drain(&mut out);
        narrow.drain(&mut out);
        out
    }
}

/// Per-lane totals and maxima of [`BlockFigures::reduce_portable`].
struct Lanes<const L: usize> {
    sad: [u32; L],
    sum: [u32; L],
    black: [u32; L],
    m_sad: [u32; L],
    m_mean: [u32; L],
    m_ref: [u32; L],
    m_origin: [u32; L],
}

impl<const L: usize> Default for Lanes<L> {
    fn default() -> Self {
        Lanes {
            sad: [0; L],
            sum: [0; L],
            black: [0; L],
            m_sad: [0; L],
            m_mean: [0; L],
            m_ref: [0; L],
            m_origin: [0; L],
        }
    }
}

impl<const L: usize> Lanes<L> {
    /// Adds blocks `at .. at + L`.
    #[inline(always)]
    fn add(&mut self, f: &BlockFigures, at: usize) {
        let r = at..at + L;
        let (sad, sum, black) = (&f.sad[r.clone()], &f.sum[r.clone()], &f.black[r.clone()]);
        let (prev, refs, origin) = (&f.prev[r.clone()], &f.refs[r.clone()], &f.origin[r.clone()]);
        let (wi, wf) = (&f.incl[r.clone()], &f.full[r]);
        for k in 0..L {
            self.sad[k] += sad[k] & wi[k];
            self.sum[k] += sum[k] & wi[k];
            self.black[k] += black[k] & wi[k];
            self.m_sad[k] = self.m_sad[k].max(sad[k] & wf[k]);
            self.m_mean[k] = self.m_mean[k].max(sum[k].abs_diff(prev[k]) & wf[k]);
            self.m_ref[k] = self.m_ref[k].max(sum[k].abs_diff(refs[k]) & wf[k]);
            self.m_origin[k] = self.m_origin[k].max(sum[k].abs_diff(origin[k]) & wf[k]);
        }
    }

    /// Moves the lane totals into `out`.
    fn drain_totals(&mut self, out: &mut Reduced) {
        for k in 0..L {
            out.t_sad += u64::from(std::mem::take(&mut self.sad[k]));
            out.t_sum += u64::from(std::mem::take(&mut self.sum[k]));
            out.t_black += u64::from(std::mem::take(&mut self.black[k]));
        }
    }

    /// Moves the lane totals and maxima into `out`.
    fn drain(&mut self, out: &mut Reduced) {
        self.drain_totals(out);
        let max = |m: &[u32; L]| m.iter().copied().max().unwrap_or(0);
        out.m_sad = out.m_sad.max(max(&self.m_sad));
        out.m_mean = out.m_mean.max(max(&self.m_mean));
        out.m_ref = out.m_ref.max(max(&self.m_ref));
        out.m_origin = out.m_origin.max(max(&self.m_origin));
    }
}

/// Adds one row's SAD, sum and black count (in 0xff units) to the packed block accumulators,
/// copying the row into `prev`. `cur` holds whole blocks only.
#[inline]
fn row_u8(cur: &[u8], prev: &mut [u8], thr: u8, acc: &mut [[u64; 2]], avx2: bool) {
    assert!(cur.len() == prev.len() && cur.len() == acc.len() * BLOCK);
    #[cfg(target_arch = "x86_64")]
    {
        if avx2 {
            let pairs = acc.len() / 2;
            // SAFETY: `avx2` is only true when the CPU has AVX2 (detect_avx2); lengths checked.
            unsafe {
                row_u8_avx2(
                    &cur[..pairs * 32],
                    &mut prev[..pairs * 32],
                    thr,
                    &mut acc[..pairs * 2],
                )
            };
            if pairs * 2 < acc.len() {
                let o = pairs * 32;
                // SAFETY: SSE2 is part of the x86_64 baseline.
                unsafe { row_u8_sse2(&cur[o..], &mut prev[o..], thr, &mut acc[pairs * 2..]) };
            }
        } else {
            // SAFETY: SSE2 is part of the x86_64 baseline; lengths are checked above.
            unsafe { row_u8_sse2(cur, prev, thr, acc) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = avx2;
        row_u8_scalar(cur, prev, thr, acc)
    }
}

fn detect_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Two blocks per step; same packing as the SSE2 kernel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_u8_avx2(cur: &[u8], prev: &mut [u8], thr: u8, acc: &mut [[u64; 2]]) {
    use std::arch::x86_64::*;
    debug_assert!(cur.len() == acc.len() * BLOCK && acc.len().is_multiple_of(2));
    unsafe {
        let zero = _mm256_setzero_si256();
        let t = _mm256_set1_epi8(thr as i8);
        let cp = cur.as_ptr();
        let pp = prev.as_mut_ptr();
        let ap = acc.as_mut_ptr() as *mut __m256i;
        for j in 0..acc.len() / 2 {
            let cv = _mm256_loadu_si256(cp.add(j * 32) as *const __m256i);
            let pv = _mm256_loadu_si256(pp.add(j * 32) as *const __m256i);
            _mm256_storeu_si256(pp.add(j * 32) as *mut __m256i, cv);
            let is_black = _mm256_cmpeq_epi8(_mm256_subs_epu8(cv, t), zero);
            let packed = _mm256_or_si256(
                _mm256_or_si256(
                    _mm256_sad_epu8(cv, pv),
                    _mm256_slli_epi64::<16>(_mm256_sad_epu8(cv, zero)),
                ),
                _mm256_slli_epi64::<32>(_mm256_sad_epu8(is_black, zero)),
            );
            let a = _mm256_loadu_si256(ap.add(j));
            _mm256_storeu_si256(ap.add(j), _mm256_add_epi64(a, packed));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn row_u8_sse2(cur: &[u8], prev: &mut [u8], thr: u8, acc: &mut [[u64; 2]]) {
    use std::arch::x86_64::*;
    unsafe {
        let zero = _mm_setzero_si128();
        let t = _mm_set1_epi8(thr as i8);
        let cp = cur.as_ptr();
        let pp = prev.as_mut_ptr();
        let ap = acc.as_mut_ptr() as *mut __m128i;
        for j in 0..acc.len() {
            let cv = _mm_loadu_si128(cp.add(j * BLOCK) as *const __m128i);
            let pv = _mm_loadu_si128(pp.add(j * BLOCK) as *const __m128i);
            _mm_storeu_si128(pp.add(j * BLOCK) as *mut __m128i, cv);
            // 0xff where c <= thr (saturating c - thr is zero), summed with psadbw.
            let is_black = _mm_cmpeq_epi8(_mm_subs_epu8(cv, t), zero);
            let packed = _mm_or_si128(
                _mm_or_si128(
                    _mm_sad_epu8(cv, pv),
                    _mm_slli_epi64::<16>(_mm_sad_epu8(cv, zero)),
                ),
                _mm_slli_epi64::<32>(_mm_sad_epu8(is_black, zero)),
            );
            let a = _mm_loadu_si128(ap.add(j));
            _mm_storeu_si128(ap.add(j), _mm_add_epi64(a, packed));
        }
    }
}

#[cfg(any(not(target_arch = "x86_64"), test))]
fn row_u8_scalar(cur: &[u8], prev: &mut [u8], thr: u8, acc: &mut [[u64; 2]]) {
    for ((c, p), a) in cur
        .chunks_exact(BLOCK)
        .zip(prev.chunks_exact_mut(BLOCK))
        .zip(acc.iter_mut())
    {
        for (half, lane) in a.iter_mut().enumerate() {
            let r = half * 8..half * 8 + 8;
            let (s, u, _) = span_u8(&c[r.clone()], &mut p[r.clone()], 0);
            let b = c[r].iter().filter(|&&v| v <= thr).count() as u64 * 255;
            *lane += u64::from(s) | (u64::from(u) << 16) | (b << 32);
        }
    }
}

/// Adds one row of 16-bit luma to its blocks' SAD, sum and black count, copying it into `prev`.
/// Written so that the compiler vectorises the 16-sample inner loop.
#[inline(always)]
fn row_u16(
    cur: &[u16],
    prev: &mut [u16],
    thr: u16,
    sad: &mut [u32],
    sum: &mut [u32],
    black: &mut [u32],
) {
    let full = cur.len() / BLOCK;
    let blocks = cur[..full * BLOCK]
        .chunks_exact(BLOCK)
        .zip(prev[..full * BLOCK].chunks_exact_mut(BLOCK));
    for (((c, p), (s, u)), b) in blocks
        .zip(sad.iter_mut().zip(sum.iter_mut()))
        .zip(black.iter_mut())
    {
        let c: &[u16; BLOCK] = c.try_into().unwrap();
        let p: &mut [u16; BLOCK] = p.try_into().unwrap();
        let (mut ds, mut du, mut db) = (0u32, 0u32, 0u32);
        for k in 0..BLOCK {
            ds += u32::from(c[k].abs_diff(p[k]));
            du += u32::from(c[k]);
            db += u32::from(c[k] <= thr);
        }
        *p = *c;
        *s += ds;
        *u += du;
        *b += db;
    }
    if full * BLOCK < cur.len() {
        for (c, p) in cur[full * BLOCK..].iter().zip(&mut prev[full * BLOCK..]) {
            sad[full] += u32::from(c.abs_diff(*p));
            sum[full] += u32::from(*c);
            black[full] += u32::from(*c <= thr);
            *p = *c;
        }
    }
}

/// [`row_u16`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_u16_avx2(
    cur: &[u16],
    prev: &mut [u16],
    thr: u16,
    sad: &mut [u32],
    sum: &mut [u32],
    black: &mut [u32],
) {
    row_u16(cur, prev, thr, sad, sum, black)
}

/// SAD, sum and black count of a span of one row, copying it into `prev`.
fn span_u8(cur: &[u8], prev: &mut [u8], thr: u8) -> (u32, u32, u32) {
    let (mut sad, mut sum, mut black) = (0u32, 0u32, 0u32);
    for (c, p) in cur.iter().zip(prev.iter_mut()) {
        sad += c.abs_diff(*p) as u32;
        sum += *c as u32;
        black += (*c <= thr) as u32;
        *p = *c;
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

/// Feeds a whole plane of 9 to 16-bit luma (`stride` samples per row) through `s`; for tests and
/// benchmarks.
pub fn measure_plane_u16(s: &mut Stillness, plane: &[u16], stride: usize) -> FrameStats {
    let (w, h) = (s.width(), s.height());
    let mut rows: [&[u16]; BLOCK] = [&[]; BLOCK];
    for band in 0..h.div_ceil(BLOCK) {
        let y0 = band * BLOCK;
        let n = (h - y0).min(BLOCK);
        for (r, row) in rows.iter_mut().enumerate().take(n) {
            let off = (y0 + r) * stride;
            *row = &plane[off..off + w];
        }
        s.band_u16(band, &rows[..n]);
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
    fn reduction_matches_a_plain_loop() {
        let mut seed = 7u64;
        for n in [1usize, 7, 8, 9, 64, 65, 8160] {
            let mut v =
                |m: f64| -> Vec<u32> { (0..n).map(|_| (lcg(&mut seed) * m) as u32).collect() };
            let (sad, sum, black) = (v(65280.0), v(16_700_000.0), v(256.0));
            let (prev, refs, origin) = (v(16_700_000.0), v(16_700_000.0), v(16_700_000.0));
            let incl: Vec<u32> = v(1.3)
                .iter()
                .map(|&b| if b == 0 { u32::MAX } else { 0 })
                .collect();
            let full: Vec<u32> = incl
                .iter()
                .zip(v(1.2))
                .map(|(&i, b)| if b == 0 { i } else { 0 })
                .collect();
            let f = BlockFigures {
                sad: &sad,
                sum: &sum,
                black: &black,
                prev: &prev,
                refs: &refs,
                origin: &origin,
                incl: &incl,
                full: &full,
            };
            let mut want = Reduced::default();
            for k in 0..n {
                if incl[k] != 0 {
                    want.t_sad += u64::from(sad[k]);
                    want.t_sum += u64::from(sum[k]);
                    want.t_black += u64::from(black[k]);
                }
                if full[k] != 0 {
                    want.m_sad = want.m_sad.max(sad[k]);
                    want.m_mean = want.m_mean.max(sum[k].abs_diff(prev[k]));
                    want.m_ref = want.m_ref.max(sum[k].abs_diff(refs[k]));
                    want.m_origin = want.m_origin.max(sum[k].abs_diff(origin[k]));
                }
            }
            assert!(want.t_sad > 0 || n < 8, "the masks must keep some blocks");
            assert_eq!(f.reduce(false), want, "portable, {n} blocks");
            assert_eq!(f.reduce(detect_avx2()), want, "dispatched, {n} blocks");
        }
    }

    #[test]
    fn first_frame_is_not_compared() {
        let (w, h) = (100, 60);
        let mut s = Stillness::new(w, h, 8);
        let st = measure_plane_u8(&mut s, &texture(w, h, 0), w);
        assert!(!st.compared);
        assert_eq!(s.classify(&mut st.clone(), &params()), Change::Strong);
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
            s.classify(&mut st.clone(), &params()),
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
        assert_eq!(s.classify(&mut st.clone(), &params()), Change::Strong);
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
            s.classify(&mut st.clone(), &params()),
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
            std::mem::discriminant(&s.classify(&mut st.clone(), &strict)),
            std::mem::discriminant(&Change::Still {
                exact: false,
                strict: false
            })
        );
        // A one pixel pan under the same grain is not still (a smooth texture may only be a weak
        // change per frame; the tracker never lets consecutive weak changes hold a freeze).
        let st = measure_plane_u8(&mut s, &noisy(&texture(w, h, 1)), w);
        assert!(!matches!(
            s.classify(&mut st.clone(), &params()),
            Change::Still { .. }
        ));
    }

    #[test]
    fn a_tiny_moving_picture_is_not_grain() {
        // One 16x16 block: its own MAD would be the floor and hide any motion.
        let (w, h) = (16, 16);
        let mut s = Stillness::new(w, h, 8);
        measure_plane_u8(&mut s, &texture(w, h, 0), w);
        s.set_reference_to_current();
        let mut st = measure_plane_u8(&mut s, &texture(w, h, 1), w);
        assert!(st.max_block_mad > 2.0, "{}", st.max_block_mad);
        assert!(!matches!(
            s.classify(&mut st, &params()),
            Change::Still { .. }
        ));
        assert_eq!(st.noise_floor, 0.0);
        // From 16 blocks on, the floor is the median again (grain on a 64x64 still picture).
        let (w, h) = (64, 64);
        let mut s = Stillness::new(w, h, 8);
        let f = texture(w, h, 0);
        measure_plane_u8(&mut s, &f, w);
        s.set_reference_to_current();
        let grainy: Vec<u8> = f
            .iter()
            .enumerate()
            .map(|(i, &v)| v.saturating_add(((i * 7919) % 5) as u8))
            .collect();
        measure_plane_u8(&mut s, &grainy, w);
        assert!(s.noise_floor() > 0.0);
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
            last = Some(s.classify(&mut st.clone(), &params()));
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
            let st10 = measure_plane_u16(&mut s10, &p16, w);
            if st10.compared {
                assert!((st10.mafd - st8.mafd).abs() < 1e-9);
                assert!((st10.max_block_mad - st8.max_block_mad).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn sse2_and_scalar_agree() {
        let (w, h) = (64, 1);
        let f = texture(w, h, 5);
        let g = texture(w, h, 9);
        let mut p2 = g.clone();
        let mut b = vec![[0u64; 2]; 4];
        row_u8_scalar(&f, &mut p2, 100, &mut b);
        for avx2 in [false, detect_avx2()] {
            let mut p1 = g.clone();
            let mut a = vec![[0u64; 2]; 4];
            row_u8(&f, &mut p1, 100, &mut a, avx2);
            assert_eq!(a, b, "avx2 {avx2}");
            assert_eq!(p1, p2);
            assert_eq!(p1, f);
        }
    }
}
