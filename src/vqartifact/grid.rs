// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The coding grid: the per-frame blockiness ratio on it, and its period and phase estimated from
//! gradient profiles accumulated over about a second (content averages out, a grid stays).
//!
//! Blockiness is the mean step on grid lines over the mean step elsewhere (1.0: no grid visible),
//! the larger of the horizontal and vertical ratios, computed from this frame alone. On an
//! integer grid (native 8/16) the "elsewhere" is every other position; on a fractional grid
//! (upscaled video, where interpolation spreads each edge over a few pixels) the ratio compares
//! the largest step within one pixel of each grid line with the largest step within one pixel of
//! the midpoint between lines, so neither side gains from the spreading.

/// Period and phase of the grid in one direction, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    pub period: f32,
    pub phase: f32,
}

impl Axis {
    pub const NATIVE: Axis = Axis {
        period: 8.0,
        phase: 0.0,
    };

    fn integer(&self) -> Option<(usize, usize)> {
        let p = self.period.round();
        let f = self.phase.round();
        ((self.period - p).abs() < 1e-3 && (self.phase - f).abs() < 1e-3)
            .then_some((p as usize, f as usize))
    }

    fn doubled(&self) -> Axis {
        Axis {
            period: 2.0 * self.period,
            phase: self.phase,
        }
    }
}

/// Median of a gradient profile (position 0, which holds no step, left out), through `scratch`
/// (its capacity is kept: no allocation once it has held the longest profile).
pub fn median(prof: &[u32], scratch: &mut Vec<u32>) -> u32 {
    if prof.len() < 2 {
        return 0;
    }
    scratch.clear();
    scratch.extend_from_slice(&prof[1..]);
    let mid = scratch.len() / 2;
    *scratch.select_nth_unstable(mid).1
}

/// Step ratio of a gradient profile on the grid `axis`. `lines` is how many rows (or columns)
/// each profile entry sums, so flat pictures give 1.0. Entries are capped at 4 times the
/// profile's mean and at 16 times its median (`median`): coding blockiness raises every grid line
/// moderately over the typical step, while the few sharp edges of graphics or test patterns that
/// happen to sit on grid lines stand far above it and are not a grid. On a flat picture those
/// edges make the mean themselves, and only the median (no step at most positions) keeps them
/// out: colour bars whose band edges fall on rows 280, 320 and 360 scored 1.38 with the mean
/// alone.
pub fn ratio(prof: &[u32], axis: Axis, lines: usize, median: u32) -> f64 {
    let n = prof.len();
    if n < 3 || axis.period < 2.0 {
        return 1.0;
    }
    let eps = 0.5 * lines.max(1) as f64;
    // Position 0 holds no step.
    let mean4 = 4 * prof[1..].iter().map(|&v| u64::from(v)).sum::<u64>() / (n as u64 - 1);
    let cap = mean4.min(16 * u64::from(median));
    let prof = |x: usize| u64::from(prof[x]).min(cap.max(1));
    if let Some((p, phase)) = axis.integer() {
        let phase = phase % p;
        let total: u64 = (1..n).map(prof).sum();
        let first = if phase == 0 { p } else { phase };
        let (mut on, mut n_on) = (0u64, 0u64);
        for x in (first..n).step_by(p) {
            on += prof(x);
            n_on += 1;
        }
        let (off, n_off) = (total - on, (n as u64 - 1) - n_on);
        if n_on == 0 || n_off == 0 {
            return 1.0;
        }
        return (on as f64 / n_on as f64 + eps) / (off as f64 / n_off as f64 + eps);
    }
    let max3 = |c: f32| -> Option<u64> {
        let x = c.round() as isize;
        if x < 2 || x as usize + 1 >= n {
            return None;
        }
        let x = x as usize;
        Some(prof(x - 1).max(prof(x)).max(prof(x + 1)))
    };
    let (mut on, mut off, mut k_n) = (0u64, 0u64, 0u64);
    let mut c = axis.phase;
    while c + axis.period / 2.0 < n as f32 {
        if let (Some(a), Some(b)) = (max3(c), max3(c + axis.period / 2.0)) {
            on += a;
            off += b;
            k_n += 1;
        }
        c += axis.period;
    }
    if k_n == 0 {
        return 1.0;
    }
    (on as f64 / k_n as f64 + eps) / (off as f64 / k_n as f64 + eps)
}

/// Blockiness on the 8-pixel grid (or the estimated transform grid) and on the grid twice as
/// coarse (macroblocks), the larger of the two directions each. `scratch` serves the medians.
pub fn blockiness(
    colprof: &[u32],
    rowprof: &[u32],
    x: Axis,
    y: Axis,
    width: usize,
    height: usize,
    scratch: &mut Vec<u32>,
) -> (f64, f64) {
    let (mc, mr) = (median(colprof, scratch), median(rowprof, scratch));
    let r8 = ratio(colprof, x, height, mc).max(ratio(rowprof, y, width, mr));
    let r16 = ratio(colprof, x.doubled(), height, mc).max(ratio(rowprof, y.doubled(), width, mr));
    (r8, r16)
}

/// Mean change of the cell means (code values) below which a picture repeats the last one, up to
/// coding noise and grain, and adds no evidence to the grid estimate.
pub const CHANGE_MIN: f32 = 0.25;

/// Different pictures an estimate needs.
pub const MIN_PICTURES: u32 = 8;

/// Whether a picture whose cell means changed by `change` adds evidence to the grid estimate.
pub fn changed_picture(change: f32) -> bool {
    change >= CHANGE_MIN
}

/// Smallest and largest period tried.
const P_MIN: f32 = 6.0;
const P_MAX: f32 = 48.0;
/// Comb contrast (mean of the local maxima on the grid lines over their mean everywhere) from which
/// a grid counts as found.
pub const MIN_CONTRAST: f32 = 1.3;
/// Spectral peaks examined.
const CANDIDATES: usize = 4;

/// Phases a comb holds: periods up to `P_MAX` and the refinement steps just above it.
const COMB_PHASES: usize = 64;

/// The comb through `prof3` (a max-filtered profile, mean `mean3`) with the highest mean at
/// period `p`: (contrast, phase).
///
/// The teeth of phase `f` (an integer) sit at `round(f + j p) = f + round(j p)`, so all phases
/// are summed at once: for each tooth index `j`, the run of `ceil(p)` samples from `round(j p)`
/// is added to the per-phase sums (a contiguous add the compiler vectorises).
#[inline(always)]
fn comb(prof3: &[f32], mean3: f32, p: f32) -> (f32, f32) {
    let (lo, hi) = (2usize, prof3.len() - 2);
    let phases = (p.ceil() as usize).clamp(1, COMB_PHASES);
    let (mut sums, mut counts) = ([0.0f32; COMB_PHASES], [0u32; COMB_PHASES]);
    for j in 0.. {
        // Rounded half up by truncation (positions are >= 0).
        let base = (j as f32 * p + 0.5) as usize;
        if base >= hi {
            break;
        }
        let (a, b) = (lo.saturating_sub(base), phases.min(hi - base));
        if a < b {
            for (s, v) in sums[a..b].iter_mut().zip(&prof3[base + a..base + b]) {
                *s += v;
            }
            for c in &mut counts[a..b] {
                *c += 1;
            }
        }
    }
    let mut best = (0.0f32, 0.0f32);
    for f in 0..phases {
        if counts[f] > 0 && sums[f] / counts[f] as f32 > best.0 {
            best = (sums[f] / counts[f] as f32, f as f32);
        }
    }
    (best.0 / mean3.max(1e-6), best.1)
}

/// Finds the period and phase of the grid in an accumulated gradient profile, or None.
///
/// Candidates come from the spectrum of the high-passed profile (Goertzel, one multiply-add per
/// sample and period, 6 to 48 pixels in steps of P^2 / 2n): its strongest peaks, with their
/// multiples and halves, since a grid of period P also shows at P/2, P/3 ... Each candidate is
/// refined and scored by the comb through the local maxima of the profile (edges of scaled grids
/// spread over two or three pixels). The grid is the shortest period of at least 8 pixels that
/// divides the best comb and scores at least 0.8 of it (coded grids come in families: 4, 8 and
/// 16 pixels, scaled alike; the 8-pixel transform grid is the one of note).
/// `scratch` needs room for `2 * prof.len()` values to stay free of allocation.
pub fn estimate(prof: &[f32], scratch: &mut Vec<f32>) -> Option<(Axis, f32)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { estimate_avx2(prof, scratch) };
    }
    estimate_portable(prof, scratch)
}

/// [`estimate`] compiled for AVX2: twice the vector width, the same operations in the same
/// order (no fused multiply-add), so the same result to the bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn estimate_avx2(prof: &[f32], scratch: &mut Vec<f32>) -> Option<(Axis, f32)> {
    estimate_portable(prof, scratch)
}

#[inline(always)]
fn estimate_portable(prof: &[f32], scratch: &mut Vec<f32>) -> Option<(Axis, f32)> {
    let n = prof.len();
    if n < 4 * P_MAX as usize {
        return None;
    }
    // Skip the edges: position 0 holds no step, and the picture border can hold one.
    let (lo, hi) = (2usize, n - 2);
    scratch.clear();
    // [0, n): the max-filtered profile.
    scratch.extend((0..n).map(|x| {
        if x < lo || x >= hi {
            0.0
        } else {
            prof[x - 1].max(prof[x]).max(prof[x + 1])
        }
    }));
    let mean3 = scratch[lo..hi].iter().sum::<f32>() / (hi - lo) as f32;
    if mean3 <= 0.0 {
        return None;
    }
    // [n, 2n - 4): the profile minus its mean over 25 pixels (content is mostly low frequencies
    // and would bury the grid's peaks).
    {
        const R: usize = 12;
        let mut sum: f32 = prof[lo..(lo + R).min(hi)].iter().sum();
        for x in lo..hi {
            if x + R < hi {
                sum += prof[x + R];
            }
            if x > lo + R {
                sum -= prof[x - R - 1];
            }
            let count = (x + R).min(hi - 1) + 1 - x.saturating_sub(R).max(lo);
            scratch.push(prof[x] - sum / count as f32);
        }
    }
    let step = |p: f32| (p * p / (2.0 * n as f32)).max(0.01);
    let mut candidates = [(0.0f32, 0.0f32); CANDIDATES];
    {
        let hp = &scratch[n..];
        // 32 Goertzel recurrences at a time: independent chains kept in vector lanes, enough of
        // them that the multiply-add latency of one chain is hidden (8 made it latency bound).
        const LANES: usize = 32;
        let mut p0 = P_MIN;
        let mut prev = [0.0f32; 2];
        while p0 <= P_MAX {
            let mut ps = [0.0f32; LANES];
            let mut p = p0;
            for v in ps.iter_mut() {
                *v = p;
                p += step(p);
            }
            p0 = p;
            let k: [f32; LANES] = ps.map(|p| 2.0 * (std::f32::consts::TAU / p).cos());
            let (mut s1, mut s2) = ([0.0f32; LANES], [0.0f32; LANES]);
            for &d in hp {
                for j in 0..LANES {
                    let s0 = d + k[j] * s1[j] - s2[j];
                    s2[j] = s1[j];
                    s1[j] = s0;
                }
            }
            for j in 0..LANES {
                if ps[j] > P_MAX {
                    break;
                }
                let m = (s1[j] * s1[j] + s2[j] * s2[j] - k[j] * s1[j] * s2[j]).max(0.0);
                // A local maximum of the spectrum (decided one period late).
                if prev[1] >= prev[0] && prev[1] >= m {
                    let p = ps[j] - step(ps[j]);
                    if let Some(slot) = candidates
                        .iter_mut()
                        .filter(|c| c.1 < prev[1])
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                    {
                        *slot = (p, prev[1]);
                    }
                }
                prev = [prev[1], m];
            }
        }
    }
    let prof3 = &scratch[..n];
    // Refine each candidate, its multiples and its halves by the comb.
    let mut scored = [(0.0f32, 0.0f32, 0.0f32); CANDIDATES * 6];
    let mut m = 0;
    for &(pc, mag) in &candidates {
        if mag <= 0.0 {
            continue;
        }
        for factor in [0.5f32, 1.0, 2.0, 3.0, 4.0, 1.0 / 3.0] {
            let p = pc * factor;
            if !(P_MIN..=P_MAX).contains(&p) {
                continue;
            }
            let d = step(p);
            let mut best = (0.0f32, p, 0.0f32);
            for j in -4..=4 {
                let q = p + j as f32 * d / 2.0;
                let (c, f) = comb(prof3, mean3, q);
                if c > best.0 {
                    best = (c, q, f);
                }
            }
            scored[m] = best;
            m += 1;
        }
    }
    let scored = &scored[..m];
    let &(contrast, period, phase) = scored.iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
    if contrast < MIN_CONTRAST {
        return None;
    }
    let divides = |s: &&(f32, f32, f32)| {
        let r = period / s.1;
        s.1 >= 7.5 && s.0 >= 0.8 * contrast && (r - r.round()).abs() < 0.05
    };
    let shortest = scored
        .iter()
        .filter(divides)
        .map(|s| s.1)
        .min_by(f32::total_cmp)
        .unwrap_or(period);
    // Of the candidates at that period (several refine to nearly the same), the best comb.
    let fundamental = scored
        .iter()
        .filter(divides)
        .filter(|s| (s.1 - shortest).abs() < 0.02 * shortest)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .copied()
        .unwrap_or((contrast, period, phase));
    // Near an integer period the max filter leaves ties between neighbouring periods: coded
    // grids at native scale are integer, so take the integer one.
    let (mut c, mut p, mut f) = fundamental;
    if p <= 16.5 && (p - p.round()).abs() < 0.05 {
        p = p.round();
        (c, f) = comb(prof3, mean3, p);
    }
    let spread = uneven(&scratch[..n], mean3, p, f);
    if spread > MAX_UNEVEN {
        return None;
    }
    Some((
        Axis {
            period: p,
            phase: f,
        },
        c,
    ))
}

/// How unevenly a grid's lines may share its steps: the largest ratio between the mean line of
/// one residue class (every second or every third line) and that of another. A coding grid
/// raises all its lines alike (macroblock lines somewhat more than transform lines); the edges
/// of bars fit a period only through every second or third line, the lines between them sitting
/// in the flat inside of a bar: their true period is a multiple, beyond any coding grid.
pub const MAX_UNEVEN: f32 = 3.0;

/// [`MAX_UNEVEN`]'s measure for the comb (`p`, phase `f`) through `prof3` (mean `mean3`).
fn uneven(prof3: &[f32], mean3: f32, p: f32, f: f32) -> f32 {
    let (lo, hi) = (2usize, prof3.len() - 2);
    let eps = 0.05 * mean3;
    let mut worst = 1.0f32;
    for m in [2usize, 3] {
        let mut sums = [0.0f32; 3];
        let mut counts = [0u32; 3];
        let (mut c, mut j) = (f, 0usize);
        while c < hi as f32 {
            let i = (c + 0.5) as usize;
            if (lo..hi).contains(&i) {
                sums[j % m] += prof3[i];
                counts[j % m] += 1;
            }
            c += p;
            j += 1;
        }
        if counts[..m].contains(&0) {
            continue;
        }
        let means = (0..m).map(|r| sums[r] / counts[r] as f32 + eps);
        let (lo_m, hi_m) = means.fold((f32::MAX, 0.0f32), |(a, b), v| (a.min(v), b.max(v)));
        worst = worst.max(hi_m / lo_m);
    }
    worst
}

/// Tracks the grid of one direction across updates; a new grid is adopted after two updates in a
/// row agree on it, and the native grid is restored after three updates without one.
#[derive(Debug, Clone, Copy)]
pub struct AxisTracker {
    pub current: Axis,
    candidate: Option<Axis>,
    misses: u32,
    /// Phase of the native grid (from crop metadata).
    native_phase: f32,
}

impl AxisTracker {
    pub fn new(native_phase: f32) -> Self {
        AxisTracker {
            current: Axis {
                period: 8.0,
                phase: native_phase,
            },
            candidate: None,
            misses: 0,
            native_phase,
        }
    }

    pub fn native(&self) -> Axis {
        Axis {
            period: 8.0,
            phase: self.native_phase,
        }
    }

    pub fn is_native(&self) -> bool {
        self.current == self.native()
    }

    /// Feeds one estimate; returns true when the grid in use changed.
    pub fn update(&mut self, est: Option<(Axis, f32)>) -> bool {
        // The native grids (8, 16) at their phase are the default; 16 also means 8.
        let est = est.map(|(mut a, _)| {
            if (a.period - 16.0).abs() < 0.2 {
                a = Axis {
                    period: 8.0,
                    phase: a.phase % 8.0,
                };
            }
            if (a.period - 8.0).abs() < 0.2 {
                a.period = 8.0;
            }
            a
        });
        let before = self.current;
        // A comb at twice the period of the grid in view (or of the candidate) is the same grid.
        let est = est.map(|a| {
            let near = self.candidate.unwrap_or(self.current);
            if (a.period - 2.0 * near.period).abs() < 0.025 * a.period {
                Axis {
                    period: a.period / 2.0,
                    phase: a.phase % (a.period / 2.0),
                }
            } else {
                a
            }
        });
        match est {
            Some(a) => {
                self.misses = 0;
                let same = |b: &Axis| (b.period - a.period).abs() < 0.25 && phase_close(a, *b);
                if same(&self.current) {
                    self.candidate = None;
                } else if self.candidate.as_ref().is_some_and(same) {
                    self.current = a;
                    self.candidate = None;
                } else {
                    self.candidate = Some(a);
                }
            }
            None => {
                self.candidate = None;
                self.misses += 1;
                if self.misses >= 3 {
                    self.current = self.native();
                }
            }
        }
        self.current != before
    }
}

fn phase_close(a: Axis, b: Axis) -> bool {
    let d = (a.phase - b.phase).rem_euclid(a.period);
    d <= 2.5 || a.period - d <= 2.5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(n: usize, period: f32, phase: f32, spread: bool) -> Vec<u32> {
        let mut p: Vec<u32> = (0..n).map(|x| 100 + ((x * 37) % 23) as u32).collect();
        p[0] = 0;
        let mut c = phase;
        while (c as usize) < n {
            let x = c.round() as usize;
            if x < n {
                p[x] += 200;
                if spread && x + 1 < n {
                    p[x + 1] += 150;
                }
            }
            c += period;
        }
        p
    }

    #[test]
    fn native_ratio() {
        let mut scratch = Vec::new();
        let flat = vec![0u32; 64];
        assert!((ratio(&flat, Axis::NATIVE, 16, 0) - 1.0).abs() < 1e-9);
        let p = profile(640, 8.0, 0.0, false);
        let m = median(&p, &mut scratch);
        assert!((100..123).contains(&m), "{m}");
        assert!(ratio(&p, Axis::NATIVE, 1, m) > 2.5);
        let off = Axis {
            period: 8.0,
            phase: 3.0,
        };
        assert!(ratio(&p, off, 1, m) < 1.1);
    }

    #[test]
    fn estimates_fractional_grid() {
        // SD 720 -> 1920: an 8-pixel grid becomes 21.33 pixels.
        let p: Vec<f32> = profile(1920, 8.0 * 1920.0 / 720.0, 5.0, true)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let (a, c) = estimate(&p, &mut Vec::new()).expect("grid");
        assert!((a.period - 21.333).abs() < 0.15, "{a:?} {c}");
        assert!((a.phase - 5.0).abs() <= 1.0, "{a:?}");
        let u: Vec<u32> = p.iter().map(|&v| v as u32).collect();
        let m = median(&u, &mut Vec::new());
        assert!(ratio(&u, a, 1, m) > 1.8, "{}", ratio(&u, a, 1, m));
        let none: Vec<f32> = (0..1920).map(|x| 100.0 + ((x * 37) % 23) as f32).collect();
        assert!(estimate(&none, &mut Vec::new()).is_none());
    }

    #[test]
    fn bar_edges_are_not_a_grid() {
        // Seven colour bars at 640 px: six strong edges 91.4 px apart, flat in between, with a
        // little coding noise. Half their spacing fits the comb through every second line.
        let mut p: Vec<f32> = (0..640).map(|x| ((x * 37) % 5) as f32).collect();
        for k in 1..7 {
            let x = (k as f32 * 640.0 / 7.0).round() as usize;
            p[x] += 5000.0;
        }
        assert!(estimate(&p, &mut Vec::new()).is_none());
        // A real grid whose macroblock lines (every second line) are twice as strong as its
        // transform lines is still a grid.
        let mut g: Vec<f32> = profile(640, 8.0, 0.0, false)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        for x in (16..640).step_by(16) {
            g[x] += 200.0;
        }
        let (a, _) = estimate(&g, &mut Vec::new()).expect("grid");
        assert_eq!(a.period, 8.0, "{a:?}");
    }

    #[test]
    fn estimate_is_the_same_with_and_without_avx2() {
        for (n, period, phase, spread) in [
            (1920, 8.0, 0.0, false),
            (1920, 21.333, 5.0, true),
            (1080, 12.0, 3.0, true),
            (1280, 42.667, 7.0, false),
            (720, 8.0, 4.0, false),
        ] {
            let p: Vec<f32> = profile(n, period, phase, spread)
                .into_iter()
                .map(|v| v as f32)
                .collect();
            let portable = estimate_portable(&p, &mut Vec::new());
            assert!(portable.is_some(), "{n} {period}");
            assert_eq!(estimate(&p, &mut Vec::new()), portable, "{n} {period}");
        }
    }

    #[test]
    fn estimates_native_grid_as_eight() {
        let p: Vec<f32> = profile(1280, 8.0, 0.0, false)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let (a, _) = estimate(&p, &mut Vec::new()).expect("grid");
        assert!((a.period - 8.0).abs() < 0.01 && a.phase == 0.0, "{a:?}");
        let mut t = AxisTracker::new(0.0);
        assert!(!t.update(Some((a, 3.0))));
        assert!(t.is_native());
    }
}
