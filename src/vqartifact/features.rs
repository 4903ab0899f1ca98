// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! One pass over the luma rows of a frame, collecting everything vqartifact decides on.
//!
//! Cells are 16x16 pixels (one macroblock) aligned to the analysis origin. The frame is read in
//! bands of 16 rows, in strips of 32 columns: for each strip the horizontal gradient
//! `|p[x] - p[x-1]|` of the band's rows is summed per column in registers (u16 lanes: 16 rows of
//! 8-bit steps fit), and the vertical gradient `|p[y][x] - p[y-1][x]|` and the luma are summed per
//! 16-pixel segment and row (`vpsadbw`). The per-column sums give every cell's left edge step, the
//! steps beside it and its interior activity, and add up to the picture's column profile; the
//! per-row vertical sums give top edges, interior activity and the row profile. AVX2 is used when
//! the CPU has it (checked at run time), portable code otherwise. Nothing is allocated per frame:
//! buffers are sized at caps time.

/// Cell size in pixels (an H.264/MPEG-2 macroblock).
pub const CELL: usize = 16;

/// The per-frame measurements.
pub struct Features {
    max_w: usize,
    max_h: usize,
    /// Analysed width and height of the current frame.
    w: usize,
    h: usize,
    /// Cells per row and rows of cells (full 16x16 cells only).
    cols: usize,
    rows: usize,
    /// Sums of the current band.
    sums: BandSums,
    /// Column profile of the frame: horizontal steps summed over all rows.
    pub colprof: Vec<u32>,
    /// Row profile: vertical steps summed over each row (row 0 is 0).
    pub rowprof: Vec<u32>,
    /// Per cell: step across the left edge, summed over the cell's 16 rows.
    pub left_b: Vec<u16>,
    /// Per cell: the steps just inside and just outside the left edge, summed.
    pub left_a: Vec<u16>,
    /// Per cell: step across the top edge, summed over the cell's 16 columns.
    pub top_b: Vec<u16>,
    /// Per cell: the steps just above and just below the top edge, summed.
    pub top_a: Vec<u16>,
    /// Per cell: horizontal steps inside the cell (15 per row), summed.
    pub hint: Vec<u32>,
    /// Per cell: vertical steps inside the cell (15 per column), summed.
    pub vint: Vec<u32>,
    /// Per cell: luma sum.
    pub lsum: Vec<u32>,
    /// Per column of cells: the vertical step between rows 14 and 15 of the band above.
    above: Vec<u16>,

    y: usize,
}

impl Features {
    pub fn new(max_w: usize, max_h: usize) -> Self {
        let cols = max_w / CELL;
        let cells = cols * (max_h / CELL);
        let segs = max_w.div_ceil(CELL);
        Features {
            max_w,
            max_h,
            w: 0,
            h: 0,
            cols: 0,
            rows: 0,
            sums: BandSums::new(max_w),
            colprof: vec![0; max_w],
            rowprof: vec![0; max_h],
            left_b: vec![0; cells],
            left_a: vec![0; cells],
            top_b: vec![0; cells],
            top_a: vec![0; cells],
            hint: vec![0; cells],
            vint: vec![0; cells],
            lsum: vec![0; cells],
            above: vec![0; segs],

            y: 0,
        }
    }

    /// Starts a frame whose analysed area is `w` x `h` (at most the size given at creation).
    pub fn begin(&mut self, w: usize, h: usize) {
        let (w, h) = (w.min(self.max_w), h.min(self.max_h));
        self.w = w;
        self.h = h;
        self.cols = w / CELL;
        self.rows = h / CELL;
        self.y = 0;
        self.colprof[..w].fill(0);
        self.rowprof[..h].fill(0);
        let n = self.cols * self.rows;
        self.vint[..n].fill(0);
        self.lsum[..n].fill(0);
        self.top_b[..n].fill(0);
        self.top_a[..n].fill(0);
    }

    pub fn width(&self) -> usize {
        self.w
    }

    pub fn height(&self) -> usize {
        self.h
    }

    /// Cells per row and rows of cells of the current frame.
    pub fn grid(&self) -> (usize, usize) {
        (self.cols, self.rows)
    }

    /// Measures a whole plane: row y is `data[offset + y * stride ..][..w]`.
    pub fn plane(&mut self, data: &[u8], stride: usize, offset: usize) {
        let (w, h) = (self.w, self.h);
        let row = |y: usize| &data[offset + y * stride..offset + y * stride + w];
        let mut rows: [&[u8]; CELL] = [&[]; CELL];
        for b in 0..h.div_ceil(CELL) {
            let y0 = b * CELL;
            let n = (h - y0).min(CELL);
            for (r, slot) in rows.iter_mut().enumerate().take(n) {
                *slot = row(y0 + r);
            }
            self.band(&rows[..n], (y0 > 0).then(|| row(y0 - 1)));
        }
    }

    /// Adds the next band: up to 16 rows of `w` 8-bit luma samples; `above` is the row above the
    /// band (`None` for the first band). Bands must come in order; only the last may be short.
    pub fn band(&mut self, rows: &[&[u8]], above: Option<&[u8]>) {
        let w = self.w;
        let y0 = self.y;
        let n = rows.len().min(CELL).min(self.h.saturating_sub(y0));
        if n == 0 {
            return;
        }
        let segs = w.div_ceil(CELL);
        band_sums(&rows[..n], above, w, &mut self.sums);
        let band = y0 / CELL;
        let cols = self.cols;
        let b = &self.sums;
        for r in 0..n {
            if y0 + r > 0 {
                self.rowprof[y0 + r] = b.rowsum[r];
            }
        }
        let full = n == CELL && band < self.rows;
        if full {
            let base = band * cols;
            for c in 0..cols {
                let i = base + c;
                self.lsum[i] = u32::from(b.lseg[c]);
                self.top_b[i] = b.v0[c];
                self.top_a[i] = if above.is_some() {
                    self.above[c].saturating_add(b.v1[c])
                } else {
                    0
                };
                self.vint[i] = b.vint[c];
            }
        }
        if n == CELL {
            self.above[..segs].copy_from_slice(&b.vlast[..segs]);
        }
        self.finish_band(band, full);
        self.y += n;
    }

    fn finish_band(&mut self, band: usize, cells: bool) {
        let w = self.w;
        let hacc = &self.sums.hacc;
        for (p, &h) in self.colprof[..w].iter_mut().zip(&hacc[..w]) {
            *p += u32::from(h);
        }
        if !cells {
            return;
        }
        let base = band * self.cols;
        // Cells are whole (cols = w / 16), so every cell's 16 columns are in `hacc`.
        for (c, seg) in hacc[..self.cols * CELL].chunks_exact(CELL).enumerate() {
            let x0 = c * CELL;
            let i = base + c;
            if x0 >= 1 {
                self.left_b[i] = seg[0];
                self.left_a[i] = hacc[x0 - 1].saturating_add(seg[1]);
            } else {
                self.left_b[i] = 0;
                self.left_a[i] = 0;
            }
            // The 15 steps inside the cell: all 16 summed (a fixed-size sum the compiler
            // vectorises) less the step across its left edge.
            let seg: &[u16; CELL] = seg.try_into().expect("whole cell");
            self.hint[i] = seg.iter().map(|&v| u32::from(v)).sum::<u32>() - u32::from(seg[0]);
        }
    }
}

/// What one band of up to 16 rows yields. Vertical steps of row r are against row r - 1, and
/// against the row above the band for r = 0 (0 without one).
pub struct BandSums {
    /// Horizontal steps per column (x >= 1), summed over the band's rows.
    pub hacc: Vec<u16>,
    /// Per 16-pixel segment: vertical steps of row 0, of row 1, and of the last row.
    pub v0: Vec<u16>,
    pub v1: Vec<u16>,
    pub vlast: Vec<u16>,
    /// Per segment: vertical steps of rows 1.. summed (the cells' interior).
    pub vint: Vec<u32>,
    /// Per segment: luma sum.
    pub lseg: Vec<u16>,
    /// Per row: vertical steps over the whole width.
    pub rowsum: [u32; CELL],
}

impl BandSums {
    pub fn new(max_w: usize) -> Self {
        let segs = max_w.div_ceil(CELL);
        BandSums {
            hacc: vec![0; max_w],
            v0: vec![0; segs],
            v1: vec![0; segs],
            vlast: vec![0; segs],
            vint: vec![0; segs],
            lseg: vec![0; segs],
            rowsum: [0; CELL],
        }
    }
}

/// Computes the sums of one band of `w` columns.
pub fn band_sums(rows: &[&[u8]], above: Option<&[u8]>, w: usize, out: &mut BandSums) {
    out.rowsum = [0; CELL];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available, checked just above.
            let done = unsafe { x86::band_avx2(rows, above, w, out) };
            band_portable(rows, above, w, done, out);
            return;
        }
    }
    band_portable(rows, above, w, 0, out);
}

/// Portable version, for columns from `from` (a multiple of 32) on; adds to `rowsum`.
pub fn band_portable(
    rows: &[&[u8]],
    above: Option<&[u8]>,
    w: usize,
    from: usize,
    out: &mut BandSums,
) {
    if from >= w || rows.is_empty() {
        return;
    }
    let n = rows.len();
    out.hacc[from..w].fill(0);
    for row in rows {
        let row = &row[..w];
        for x in from.max(1)..w {
            out.hacc[x] += u16::from(row[x].abs_diff(row[x - 1]));
        }
    }
    for s in from / CELL..w.div_ceil(CELL) {
        let (a, b) = (s * CELL, ((s + 1) * CELL).min(w));
        out.lseg[s] = rows
            .iter()
            .map(|r| r[a..b].iter().map(|&v| u16::from(v)).sum::<u16>())
            .sum();
        out.vint[s] = 0;
        for (r, row) in rows.iter().enumerate() {
            let prev = if r > 0 { Some(rows[r - 1]) } else { above };
            let v: u16 = match prev {
                Some(p) => row[a..b]
                    .iter()
                    .zip(&p[a..b])
                    .map(|(&x, &y)| u16::from(x.abs_diff(y)))
                    .sum(),
                None => 0,
            };
            match r {
                0 => out.v0[s] = v,
                1 => out.v1[s] = v,
                _ => (),
            }
            if r >= 1 {
                out.vint[s] += u32::from(v);
            }
            if r + 1 == n {
                out.vlast[s] = v;
            }
            out.rowsum[r] += u32::from(v);
        }
        if n < 2 {
            out.v1[s] = 0;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BandSums, CELL};
    use std::arch::x86_64::*;

    /// The band sums for whole 32-column strips; returns the first column not done.
    #[target_feature(enable = "avx2")]
    pub unsafe fn band_avx2(
        rows: &[&[u8]],
        above: Option<&[u8]>,
        w: usize,
        out: &mut BandSums,
    ) -> usize {
        let strips = w / 32;
        let n = rows.len();
        if strips == 0 || n == 0 {
            return 0;
        }
        assert!(n <= CELL);
        assert!(rows.iter().all(|r| r.len() >= w) && above.is_none_or(|a| a.len() >= w));
        assert!(out.hacc.len() >= w && out.lseg.len() >= 2 * strips);
        // The two 16-pixel segment sums of a vpsadbw result over 32 pixels.
        let halves = |v: __m256i| -> (u64, u64) {
            let lo = _mm256_castsi256_si128(v);
            let hi = _mm256_extracti128_si256::<1>(v);
            (
                (_mm_cvtsi128_si64(lo) + _mm_extract_epi64::<1>(lo)) as u64,
                (_mm_cvtsi128_si64(hi) + _mm_extract_epi64::<1>(hi)) as u64,
            )
        };
        let zero = _mm256_setzero_si256();
        let mut rowv = [zero; CELL];
        // SAFETY: every load reads 32 bytes at x (or x - 1 with x >= 32) of a row of at least w
        // bytes with x + 32 <= w (asserted above); stores write hacc[x .. x + 32], x + 32 <= w.
        unsafe {
            for k in 0..strips {
                let x = 32 * k;
                let (mut lo, mut hi, mut luma, mut vint) = (zero, zero, zero, zero);
                let (mut v0, mut v1, mut vlast) = (zero, zero, zero);
                // The row above, as loaded for the previous row of this strip.
                let mut up = above.map(|q| _mm256_loadu_si256(q.as_ptr().add(x) as *const __m256i));
                for (r, row) in rows.iter().enumerate() {
                    let p = row.as_ptr();
                    // Rows are walked across, not along: fetch ahead of each row's stream.
                    if x + 256 < w {
                        _mm_prefetch::<_MM_HINT_T0>(p.add(x + 256) as *const i8);
                    }
                    let a = _mm256_loadu_si256(p.add(x) as *const __m256i);
                    if k > 0 {
                        let b = _mm256_loadu_si256(p.add(x - 1) as *const __m256i);
                        let d = _mm256_or_si256(_mm256_subs_epu8(a, b), _mm256_subs_epu8(b, a));
                        lo = _mm256_add_epi16(lo, _mm256_cvtepu8_epi16(_mm256_castsi256_si128(d)));
                        hi = _mm256_add_epi16(
                            hi,
                            _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(d)),
                        );
                    }
                    if let Some(b) = up {
                        let v = _mm256_sad_epu8(a, b);
                        rowv[r] = _mm256_add_epi64(rowv[r], v);
                        match r {
                            0 => v0 = v,
                            1 => v1 = v,
                            _ => (),
                        }
                        if r >= 1 {
                            vint = _mm256_add_epi64(vint, v);
                        }
                        if r + 1 == n {
                            vlast = v;
                        }
                    }
                    up = Some(a);
                    luma = _mm256_add_epi64(luma, _mm256_sad_epu8(a, zero));
                }
                let s = 2 * k;
                let (a, b) = halves(luma);
                (out.lseg[s], out.lseg[s + 1]) = (a as u16, b as u16);
                let (a, b) = halves(vint);
                (out.vint[s], out.vint[s + 1]) = (a as u32, b as u32);
                let (a, b) = halves(v0);
                (out.v0[s], out.v0[s + 1]) = (a as u16, b as u16);
                let (a, b) = halves(v1);
                (out.v1[s], out.v1[s + 1]) = (a as u16, b as u16);
                let (a, b) = halves(vlast);
                (out.vlast[s], out.vlast[s + 1]) = (a as u16, b as u16);
                if k > 0 {
                    let dst = out.hacc.as_mut_ptr().add(x) as *mut __m256i;
                    _mm256_storeu_si256(dst, lo);
                    _mm256_storeu_si256(dst.add(1), hi);
                }
            }
        }
        for (r, v) in rowv.iter().enumerate().take(n) {
            let (a, b) = halves(*v);
            out.rowsum[r] = (a + b) as u32;
        }
        // The first strip's horizontal steps (column 0 has none).
        out.hacc[..32].fill(0);
        for row in rows {
            for x in 1..32 {
                out.hacc[x] += u16::from(row[x].abs_diff(row[x - 1]));
            }
        }
        32 * strips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(rows: &[Vec<u8>], w: usize) -> (Vec<u32>, Vec<u32>) {
        let mut col = vec![0u32; w];
        let mut rowp = vec![0u32; rows.len()];
        for (y, r) in rows.iter().enumerate() {
            for x in 1..w {
                col[x] += u32::from(r[x].abs_diff(r[x - 1]));
            }
            if y > 0 {
                rowp[y] = (0..w)
                    .map(|x| u32::from(r[x].abs_diff(rows[y - 1][x])))
                    .sum();
            }
        }
        (col, rowp)
    }

    /// Feeds a picture band by band.
    pub fn feed(f: &mut Features, rows: &[Vec<u8>]) {
        for (b, band) in rows.chunks(CELL).enumerate() {
            let slices: Vec<&[u8]> = band.iter().map(|r| r.as_slice()).collect();
            let above = (b > 0).then(|| rows[b * CELL - 1].as_slice());
            f.band(&slices, above);
        }
    }

    #[test]
    fn simd_matches_portable() {
        let (w, n) = (333usize, 16usize);
        let mut seed = 99u32;
        let rows: Vec<Vec<u8>> = (0..=n)
            .map(|_| {
                (0..w)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (seed >> 24) as u8
                    })
                    .collect()
            })
            .collect();
        let slices: Vec<&[u8]> = rows[1..].iter().map(|r| r.as_slice()).collect();
        let run = |portable: bool| {
            let mut b = BandSums::new(w);
            b.rowsum = [0; CELL];
            if portable {
                band_portable(&slices, Some(&rows[0]), w, 0, &mut b);
            } else {
                band_sums(&slices, Some(&rows[0]), w, &mut b);
            }
            (b.hacc, b.v0, b.v1, b.vlast, b.vint, b.lseg, b.rowsum)
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn matches_scalar_reference() {
        let (w, h) = (200, 50);
        let mut seed = 7u32;
        let rows: Vec<Vec<u8>> = (0..h)
            .map(|_| {
                (0..w)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (seed >> 24) as u8
                    })
                    .collect()
            })
            .collect();
        let mut f = Features::new(w, h);
        f.begin(w, h);
        feed(&mut f, &rows);
        let (col, rowp) = reference(&rows, w);
        assert_eq!(&f.colprof[..w], &col[..]);
        assert_eq!(&f.rowprof[..h], &rowp[..]);
        let (cols, crows) = f.grid();
        assert_eq!((cols, crows), (12, 3));
        // Cell (2, 1): left edge at x = 32, rows 16..32; top edge at y = 16, columns 32..48.
        let i = cols + 2;
        let lb: u32 = (16..32)
            .map(|y| u32::from(rows[y][32].abs_diff(rows[y][31])))
            .sum();
        assert_eq!(u32::from(f.left_b[i]), lb);
        let tb: u32 = (32..48)
            .map(|x| u32::from(rows[16][x].abs_diff(rows[15][x])))
            .sum();
        assert_eq!(u32::from(f.top_b[i]), tb);
        let ta: u32 = (32..48)
            .map(|x| {
                u32::from(rows[15][x].abs_diff(rows[14][x]))
                    + u32::from(rows[17][x].abs_diff(rows[16][x]))
            })
            .sum();
        assert_eq!(u32::from(f.top_a[i]), ta);
        let vint: u32 = (17..32)
            .flat_map(|y| (32..48).map(move |x| (y, x)))
            .map(|(y, x)| u32::from(rows[y][x].abs_diff(rows[y - 1][x])))
            .sum();
        assert_eq!(f.vint[i], vint);
        let hint: u32 = (16..32)
            .flat_map(|y| (33..48).map(move |x| (y, x)))
            .map(|(y, x)| u32::from(rows[y][x].abs_diff(rows[y][x - 1])))
            .sum();
        assert_eq!(f.hint[i], hint);
        let lsum: u32 = (16..32)
            .flat_map(|y| (32..48).map(move |x| (y, x)))
            .map(|(y, x)| u32::from(rows[y][x]))
            .sum();
        assert_eq!(f.lsum[i], lsum);
    }
}
