// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! One pass over the luma rows of a frame, collecting everything vqartifact decides on.
//!
//! Cells are 16x16 pixels (one macroblock) aligned to the analysis origin. Per row the pass adds
//! the horizontal gradient `|p[x] - p[x-1]|` to a per-column accumulator (u16 lanes: 16 rows of
//! 8-bit steps fit), and sums the vertical gradient `|p[y][x] - p[y-1][x]|` and the luma over each
//! 16-pixel segment (`psadbw` on x86-64). At the end of each band of 16 rows the per-column sums
//! give every cell's left edge step, the steps beside it and the interior activity, and they are
//! added to the picture's column profile; the vertical sums give top edges, interior activity and
//! the row profile. Nothing is allocated per frame: buffers are sized at caps time.

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
    /// Horizontal steps of the current band, per column.
    hacc: Vec<u16>,
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
    /// Scratch for one vertical-step row, per 16-pixel segment.
    vseg: Vec<u16>,
    /// Scratch for one luma-sum row, per 16-pixel segment.
    lseg: Vec<u16>,
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
            hacc: vec![0; max_w],
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
            vseg: vec![0; segs],
            lseg: vec![0; segs],
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

    /// Adds the next row (`w` 8-bit luma samples); `prev` is the row above, `None` for row 0.
    pub fn row(&mut self, row: &[u8], prev: Option<&[u8]>) {
        let w = self.w;
        let y = self.y;
        if y >= self.h {
            return;
        }
        let row = &row[..w];
        let r = y % CELL;
        if r == 0 {
            self.hacc[..w].fill(0);
        }
        add_hsteps(row, &mut self.hacc[..w]);
        let segs = w.div_ceil(CELL);
        segment_sums(
            row,
            prev.map(|p| &p[..w]),
            &mut self.vseg[..segs],
            &mut self.lseg[..segs],
        );
        let band = y / CELL;
        let in_cells = band < self.rows;
        let cols = self.cols;
        if prev.is_some() {
            self.rowprof[y] = self.vseg[..segs].iter().map(|&v| u32::from(v)).sum();
        }
        if in_cells {
            let base = band * cols;
            let lsum = &mut self.lsum[base..base + cols];
            for (acc, &v) in lsum.iter_mut().zip(&self.lseg[..cols]) {
                *acc += u32::from(v);
            }
            if prev.is_some() {
                match r {
                    0 => {
                        self.top_b[base..base + cols].copy_from_slice(&self.vseg[..cols]);
                        self.top_a[base..base + cols].copy_from_slice(&self.above[..cols]);
                    }
                    _ => {
                        if r == 1 {
                            for (ta, &v) in self.top_a[base..base + cols].iter_mut().zip(&self.vseg)
                            {
                                *ta = ta.saturating_add(v);
                            }
                        }
                        for (acc, &v) in self.vint[base..base + cols].iter_mut().zip(&self.vseg) {
                            *acc += u32::from(v);
                        }
                    }
                }
            }
        }
        if r == CELL - 1 {
            self.above[..segs].copy_from_slice(&self.vseg[..segs]);
        }
        if r == CELL - 1 || y + 1 == self.h {
            self.finish_band(band, in_cells && r == CELL - 1);
        }
        self.y += 1;
    }

    fn finish_band(&mut self, band: usize, cells: bool) {
        let w = self.w;
        for (p, &h) in self.colprof[..w].iter_mut().zip(&self.hacc[..w]) {
            *p += u32::from(h);
        }
        if !cells {
            return;
        }
        let base = band * self.cols;
        for c in 0..self.cols {
            let x0 = c * CELL;
            let i = base + c;
            if x0 >= 1 {
                self.left_b[i] = self.hacc[x0];
                self.left_a[i] = self.hacc[x0 - 1].saturating_add(self.hacc[x0 + 1]);
            } else {
                self.left_b[i] = 0;
                self.left_a[i] = 0;
            }
            self.hint[i] = self.hacc[x0 + 1..x0 + CELL]
                .iter()
                .map(|&v| u32::from(v))
                .sum();
        }
    }
}

/// `acc[x] += |row[x] - row[x-1]|` for x >= 1.
fn add_hsteps(row: &[u8], acc: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available, checked just above.
            unsafe { x86::add_hsteps_avx2(row, acc) };
            return;
        }
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { x86::add_hsteps_sse2(row, acc) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    add_hsteps_scalar(row, acc, 1);
}

/// Scalar version, from column `from` (>= 1) on.
fn add_hsteps_scalar(row: &[u8], acc: &mut [u16], from: usize) {
    let n = row.len().min(acc.len());
    if n < 2 {
        return;
    }
    let from = from.max(1);
    for x in from..n {
        acc[x] += u16::from(row[x].abs_diff(row[x - 1]));
    }
}

/// Per 16-pixel segment: the sum of `|row - prev|` (0 without `prev`) and the luma sum.
fn segment_sums(row: &[u8], prev: Option<&[u8]>, vseg: &mut [u16], lseg: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { x86::segment_sums_sse2(row, prev, vseg, lseg) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    segment_sums_scalar(row, prev, vseg, lseg, 0);
}

fn segment_sums_scalar(
    row: &[u8],
    prev: Option<&[u8]>,
    vseg: &mut [u16],
    lseg: &mut [u16],
    from_seg: usize,
) {
    for s in from_seg..vseg.len() {
        let a = s * CELL;
        let b = (a + CELL).min(row.len());
        lseg[s] = row[a..b].iter().map(|&v| u16::from(v)).sum();
        vseg[s] = match prev {
            Some(p) => row[a..b]
                .iter()
                .zip(&p[a..b])
                .map(|(&x, &y)| u16::from(x.abs_diff(y)))
                .sum(),
            None => 0,
        };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "sse2")]
    pub unsafe fn add_hsteps_sse2(row: &[u8], acc: &mut [u16]) {
        let n = row.len().min(acc.len());
        let mut x = 1;
        // SAFETY: every load reads row[x - 1 .. x + 16] and every store writes acc[x .. x + 16],
        // both in bounds while x + 16 <= n.
        unsafe {
            let zero = _mm_setzero_si128();
            while x + 16 <= n {
                let a = _mm_loadu_si128(row.as_ptr().add(x) as *const __m128i);
                let b = _mm_loadu_si128(row.as_ptr().add(x - 1) as *const __m128i);
                let d = _mm_or_si128(_mm_subs_epu8(a, b), _mm_subs_epu8(b, a));
                let p = acc.as_mut_ptr().add(x) as *mut __m128i;
                let lo = _mm_add_epi16(_mm_loadu_si128(p), _mm_unpacklo_epi8(d, zero));
                let hi = _mm_add_epi16(_mm_loadu_si128(p.add(1)), _mm_unpackhi_epi8(d, zero));
                _mm_storeu_si128(p, lo);
                _mm_storeu_si128(p.add(1), hi);
                x += 16;
            }
        }
        super::add_hsteps_scalar(row, acc, x);
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn add_hsteps_avx2(row: &[u8], acc: &mut [u16]) {
        let n = row.len().min(acc.len());
        let mut x = 1;
        // SAFETY: every load reads row[x - 1 .. x + 32] and every store writes acc[x .. x + 32],
        // both in bounds while x + 32 <= n.
        unsafe {
            while x + 32 <= n {
                let a = _mm256_loadu_si256(row.as_ptr().add(x) as *const __m256i);
                let b = _mm256_loadu_si256(row.as_ptr().add(x - 1) as *const __m256i);
                let d = _mm256_or_si256(_mm256_subs_epu8(a, b), _mm256_subs_epu8(b, a));
                let lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(d));
                let hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(d));
                let p = acc.as_mut_ptr().add(x) as *mut __m256i;
                _mm256_storeu_si256(p, _mm256_add_epi16(_mm256_loadu_si256(p), lo));
                _mm256_storeu_si256(p.add(1), _mm256_add_epi16(_mm256_loadu_si256(p.add(1)), hi));
                x += 32;
            }
        }
        super::add_hsteps_scalar(row, acc, x);
    }

    #[target_feature(enable = "sse2")]
    pub unsafe fn segment_sums_sse2(
        row: &[u8],
        prev: Option<&[u8]>,
        vseg: &mut [u16],
        lseg: &mut [u16],
    ) {
        let full = (row.len() / 16).min(vseg.len()).min(lseg.len());
        // SAFETY: segment s reads row[16 s .. 16 s + 16] (and prev likewise), in bounds for
        // s < full = row.len() / 16; prev has the same length as row.
        unsafe {
            let zero = _mm_setzero_si128();
            let sum = |v: __m128i| (_mm_cvtsi128_si32(v) + _mm_extract_epi16::<4>(v)) as u16;
            match prev {
                Some(p) => {
                    debug_assert!(p.len() >= row.len());
                    for s in 0..full {
                        let a = _mm_loadu_si128(row.as_ptr().add(16 * s) as *const __m128i);
                        let b = _mm_loadu_si128(p.as_ptr().add(16 * s) as *const __m128i);
                        vseg[s] = sum(_mm_sad_epu8(a, b));
                        lseg[s] = sum(_mm_sad_epu8(a, zero));
                    }
                }
                None => {
                    for s in 0..full {
                        let a = _mm_loadu_si128(row.as_ptr().add(16 * s) as *const __m128i);
                        vseg[s] = 0;
                        lseg[s] = sum(_mm_sad_epu8(a, zero));
                    }
                }
            }
        }
        super::segment_sums_scalar(row, prev, vseg, lseg, full);
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

    #[test]
    fn matches_scalar_reference() {
        let (w, h) = (100, 50);
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
        for y in 0..h {
            f.row(&rows[y], (y > 0).then(|| rows[y - 1].as_slice()));
        }
        let (col, rowp) = reference(&rows, w);
        assert_eq!(&f.colprof[..w], &col[..]);
        assert_eq!(&f.rowprof[..h], &rowp[..]);
        let (cols, crows) = f.grid();
        assert_eq!((cols, crows), (6, 3));
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
