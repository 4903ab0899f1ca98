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

/// Step ratio of a gradient profile on the grid `axis`. `lines` is how many rows (or columns)
/// each profile entry sums, so flat pictures give 1.0.
pub fn ratio(prof: &[u32], axis: Axis, lines: usize) -> f64 {
    let n = prof.len();
    if n < 3 || axis.period < 2.0 {
        return 1.0;
    }
    let eps = 0.5 * lines.max(1) as f64;
    if let Some((p, phase)) = axis.integer() {
        let phase = phase % p;
        let (mut on, mut n_on, mut off, mut n_off) = (0u64, 0u64, 0u64, 0u64);
        // Position 0 holds no step.
        for (x, &v) in prof.iter().enumerate().skip(1) {
            if x % p == phase {
                on += u64::from(v);
                n_on += 1;
            } else {
                off += u64::from(v);
                n_off += 1;
            }
        }
        if n_on == 0 || n_off == 0 {
            return 1.0;
        }
        return (on as f64 / n_on as f64 + eps) / (off as f64 / n_off as f64 + eps);
    }
    let max3 = |c: f32| -> Option<u32> {
        let x = c.round() as isize;
        if x < 2 || x as usize + 1 >= n {
            return None;
        }
        let x = x as usize;
        Some(prof[x - 1].max(prof[x]).max(prof[x + 1]))
    };
    let (mut on, mut off, mut k_n) = (0u64, 0u64, 0u64);
    let mut c = axis.phase;
    while c + axis.period / 2.0 < n as f32 {
        if let (Some(a), Some(b)) = (max3(c), max3(c + axis.period / 2.0)) {
            on += u64::from(a);
            off += u64::from(b);
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
/// coarse (macroblocks), the larger of the two directions each.
pub fn blockiness(
    colprof: &[u32],
    rowprof: &[u32],
    x: Axis,
    y: Axis,
    width: usize,
    height: usize,
) -> (f64, f64) {
    let r8 = ratio(colprof, x, height).max(ratio(rowprof, y, width));
    let r16 = ratio(colprof, x.doubled(), height).max(ratio(rowprof, y.doubled(), width));
    (r8, r16)
}

/// Smallest and largest period tried, and the smallest step between periods.
const P_MIN: f32 = 6.0;
const P_MAX: f32 = 48.0;
const P_STEP: f32 = 0.01;
/// Comb contrast (mean on the grid over the mean profile) from which a grid counts as found.
pub const MIN_CONTRAST: f32 = 1.3;

/// Finds the period and phase of the strongest grid in an accumulated profile: the comb through
/// the profile with the highest mean, reduced to its fundamental (a grid of 8 also fits 16, 24 ...).
/// Returns the axis and its contrast, or None when no comb stands out.
pub fn estimate(prof: &[f32], scratch: &mut Vec<f32>) -> Option<(Axis, f32)> {
    let n = prof.len();
    if n < 4 * P_MAX as usize {
        return None;
    }
    // Skip the edges: position 0 holds no step, and the picture border can hold one. Scaled
    // grids spread each edge over two or three pixels: score the local maximum.
    let lo = 2usize;
    let hi = n - 2;
    scratch.clear();
    scratch.extend((0..n).map(|x| {
        if x < lo || x >= hi {
            0.0
        } else {
            prof[x - 1].max(prof[x]).max(prof[x + 1])
        }
    }));
    let prof = &scratch[..];
    let mean = prof[lo..hi].iter().sum::<f32>() / (hi - lo) as f32;
    if mean <= 0.0 {
        return None;
    }
    let best_phase = |p: f32| -> (f32, f32) {
        let mut best = (0.0f32, 0.0f32);
        let phases = p.ceil() as usize;
        for f in 0..phases {
            let (mut s, mut k) = (0.0f32, 0u32);
            let mut c = f as f32;
            while (c.round() as usize) < hi {
                let x = c.round() as usize;
                if x >= lo {
                    s += prof[x];
                    k += 1;
                }
                c += p;
            }
            if k > 0 && s / k as f32 > best.0 {
                best = (s / k as f32, f as f32);
            }
        }
        (best.0 / mean, best.1)
    };
    // Steps small enough that the comb drifts by under a pixel across the picture.
    let mut best = (0.0f32, 0.0f32, 0.0f32);
    let mut p = P_MIN;
    while p <= P_MAX {
        let (c, f) = best_phase(p);
        if c > best.0 {
            best = (c, p, f);
        }
        p += (1.5 * p / n as f32).max(P_STEP);
    }
    let (contrast, mut period, mut phase) = best;
    if contrast < MIN_CONTRAST {
        return None;
    }
    // The fundamental: the smallest period dividing the best one that fits nearly as well.
    for d in (2..=6).rev() {
        let p = period / d as f32;
        if p < P_MIN {
            continue;
        }
        let (c, f) = best_phase(p);
        if c >= 0.8 * contrast {
            period = p;
            phase = f;
            break;
        }
    }
    Some((Axis { period, phase }, contrast))
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
            if (a.period - 2.0 * near.period).abs() < 0.5 {
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
        let flat = vec![0u32; 64];
        assert!((ratio(&flat, Axis::NATIVE, 16) - 1.0).abs() < 1e-9);
        let p = profile(640, 8.0, 0.0, false);
        assert!(ratio(&p, Axis::NATIVE, 1) > 2.5);
        let off = Axis {
            period: 8.0,
            phase: 3.0,
        };
        assert!(ratio(&p, off, 1) < 1.1);
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
        assert!(ratio(&u, a, 1) > 1.8, "{}", ratio(&u, a, 1));
        let none: Vec<f32> = (0..1920).map(|x| 100.0 + ((x * 37) % 23) as f32).collect();
        assert!(estimate(&none, &mut Vec::new()).is_none());
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
