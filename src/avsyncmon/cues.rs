// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Tier 2: flash and beep test signals, paired into A/V offset measurements.
//!
//! Video: every 8th luma row is read once per frame into an 8x8 grid of cell means (and every
//! 16th row into a motion figure for tier 3). A flash is a cell mean rising by at least
//! `flash-threshold` code values from one frame to the next: full-frame flashes and boxes (FFmpeg
//! `avsynctest`) alike. Its time is the running time of that frame.
//!
//! Audio: the channels are mixed, band-limited to `beep-min-freq`..`beep-max-freq` (two biquads)
//! and their energy followed in 2 ms blocks against an adaptive noise floor. A beep is energy
//! `beep-snr` dB above the floor (and above `beep-min-level`) for `beep-min-duration`. Its onset is
//! then found sample-accurately on the unfiltered signal (no filter delay): the first sample of the
//! burst above 5 % of its peak, walking back until the signal has been quiet for half a period of
//! the lowest band frequency. Only tonal bursts (zero crossings at a steady interval) are beeps:
//! knocks, claps and noise bursts of real content are not.
//!
//! Pairing: a flash and a beep pair when each is the other's nearest cue of its kind within
//! `max-offset` (mutual nearest neighbours), decided once both streams have advanced far enough
//! that no nearer cue can still arrive; the branches never wait for each other. A cue whose
//! partner was missed, or an extra cue, stays unpaired instead of shifting every later pair by a
//! period. Offsets are unambiguous within half the pattern's period (+/-500 ms for a flash and
//! beep every second): beyond it the nearer neighbour is the wrong one. Offset = t(beep) -
//! t(flash): positive means audio late.

use std::collections::VecDeque;

use crate::luma::{LumaLayout, Sample};
use crate::message::Stamp;

pub const GRID: usize = 8;
pub const CELLS: usize = GRID * GRID;
/// Rows analysed: every ROW_STEP-th.
pub const ROW_STEP: usize = 8;
/// Rows of the motion figure: every MOTION_ROW_STEP-th (a multiple of ROW_STEP).
pub const MOTION_ROW_STEP: usize = 16;

/// Sum of bytes (a widening sum the compiler vectorises).
fn sum_u8(v: &[u8]) -> u64 {
    v.chunks(1 << 16)
        .map(|c| c.iter().map(|&x| x as u32).sum::<u32>() as u64)
        .sum()
}

/// Sum of absolute differences of two byte rows.
fn sad_u8(a: &[u8], b: &[u8]) -> u64 {
    a.chunks(1 << 16)
        .zip(b.chunks(1 << 16))
        .map(|(ca, cb)| {
            ca.iter()
                .zip(cb)
                .map(|(&x, &y)| x.abs_diff(y) as u32)
                .sum::<u32>() as u64
        })
        .sum()
}

/// What one frame looks like to avsyncmon.
#[derive(Debug, Clone, Copy)]
pub struct VisualFrame {
    /// Mean luma of each cell of the 8x8 grid, 8-bit code values.
    pub cells: [f32; CELLS],
    /// Mean absolute luma difference to the previous frame (subsampled), 8-bit code values.
    pub motion: f32,
}

/// Reads the luma of frames of one size and format; owns its scratch rows.
#[derive(Debug)]
pub struct VisualProbe {
    layout: LumaLayout,
    width: usize,
    height: usize,
    row8: Vec<u8>,
    row16: Vec<u16>,
    prev: Vec<u8>,
    have_prev: bool,
    col_edges: [usize; GRID + 1],
    cell_counts: [u32; CELLS],
}

impl VisualProbe {
    pub fn new(layout: LumaLayout, width: usize, height: usize) -> Self {
        let mut col_edges = [0; GRID + 1];
        for (c, e) in col_edges.iter_mut().enumerate() {
            *e = c * width / GRID;
        }
        let mut cell_counts = [0u32; CELLS];
        for y in (0..height).step_by(ROW_STEP) {
            let gy = y * GRID / height.max(1);
            for gx in 0..GRID {
                cell_counts[gy * GRID + gx] += (col_edges[gx + 1] - col_edges[gx]) as u32;
            }
        }
        let rows = height.div_ceil(MOTION_ROW_STEP);
        VisualProbe {
            layout,
            width,
            height,
            row8: vec![0; if layout.is_direct_u8() { 0 } else { width }],
            row16: vec![0; if layout.is_8bit() { 0 } else { width }],
            prev: vec![0; rows * width],
            have_prev: false,
            col_edges,
            cell_counts,
        }
    }

    /// Forgets the previous frame (flush, discontinuity).
    pub fn reset(&mut self) {
        self.have_prev = false;
    }

    /// Analyses one luma plane. Fails if the plane is smaller than the caps say.
    pub fn analyse(&mut self, data: &[u8], stride: usize) -> Result<VisualFrame, String> {
        let (w, h) = (self.width, self.height);
        let row_bytes = self.layout.row_bytes(w);
        if h > 0 && (h - 1) * stride + row_bytes > data.len() {
            return Err(format!(
                "luma plane holds {} bytes, {w}x{h} with stride {stride} needs {}",
                data.len(),
                (h - 1) * stride + row_bytes
            ));
        }
        let mut sums = [0u64; CELLS];
        let mut motion = 0u64;
        let mut motion_n = 0u64;
        let shift = self.layout.depth.saturating_sub(8);
        for (ri, y) in (0..h).step_by(ROW_STEP).enumerate() {
            let raw = &data[y * stride..];
            let row: &[u8] = if self.layout.is_direct_u8() {
                let Sample::U8 { offset, .. } = self.layout.sample else {
                    unreachable!()
                };
                &raw[offset..offset + w]
            } else if self.layout.is_8bit() {
                self.layout.unpack_u8(raw, &mut self.row8);
                &self.row8
            } else {
                self.layout.unpack_u16(raw, &mut self.row16);
                for (o, &v) in self.row8.iter_mut().zip(self.row16.iter()) {
                    *o = (v >> shift).min(255) as u8;
                }
                &self.row8
            };
            let gy = y * GRID / h;
            for gx in 0..GRID {
                sums[gy * GRID + gx] += sum_u8(&row[self.col_edges[gx]..self.col_edges[gx + 1]]);
            }
            // Motion on every MOTION_ROW_STEP-th row, whole rows: contiguous, so it vectorises.
            if ri % (MOTION_ROW_STEP / ROW_STEP) == 0 {
                let k = ri / (MOTION_ROW_STEP / ROW_STEP);
                let prev = &mut self.prev[k * w..(k + 1) * w];
                motion += sad_u8(prev, row);
                prev.copy_from_slice(&row[..w]);
                motion_n += w as u64;
            }
        }
        let mut cells = [0f32; CELLS];
        for ((c, s), n) in cells.iter_mut().zip(sums).zip(self.cell_counts) {
            *c = if n > 0 { s as f32 / n as f32 } else { 0.0 };
        }
        let motion = if self.have_prev && motion_n > 0 {
            motion as f32 / motion_n as f32
        } else {
            0.0
        };
        self.have_prev = true;
        Ok(VisualFrame { cells, motion })
    }
}

/// A detected flash.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flash {
    /// Largest cell rise, 8-bit code values.
    pub strength: f32,
    /// Cells that rose.
    pub cells: u32,
}

/// Finds the rising edge of flashes in a sequence of frames.
#[derive(Debug)]
pub struct FlashDetector {
    prev: [f32; CELLS],
    base: [f32; CELLS],
    lit: [bool; CELLS],
    have_prev: bool,
}

impl Default for FlashDetector {
    fn default() -> Self {
        FlashDetector {
            prev: [0.0; CELLS],
            base: [0.0; CELLS],
            lit: [false; CELLS],
            have_prev: false,
        }
    }
}

impl FlashDetector {
    pub fn reset(&mut self) {
        *self = FlashDetector::default();
    }

    pub fn push(&mut self, f: &VisualFrame, threshold: f32) -> Option<Flash> {
        let mut flash: Option<Flash> = None;
        if self.have_prev {
            for c in 0..CELLS {
                let v = f.cells[c];
                if self.lit[c] {
                    if v <= self.base[c] + threshold / 2.0 {
                        self.lit[c] = false;
                    }
                    continue;
                }
                let rise = v - self.prev[c];
                if rise >= threshold {
                    self.lit[c] = true;
                    self.base[c] = self.prev[c];
                    let fl = flash.get_or_insert(Flash {
                        strength: 0.0,
                        cells: 0,
                    });
                    fl.strength = fl.strength.max(rise);
                    fl.cells += 1;
                }
            }
        }
        self.prev = f.cells;
        self.have_prev = true;
        flash
    }
}

/// Second-order IIR section (RBJ cookbook), direct form I.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Biquad {
    b0: f32,
    b1: f32,
    b2: f32,
    a1: f32,
    a2: f32,
    x1: f32,
    x2: f32,
    y1: f32,
    y2: f32,
}

impl Biquad {
    pub(crate) fn new(high_pass: bool, freq: f64, rate: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * (freq / rate).clamp(1e-4, 0.49);
        let alpha = w0.sin() / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let cos = w0.cos();
        let (b0, b1, b2) = if high_pass {
            ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0)
        } else {
            ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0)
        };
        let a0 = 1.0 + alpha;
        Biquad {
            b0: (b0 / a0) as f32,
            b1: (b1 / a0) as f32,
            b2: (b2 / a0) as f32,
            a1: (-2.0 * cos / a0) as f32,
            a2: ((1.0 - alpha) / a0) as f32,
            ..Default::default()
        }
    }

    #[inline]
    pub(crate) fn run(&mut self, x: f32) -> f32 {
        let y = self.b0 * x + self.b1 * self.x1 + self.b2 * self.x2
            - self.a1 * self.y1
            - self.a2 * self.y2;
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        // Flush denormals: long silences would otherwise slow the filter down.
        self.y1 = if y.abs() < 1e-20 { 0.0 } else { y };
        self.y1
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeepParams {
    pub min_freq: f64,
    pub max_freq: f64,
    pub snr_db: f64,
    pub min_level_db: f64,
    pub min_duration: u64,
}

impl Default for BeepParams {
    fn default() -> Self {
        BeepParams {
            min_freq: 200.0,
            max_freq: 8000.0,
            snr_db: 20.0,
            min_level_db: -50.0,
            min_duration: 10_000_000,
        }
    }
}

/// A detected beep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beep {
    /// Absolute index of the onset sample in the stream.
    pub onset: u64,
    /// Running time of the onset sample.
    pub rt: u64,
    /// Band energy above the noise floor, dB.
    pub snr_db: f32,
    /// Peak band level, dBFS.
    pub level_db: f32,
    /// Estimated tone frequency (zero crossings), Hz.
    pub frequency: f32,
    /// The burst crosses zero at a steady interval (a tone, not a knock or noise).
    pub tonal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BeepState {
    Quiet,
    Rising { start: u64, loud: u64, peak: f64 },
    Loud { quiet: u64 },
}

/// How long after the onset the tone is examined: the first 10 ms are skipped (attack,
/// codec pre-echo and transient smearing), the next 20 ms decide.
const TONE_SKIP_MS: u64 = 10;
const TONE_END_MS: u64 = 30;

/// Finds the onset of tone bursts in one audio stream.
#[derive(Debug)]
pub struct BeepDetector {
    rate: u32,
    params: BeepParams,
    // Two sections each: fourth-order band edges keep rumble and hiss out.
    hp: [Biquad; 2],
    lp: [Biquad; 2],
    block: u64,
    acc: f64,
    acc_n: u64,
    floor: f64,
    state: BeepState,
    /// Absolute index of the next sample.
    n: u64,
    /// Largest |sample| over the channels, and the channel mix, of the last `ring.len()` samples.
    ring_abs: Vec<f32>,
    ring_mix: Vec<f32>,
    mask: u64,
    /// A beep whose onset is known, waiting for its tone to be examined, with its onset.
    pending: Option<(Beep, u64)>,
}

impl BeepDetector {
    pub fn new(rate: u32, params: BeepParams) -> Self {
        let rate = rate.max(1);
        // 100 ms of history, a power of two.
        let len = ((rate as usize) / 10).max(64).next_power_of_two();
        let r = rate as f64;
        BeepDetector {
            rate,
            params,
            hp: [Biquad::new(true, params.min_freq, r); 2],
            lp: [Biquad::new(false, params.max_freq.min(r * 0.45), r); 2],
            block: (rate as u64 / 500).max(1),
            acc: 0.0,
            acc_n: 0,
            floor: db_to_power(params.min_level_db),
            state: BeepState::Quiet,
            n: 0,
            ring_abs: vec![0.0; len],
            ring_mix: vec![0.0; len],
            mask: len as u64 - 1,
            pending: None,
        }
    }

    /// Index of the next sample.
    pub fn position(&self) -> u64 {
        self.n
    }

    /// Starts over (flush, discontinuity): a beep cannot span the break.
    pub fn reset(&mut self) {
        *self = BeepDetector::new(self.rate, self.params);
    }

    /// Feeds one sample frame: the channel mix and the largest |sample| over the channels.
    /// `rt0`/`n0` anchor sample index `n0` at running time `rt0`, to time a beep.
    #[inline]
    pub fn push(&mut self, mix: f32, abs: f32, anchor: (u64, u64)) -> Option<Beep> {
        let mut y = mix;
        for f in self.hp.iter_mut().chain(self.lp.iter_mut()) {
            y = f.run(y);
        }
        let i = (self.n & self.mask) as usize;
        self.ring_abs[i] = abs;
        self.ring_mix[i] = mix;
        self.n += 1;
        self.acc += (y * y) as f64;
        self.acc_n += 1;
        if self.acc_n < self.block {
            return None;
        }
        let e = self.acc / self.acc_n as f64;
        self.acc = 0.0;
        self.acc_n = 0;
        if let Some(b) = self.block_end(e, anchor) {
            self.pending = Some((b, b.onset));
        }
        let (_, onset) = self.pending?;
        let ms = (self.rate as u64 / 1000).max(1);
        let ended = matches!(self.state, BeepState::Quiet);
        if self.n >= onset + TONE_END_MS * ms || ended {
            let (mut b, onset) = self.pending.take()?;
            let from = (onset + TONE_SKIP_MS * ms).min(self.n.saturating_sub(ms));
            let (frequency, tonal) = self.tone(from);
            b.frequency = frequency;
            b.tonal = tonal;
            return Some(b);
        }
        None
    }

    fn block_end(&mut self, e: f64, anchor: (u64, u64)) -> Option<Beep> {
        let on = (self.floor * db_to_power(self.params.snr_db))
            .max(db_to_power(self.params.min_level_db));
        let off = on / 4.0;
        let min_loud =
            (self.params.min_duration as u128 * self.rate as u128 / 1_000_000_000) as u64;
        match self.state {
            BeepState::Quiet => {
                if e >= on {
                    self.state = BeepState::Rising {
                        start: self.n - self.block,
                        loud: self.block,
                        peak: e,
                    };
                } else {
                    // The floor follows quiet levels down at once and up slowly (~5 dB/s).
                    self.floor = if e < self.floor {
                        e.max(1e-14)
                    } else {
                        self.floor * 1.0025
                    };
                }
            }
            BeepState::Rising { start, loud, peak } => {
                if e < off {
                    self.state = BeepState::Quiet;
                } else {
                    let loud = loud + self.block;
                    let peak = peak.max(e);
                    if loud >= min_loud.max(self.block) {
                        self.state = BeepState::Loud { quiet: 0 };
                        return Some(self.onset(start, peak, anchor));
                    }
                    self.state = BeepState::Rising { start, loud, peak };
                }
            }
            BeepState::Loud { quiet } => {
                if e < off {
                    let quiet = quiet + self.block;
                    self.state = if quiet >= self.rate as u64 / 100 {
                        BeepState::Quiet
                    } else {
                        BeepState::Loud { quiet }
                    };
                } else {
                    self.state = BeepState::Loud { quiet: 0 };
                }
            }
        }
        None
    }

    fn onset(&self, start: u64, peak_e: f64, anchor: (u64, u64)) -> Beep {
        let len = self.ring_abs.len() as u64;
        let oldest = self.n.saturating_sub(len);
        let at = |i: u64| self.ring_abs[(i & self.mask) as usize];
        let peak = (start.max(oldest)..self.n).map(at).fold(0f32, f32::max);
        let noise = (self.floor.sqrt() * 4.0) as f32;
        let thr = (0.05 * peak).max(noise);
        let half_period = (self.rate as f64 / (2.0 * self.params.min_freq)).ceil() as u64;
        let lowest = start.saturating_sub(self.rate as u64 / 50).max(oldest);
        // The first loud sample of the block that started the rise, then back from it while the
        // burst's samples continue. The block itself may hold only a codec's pre-echo (a lossy
        // frame spreads a little of the burst over its start): its start is not the onset.
        let first = (start.max(oldest)..self.n)
            .find(|&i| at(i) >= thr)
            .unwrap_or(start);
        let mut onset = first;
        let mut quiet = 0u64;
        let mut i = first;
        while i > lowest {
            i -= 1;
            if at(i) >= thr {
                onset = i;
                quiet = 0;
            } else {
                quiet += 1;
                if quiet > half_period {
                    break;
                }
            }
        }
        let (n0, rt0) = anchor;
        let rt = if onset >= n0 {
            rt0 + samples_to_ns(onset - n0, self.rate)
        } else {
            rt0.saturating_sub(samples_to_ns(n0 - onset, self.rate))
        };
        Beep {
            onset,
            rt,
            snr_db: power_to_db(peak_e / self.floor.max(1e-14)) as f32,
            level_db: power_to_db(peak_e) as f32,
            frequency: 0.0,
            tonal: false,
        }
    }

    /// Frequency and tonality from the zero crossings of the mix over `[from, self.n)`: a tone
    /// crosses at a steady interval, a knock or a noise burst does not.
    fn tone(&self, from: u64) -> (f32, bool) {
        let len = self.ring_abs.len() as u64;
        let from = from.max(self.n.saturating_sub(len));
        let mut crossings = 0u32;
        let (mut first, mut prev_x) = (0u64, 0u64);
        let (mut sum, mut sq) = (0f64, 0f64);
        let mut last = 0f32;
        for k in from..self.n {
            let v = self.ring_mix[(k & self.mask) as usize];
            if v != 0.0 {
                if last != 0.0 && (v > 0.0) != (last > 0.0) {
                    if crossings == 0 {
                        first = k;
                    } else {
                        let d = (k - prev_x) as f64;
                        sum += d;
                        sq += d * d;
                    }
                    crossings += 1;
                    prev_x = k;
                }
                last = v;
            }
        }
        if crossings < 3 {
            return (0.0, false);
        }
        let n = (crossings - 1) as f64;
        let mean = sum / n;
        let sd = (sq / n - mean * mean).max(0.0).sqrt();
        let f = n * self.rate as f64 / (2.0 * (prev_x - first) as f64);
        let in_band = f >= self.params.min_freq * 0.8 && f <= self.params.max_freq * 1.2;
        (f as f32, in_band && sd <= 0.15 * mean + 0.5)
    }
}

pub fn samples_to_ns(n: u64, rate: u32) -> u64 {
    ((n as u128 * 1_000_000_000 + rate as u128 / 2) / rate as u128) as u64
}

fn db_to_power(db: f64) -> f64 {
    10f64.powf(db / 10.0)
}

fn power_to_db(p: f64) -> f64 {
    10.0 * p.max(1e-14).log10()
}

/// A flash or a beep waiting for its partner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cue {
    pub rt: u64,
    /// Times of the flash frame (beeps: running time only).
    pub stamp: Stamp,
    /// 0..1: how clearly the cue stood out.
    pub quality: f64,
}

/// One completed flash/beep pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairMeasurement {
    pub flash: Cue,
    pub beep: Cue,
    /// t(beep) - t(flash), ns: positive means audio late.
    pub offset: i64,
    /// Median of the last 5 offsets.
    pub smoothed: i64,
    /// Slope of the offset over the last pairs, ms per minute (None until 3 pairs span 10 s).
    pub drift_ms_per_min: Option<f64>,
    /// 0..1.
    pub confidence: f64,
    /// Pairs measured since the start.
    pub count: u64,
}

/// Cues waiting for a partner. In file pipelines without sync one branch can run far ahead of the
/// other (a chained test saw 24 s): 256 cues cover over 12 minutes of a 3 s pattern, in under 40 KiB.
pub const QUEUE: usize = 256;
const HISTORY: usize = 16;

/// Index of the cue of `cues` nearest to `rt`, within `max_offset` (the first of equals).
fn nearest(cues: &VecDeque<Cue>, rt: u64, max_offset: u64) -> Option<usize> {
    cues.iter()
        .enumerate()
        .filter(|(_, o)| o.rt.abs_diff(rt) <= max_offset)
        .min_by_key(|(_, o)| o.rt.abs_diff(rt))
        .map(|(i, _)| i)
}

/// Pairs flashes with beeps and keeps the measurement history.
#[derive(Debug)]
pub struct Pairer {
    flashes: VecDeque<Cue>,
    beeps: VecDeque<Cue>,
    history: VecDeque<(u64, i64)>,
    pattern: Pattern,
    pub count: u64,
    pub unpaired_flashes: u64,
    pub unpaired_beeps: u64,
    /// Pairs that never joined a pattern (speech or music onsets that met a flash).
    pub unconfirmed: u64,
}

/// Recognition of a test pattern among the pairs: flashes each met by a beep at a steady period
/// and a steady offset. Ordinary content can put a tonal onset near a flash now and then, but not
/// at every flash in a row. Two pairs of consecutive cues (nothing unpaired between them) whose
/// offsets agree within the tolerance establish the pattern and its period; from then on a pair is
/// measured at once when its offset agrees with the last one and it falls a whole number of
/// periods after it (a lost cue between them costs only its own pair). Any other pair waits for
/// the next one to confirm it (a step in the offset costs no measurement); a pair nothing
/// confirms is not measured.
#[derive(Debug, Default, Clone, Copy)]
struct Pattern {
    /// The last pair seen, and whether it was measured.
    last: Option<(Cue, Cue, bool)>,
    /// A cue went unpaired since the last pair.
    broken: bool,
    /// The pattern's period (ns), once two consecutive pairs agreed.
    period: Option<u64>,
}

impl Pattern {
    /// Whether the pair at `flash`, `beep` follows the last one: the same offset within
    /// `tolerance`, and one period later (any whole number of periods once the period is known).
    fn follows(&self, flash: Cue, beep: Cue, tolerance: u64) -> bool {
        let Some((last_flash, last_beep, _)) = self.last else {
            return false;
        };
        let spacing = flash.rt.saturating_sub(last_flash.rt);
        let beep_spacing = beep.rt.saturating_sub(last_beep.rt);
        if spacing == 0 || spacing.abs_diff(beep_spacing) > tolerance {
            return false;
        }
        match self.period {
            Some(p) if p > 0 => {
                let k = (spacing + p / 2) / p;
                k >= 1 && spacing.abs_diff(k * p) <= tolerance.max(p / 20)
            }
            _ => !self.broken,
        }
    }
}

impl Default for Pairer {
    fn default() -> Self {
        Pairer {
            flashes: VecDeque::with_capacity(QUEUE),
            beeps: VecDeque::with_capacity(QUEUE),
            history: VecDeque::with_capacity(HISTORY),
            pattern: Pattern::default(),
            count: 0,
            unpaired_flashes: 0,
            unpaired_beeps: 0,
            unconfirmed: 0,
        }
    }
}

impl Pairer {
    /// Forgets waiting cues and the history (flush, new segment).
    pub fn reset(&mut self) {
        self.flashes.clear();
        self.beeps.clear();
        self.history.clear();
        self.drop_pending();
        self.pattern = Pattern::default();
    }

    /// Counts a last pair that was never measured as unconfirmed (it is being forgotten).
    fn drop_pending(&mut self) {
        if let Some((_, _, false)) = self.pattern.last {
            self.unconfirmed += 1;
        }
    }

    /// Closes the pairing at the end of the stream: a last pair that nothing confirmed is counted
    /// as unconfirmed.
    pub fn finish(&mut self) {
        self.drop_pending();
        self.pattern.last = None;
    }

    /// Passes the pair `flash`, `beep` through the pattern recognition: measures it (and a
    /// waiting pair it confirms) or keeps it waiting.
    fn pattern_pair(
        &mut self,
        flash: Cue,
        beep: Cue,
        tolerance: u64,
        out: &mut impl FnMut(PairMeasurement),
    ) {
        let pat = self.pattern;
        let mut measured = false;
        if pat.follows(flash, beep, tolerance)
            && let Some((f, b, done)) = pat.last
        {
            if pat.period.is_none() {
                self.pattern.period = Some(flash.rt - f.rt);
            }
            if !done {
                out(self.measure(f, b, tolerance));
            }
            out(self.measure(flash, beep, tolerance));
            measured = true;
        } else {
            self.drop_pending();
        }
        self.pattern.last = Some((flash, beep, measured));
        self.pattern.broken = false;
    }

    pub fn add_flash(&mut self, c: Cue) {
        if self.flashes.len() == QUEUE {
            self.pattern.broken = true;
            self.flashes.pop_front();
            self.unpaired_flashes += 1;
        }
        self.flashes.push_back(c);
    }

    pub fn add_beep(&mut self, c: Cue) {
        if self.beeps.len() == QUEUE {
            self.pattern.broken = true;
            self.beeps.pop_front();
            self.unpaired_beeps += 1;
        }
        self.beeps.push_back(c);
    }

    /// Pairs every cue whose partner can no longer change: the other stream has passed the cue by
    /// `max_offset` (`u64::MAX` for a stream at EOS). `tolerance` is the agreement tolerance for
    /// the confidence (half a frame).
    pub fn resolve(
        &mut self,
        video_pos: u64,
        audio_pos: u64,
        max_offset: u64,
        tolerance: u64,
        mut out: impl FnMut(PairMeasurement),
    ) {
        loop {
            let f = self.flashes.front().copied();
            let b = self.beeps.front().copied();
            let (cue, is_flash) = match (f, b) {
                (None, None) => return,
                (Some(f), None) => (f, true),
                (None, Some(b)) => (b, false),
                (Some(f), Some(b)) => {
                    if f.rt <= b.rt {
                        (f, true)
                    } else {
                        (b, false)
                    }
                }
            };
            let other_pos = if is_flash { audio_pos } else { video_pos };
            if other_pos < cue.rt.saturating_add(max_offset) {
                return;
            }
            let (own, others) = if is_flash {
                (&self.flashes, &self.beeps)
            } else {
                (&self.beeps, &self.flashes)
            };
            let best = nearest(others, cue.rt, max_offset);
            // Only mutual nearest cues pair: the partner's own nearest cue of this kind must be
            // this one. A cue whose partner was lost (a first flash on frame 0 not detected, an
            // extra flash) is nearer to a neighbour's partner than that neighbour is, so it stays
            // an orphan instead of shifting every later pair by a period. Deciding it needs the
            // partner's window on this cue's stream closed too.
            if let Some(i) = best {
                let partner = others[i];
                let own_pos = if is_flash { video_pos } else { audio_pos };
                if own_pos < partner.rt.saturating_add(max_offset) {
                    return;
                }
                if nearest(own, partner.rt, max_offset) != Some(0) {
                    self.pattern.broken = true;
                    if is_flash {
                        self.flashes.pop_front();
                        self.unpaired_flashes += 1;
                    } else {
                        self.beeps.pop_front();
                        self.unpaired_beeps += 1;
                    }
                    continue;
                }
            }
            if is_flash {
                self.flashes.pop_front();
            } else {
                self.beeps.pop_front();
            }
            let Some(i) = best else {
                self.pattern.broken = true;
                if is_flash {
                    self.unpaired_flashes += 1;
                } else {
                    self.unpaired_beeps += 1;
                }
                continue;
            };
            let partner = if is_flash {
                self.beeps.remove(i).unwrap()
            } else {
                self.flashes.remove(i).unwrap()
            };
            let (flash, beep) = if is_flash {
                (cue, partner)
            } else {
                (partner, cue)
            };
            self.pattern_pair(flash, beep, tolerance, &mut out);
        }
    }

    fn measure(&mut self, flash: Cue, beep: Cue, tolerance: u64) -> PairMeasurement {
        let offset = beep.rt as i64 - flash.rt as i64;
        let agreeing = self
            .history
            .iter()
            .rev()
            .take(4)
            .filter(|(_, o)| o.abs_diff(offset) <= tolerance)
            .count();
        let previous = self.history.len().min(4);
        let agreement = if previous == 0 {
            0.5
        } else {
            agreeing as f64 / previous as f64
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((flash.rt, offset));
        self.count += 1;
        let mut last: [i64; 5] = [0; 5];
        let n = self.history.len().min(5);
        for (slot, (_, o)) in last.iter_mut().zip(self.history.iter().rev()) {
            *slot = *o;
        }
        last[..n].sort_unstable();
        let smoothed = if n % 2 == 1 {
            last[n / 2]
        } else {
            (last[n / 2 - 1] + last[n / 2]) / 2
        };
        PairMeasurement {
            flash,
            beep,
            offset,
            smoothed,
            drift_ms_per_min: self.drift(),
            confidence: flash.quality * beep.quality * (0.5 + 0.5 * agreement),
            count: self.count,
        }
    }

    /// Least-squares slope of the offsets of the last pairs, in ms per minute.
    fn drift(&self) -> Option<f64> {
        let n = self.history.len();
        if n < 3 {
            return None;
        }
        let t0 = self.history.back()?.0 as f64;
        let span = self.history.back()?.0 - self.history.front()?.0;
        if span < 10_000_000_000 {
            return None;
        }
        let (mut sx, mut sy, mut sxx, mut sxy) = (0f64, 0f64, 0f64, 0f64);
        for &(t, o) in &self.history {
            let x = (t as f64 - t0) / 60e9;
            let y = o as f64 / 1e6;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        let nf = n as f64;
        let den = nf * sxx - sx * sx;
        (den > 0.0).then(|| (nf * sxy - sx * sy) / den)
    }
}

/// Tolerance limits of one profile: audio may be at most `early` ahead of video and `late` behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub early: u64,
    pub late: u64,
}

impl Limits {
    pub fn contains(&self, offset: i64) -> bool {
        offset >= -(self.early as i64) && offset <= self.late as i64
    }
}

/// An out-of-tolerance offset defect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffsetDefect {
    pub id: u64,
    pub start: Stamp,
    pub start_rt: u64,
    pub first_offset: i64,
    pub worst_offset: i64,
    pub last_offset: i64,
    pub measurements: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlarmEvent {
    Start(OffsetDefect),
    End {
        defect: OffsetDefect,
        end: Stamp,
        end_rt: u64,
    },
}

/// Raises `av-offset` once `min_measurements` consecutive offsets are out of tolerance; ends it at
/// the first offset back within.
#[derive(Debug, Default)]
pub struct OffsetAlarm {
    run: Option<OffsetDefect>,
    run_len: u64,
    open: Option<OffsetDefect>,
}

impl OffsetAlarm {
    pub fn push(
        &mut self,
        m: &PairMeasurement,
        limits: Limits,
        min_measurements: u64,
        ids: &mut dyn FnMut() -> u64,
    ) -> Option<AlarmEvent> {
        let o = m.offset;
        if limits.contains(o) {
            self.run = None;
            self.run_len = 0;
            return self.open.take().map(|defect| AlarmEvent::End {
                defect,
                end: m.flash.stamp,
                end_rt: m.flash.rt,
            });
        }
        if let Some(open) = self.open.as_mut() {
            open.last_offset = o;
            open.measurements += 1;
            if o.unsigned_abs() > open.worst_offset.unsigned_abs() {
                open.worst_offset = o;
            }
            return None;
        }
        let run = self.run.get_or_insert(OffsetDefect {
            id: 0,
            start: m.flash.stamp,
            start_rt: m.flash.rt,
            first_offset: o,
            worst_offset: o,
            last_offset: o,
            measurements: 0,
        });
        run.measurements += 1;
        run.last_offset = o;
        if o.unsigned_abs() > run.worst_offset.unsigned_abs() {
            run.worst_offset = o;
        }
        self.run_len += 1;
        if self.run_len >= min_measurements.max(1) {
            let mut d = self.run.take()?;
            d.id = ids();
            self.open = Some(d);
            self.run_len = 0;
            return Some(AlarmEvent::Start(d));
        }
        None
    }

    /// Ends an open defect (EOS, flush, stop); forgets a run not yet confirmed.
    pub fn close(&mut self, end: Stamp, end_rt: u64) -> Option<AlarmEvent> {
        self.run = None;
        self.run_len = 0;
        self.open.take().map(|defect| AlarmEvent::End {
            defect,
            end,
            end_rt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn tone(rate: u32, freq: f64, amp: f32, start: usize, len: usize, total: usize) -> Vec<f32> {
        (0..total)
            .map(|i| {
                if i >= start && i < start + len {
                    let t = (i - start) as f64 / rate as f64;
                    amp * (2.0 * std::f64::consts::PI * freq * t).sin() as f32
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn beeps(samples: &[f32], rate: u32, noise: f32) -> Vec<Beep> {
        let mut d = BeepDetector::new(rate, BeepParams::default());
        let mut seed = 1u32;
        let mut out = Vec::new();
        for &s in samples {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2.0 * noise;
            let x = s + n;
            if let Some(b) = d.push(x, x.abs(), (0, 0)) {
                out.push(b);
            }
        }
        out
    }

    #[test]
    fn beep_onset_is_sample_accurate() {
        for (rate, freq) in [
            (48_000, 1000.0),
            (44_100, 440.0),
            (48_000, 250.0),
            (32_000, 6000.0),
        ] {
            let start = 12_345;
            let s = tone(rate, freq, 0.5, start, rate as usize / 10, rate as usize);
            let b = beeps(&s, rate, 0.0);
            assert_eq!(b.len(), 1, "{rate} {freq}");
            let err = b[0].onset as i64 - start as i64;
            // Within 2 samples of the first sample of the burst.
            assert!((0..=2).contains(&err), "{rate} {freq}: {err}");
            assert!((b[0].frequency - freq as f32).abs() < freq as f32 * 0.05);
            assert!(b[0].tonal);
        }
    }

    #[test]
    fn pre_echo_before_a_beep_is_not_its_onset() {
        // A lossy codec spreads a faint copy of the burst over the start of its frame: here
        // 3 ms at -34 dB below the tone, loud enough to start the rise a block early.
        let rate = 48_000;
        let start = 24_000 + 37;
        let mut s = tone(rate, 1000.0, 0.5, start, 4800, 96_000);
        for (i, x) in tone(rate, 1000.0, 0.01, start - 144, 144, 96_000)
            .iter()
            .enumerate()
        {
            s[i] += x;
        }
        let b = beeps(&s, rate, 0.0);
        assert_eq!(b.len(), 1);
        let err = b[0].onset as i64 - start as i64;
        assert!((0..=2).contains(&err), "onset {err} samples from the burst");
    }

    #[test]
    fn beep_in_noise_and_quiet_beeps() {
        // -30 dBFS tone (FFmpeg avsynctest's level) over -70 dBFS noise.
        let rate = 48_000;
        let s = tone(rate, 1000.0, 0.0316, 24_000, 1600, 96_000);
        let b = beeps(&s, rate, 0.0003);
        assert_eq!(b.len(), 1);
        assert!((b[0].onset as i64 - 24_000).abs() <= 3, "{}", b[0].onset);
        // Out-of-band rumble (50 Hz) is not a beep.
        let s = tone(rate, 50.0, 0.5, 24_000, 4800, 96_000);
        assert!(beeps(&s, rate, 0.0).is_empty());
        // A noise burst is loud but not tonal.
        let mut seed = 5u32;
        let s: Vec<f32> = (0..96_000)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if (24_000..28_800).contains(&i) {
                    ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.6
                } else {
                    0.0
                }
            })
            .collect();
        let b = beeps(&s, rate, 0.0);
        assert_eq!(b.len(), 1);
        assert!(!b[0].tonal);
        // A 2 ms click is not a beep.
        let s = tone(rate, 1000.0, 0.5, 24_000, 96, 96_000);
        assert!(beeps(&s, rate, 0.0).is_empty());
    }

    fn cue(rt: u64) -> Cue {
        Cue {
            rt,
            stamp: Stamp {
                running_time: Some(gst::ClockTime::from_nseconds(rt)),
                ..Default::default()
            },
            quality: 1.0,
        }
    }

    #[test]
    fn pairing_waits_for_both_streams() {
        let mut p = Pairer::default();
        let mut got = Vec::new();
        p.add_flash(cue(3000 * MS));
        // Audio has not reached 3 s + max offset yet: no decision.
        p.resolve(5000 * MS, 3500 * MS, 1000 * MS, 20 * MS, |m| got.push(m));
        assert!(got.is_empty());
        p.add_beep(cue(3900 * MS));
        // Paired, but one pair is not a pattern yet: it waits for the next.
        p.resolve(5000 * MS, 4100 * MS, 1000 * MS, 20 * MS, |m| got.push(m));
        assert!(got.is_empty());
        p.add_flash(cue(4000 * MS));
        p.add_beep(cue(4900 * MS));
        p.resolve(6000 * MS, 6000 * MS, 1000 * MS, 20 * MS, |m| got.push(m));
        let offsets: Vec<i64> = got.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [900 * MS as i64; 2]);
        // A lone flash is dropped once the window has passed.
        p.add_flash(cue(9000 * MS));
        p.resolve(11_000 * MS, 11_000 * MS, 1000 * MS, 20 * MS, |m| {
            got.push(m)
        });
        assert_eq!(got.len(), 2);
        assert_eq!(p.unpaired_flashes, 1);
        // Two periods later the pattern goes on: measured at once.
        p.add_flash(cue(11_000 * MS));
        p.add_beep(cue(11_900 * MS));
        p.resolve(13_000 * MS, 13_000 * MS, 1000 * MS, 20 * MS, |m| {
            got.push(m)
        });
        assert_eq!(got.len(), 3);
        // Audio early: the beep comes first. A step from +900 to -200 ms: the first pair after
        // it waits for the next to confirm it, then both are measured.
        p.add_beep(cue(14_800 * MS));
        p.add_flash(cue(15_000 * MS));
        p.resolve(16_000 * MS, 16_000 * MS, 1000 * MS, 20 * MS, |m| {
            got.push(m)
        });
        assert_eq!(got.len(), 3);
        p.add_beep(cue(15_800 * MS));
        p.add_flash(cue(16_000 * MS));
        p.resolve(17_000 * MS, 17_000 * MS, 1000 * MS, 20 * MS, |m| {
            got.push(m)
        });
        let offsets: Vec<i64> = got[3..].iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [-(200 * MS as i64); 2]);
    }

    /// Speech or music onsets that fall near flashes now and then, or near every flash at an
    /// offset that wanders as onsets do, are not a test pattern: nothing is measured.
    #[test]
    fn content_onsets_near_flashes_are_not_a_pattern() {
        let flashes: Vec<u64> = (0..7).map(|k| 1400 + k * 2200).collect();
        // Utterance onsets met by a tonal detection at two flashes only.
        let (got, _, _) = replay(&flashes, &[3550, 12_360]);
        assert!(got.is_empty(), "{got:?}");
        // Onsets at every flash, 30 to 110 ms from it.
        let beeps: Vec<u64> = flashes
            .iter()
            .zip([30, 110, 60, 95, 40, 80, 55])
            .map(|(f, d)| f + d)
            .collect();
        let (got, _, _) = replay(&flashes, &beeps);
        assert!(got.is_empty(), "{got:?}");
        let mut p = Pairer::default();
        for (&f, &b) in flashes.iter().zip(&beeps) {
            p.add_flash(cue(f * MS));
            p.add_beep(cue(b * MS));
        }
        p.resolve(u64::MAX, u64::MAX, 1000 * MS, 20 * MS, |_| {
            panic!("measured")
        });
        p.finish();
        assert_eq!((p.count, p.unconfirmed), (0, 7));
    }

    /// Pairs `flashes` and `beeps` (ms) as both streams advance together in 100 ms steps, then at
    /// EOS: the offsets (ms) and the unpaired counts.
    fn replay(flashes: &[u64], beeps: &[u64]) -> (Vec<i64>, u64, u64) {
        let mut p = Pairer::default();
        let mut got = Vec::new();
        let (mut fi, mut bi) = (0, 0);
        for pos in (0..=30_000).step_by(100) {
            while fi < flashes.len() && flashes[fi] <= pos {
                p.add_flash(cue(flashes[fi] * MS));
                fi += 1;
            }
            while bi < beeps.len() && beeps[bi] <= pos {
                p.add_beep(cue(beeps[bi] * MS));
                bi += 1;
            }
            p.resolve(pos * MS, pos * MS, 1000 * MS, 20 * MS, |m| {
                got.push(m.offset / MS as i64)
            });
        }
        p.resolve(u64::MAX, u64::MAX, 1000 * MS, 20 * MS, |m| {
            got.push(m.offset / MS as i64)
        });
        (got, p.unpaired_flashes, p.unpaired_beeps)
    }

    #[test]
    fn a_missing_or_extra_cue_never_shifts_the_pairs() {
        let every = |from: u64, offset: i64| -> Vec<u64> {
            (0..10)
                .map(|k| (from as i64 + k * 1000 + offset) as u64)
                .collect()
        };
        // The first flash (frame 0) not detected, its beep heard: in sync, 40 ms late, 200 ms
        // late. The orphan beep must not take the next flash.
        for late in [0, 40, 200] {
            let (got, uf, ub) = replay(&every(0, 0)[1..], &every(0, late));
            assert_eq!(got, vec![late; 9], "{late} ms");
            assert_eq!((uf, ub), (0, 1));
        }
        // Audio 200 ms early with its first beep missing.
        let (got, uf, ub) = replay(&every(0, 0), &every(1000, -200)[..9]);
        assert_eq!(got, vec![-200; 9]);
        assert_eq!((uf, ub), (1, 0));
        // An extra flash without a beep, and an extra beep without a flash, mid-file.
        let mut flashes = every(0, 0);
        flashes.insert(4, 3450);
        let mut beeps = every(0, 120);
        beeps.insert(7, 6600);
        let (got, uf, ub) = replay(&flashes, &beeps);
        assert_eq!(got, vec![120; 10]);
        assert_eq!((uf, ub), (1, 1));
        // Dropouts: two flashes and a beep lost at different places.
        let flashes: Vec<u64> = every(1000, 0)
            .into_iter()
            .filter(|&t| t != 3000 && t != 6000)
            .collect();
        let beeps: Vec<u64> = every(1000, -80)
            .into_iter()
            .filter(|&t| t != 8920)
            .collect();
        let (got, uf, ub) = replay(&flashes, &beeps);
        assert_eq!(got, vec![-80; 7]);
        assert_eq!((uf, ub), (1, 2));
        // A step from +100 to -300 ms half-way is followed at once.
        let beeps: Vec<u64> = (0..10)
            .map(|k| {
                if k < 5 {
                    k * 1000 + 100
                } else {
                    k * 1000 - 300
                }
            })
            .collect();
        let (got, _, _) = replay(&every(0, 0), &beeps);
        assert_eq!(got, [vec![100; 5], vec![-300; 5]].concat());
    }

    #[test]
    fn drift_and_smoothing() {
        let mut p = Pairer::default();
        let mut got = Vec::new();
        // 1 ms/s drift: offset grows by 3 ms every 3 s pair.
        for k in 0..10u64 {
            let t = 3000 * MS * (k + 1);
            p.add_flash(cue(t));
            p.add_beep(cue(t + 3 * MS * k));
            p.resolve(t + 2000 * MS, t + 2000 * MS, 1000 * MS, 20 * MS, |m| {
                got.push(m)
            });
        }
        assert_eq!(got.len(), 10);
        let d = got[9].drift_ms_per_min.unwrap();
        assert!((d - 60.0).abs() < 0.01, "{d}");
        assert_eq!(got[9].smoothed, 21 * MS as i64);
        assert!(got[9].confidence > 0.99);
    }

    #[test]
    fn alarm_needs_consecutive_measurements() {
        let limits = Limits {
            early: 45 * MS,
            late: 125 * MS,
        };
        let mut a = OffsetAlarm::default();
        let mut next = 0;
        let mut ids = || {
            next += 1;
            next
        };
        let m = |t: u64, o: i64| PairMeasurement {
            flash: cue(t),
            beep: cue((t as i64 + o) as u64),
            offset: o,
            smoothed: o,
            drift_ms_per_min: None,
            confidence: 1.0,
            count: 0,
        };
        let ms = MS as i64;
        assert!(
            a.push(&m(1000 * MS, -45 * ms), limits, 3, &mut ids)
                .is_none()
        );
        assert!(
            a.push(&m(2000 * MS, -46 * ms), limits, 3, &mut ids)
                .is_none()
        );
        assert!(
            a.push(&m(3000 * MS, 130 * ms), limits, 3, &mut ids)
                .is_none()
        );
        let Some(AlarmEvent::Start(d)) = a.push(&m(4000 * MS, 126 * ms), limits, 3, &mut ids)
        else {
            panic!("no alarm");
        };
        assert_eq!(d.start_rt, 2000 * MS);
        assert_eq!(d.worst_offset, 130 * ms);
        assert_eq!(d.measurements, 3);
        let Some(AlarmEvent::End { end_rt, defect, .. }) =
            a.push(&m(5000 * MS, 125 * ms), limits, 3, &mut ids)
        else {
            panic!("no end");
        };
        assert_eq!(end_rt, 5000 * MS);
        assert_eq!(defect.id, 1);
    }

    #[test]
    fn flash_box_and_full_frame() {
        let mut d = FlashDetector::default();
        let dark = VisualFrame {
            cells: [16.0; CELLS],
            motion: 0.0,
        };
        let mut boxed = dark;
        boxed.cells[27] = 120.0;
        assert!(d.push(&dark, 50.0).is_none());
        let f = d.push(&boxed, 50.0).unwrap();
        assert_eq!(f.cells, 1);
        assert_eq!(f.strength, 104.0);
        // Staying lit is not a new flash; going dark and lit again is.
        assert!(d.push(&boxed, 50.0).is_none());
        assert!(d.push(&dark, 50.0).is_none());
        let bright = VisualFrame {
            cells: [235.0; CELLS],
            motion: 0.0,
        };
        assert_eq!(d.push(&bright, 50.0).unwrap().cells, 64);
    }
}
