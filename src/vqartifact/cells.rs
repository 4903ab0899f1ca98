// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Per-cell decisions: which 16x16 cells look damaged in this frame, which of them are new, and
//! whether the new ones form a cluster the stream's recent past cannot explain.
//!
//! A cell side is *blocky* when the step across it exceeds the steps beside it by `step_min` code
//! values and by a factor of `ratio_min` (with +2 in both terms so flat areas do not divide by
//! zero). A cell is *boxed* with at least `sides_min` blocky sides; *fill* when its inside is
//! constant at a concealment colour (green: luma below the black level of limited-range video, as
//! all-zero YUV renders; grey: mid-level) while a neighbour is textured; *smear* when its rows (or
//! columns) repeat exactly while it has structure the other way (rows copied down, streaks), it
//! had texture in the copy direction in the last frame (at a hard cut, where the last frame says
//! nothing, it lies in a slice's tail: of the three picture rows' worth of cells from or to it in
//! raster order, or fewer at the picture's end or start but at least one row, 80 % have no
//! structure along the copy direction and a quarter are copied lines) and a neighbour along the
//! copy direction is smeared too; *stale* when, at a hard cut, a textured cell that usually
//! changes keeps its content (concealment copied the previous picture). Within
//! a shot the same copy is a *stall*: from some cell in raster order (where a slice's damage
//! begins) to the end, the cells that moved in the last frame stopped dead, while those before it
//! kept moving, and the next frame moves them again (the following pictures are decoded against
//! the copy) while the one after does not stop them dead again (content on twos would). Cells
//! that stopped dead after moving in the 24 frames before do not count (content on threes). It is
//! confirmed two frames late and reported then as stale cells. A flag counts only when it is new:
//! boxed not seen in the cell in the last two frames, fill or smear not already so in the last
//! frame, and the cell not chronic (flagged in more than `chronic_frac` of about the last 250
//! frames, which learns logos, pillarbox edges and other pixel-aligned graphics).

use super::features::{CELL, Features};

/// Decision thresholds, in 8-bit code values.
#[derive(Debug, Clone, Copy)]
pub struct CellParams {
    pub step_min: f32,
    pub ratio_min: f32,
    pub sides_min: u32,
    pub chronic_frac: f32,
    /// Mean interior step (horizontal + vertical) at or below which a cell is constant.
    pub flat_max: f32,
    /// Mean interior step of the neighbours from which they count as textured.
    pub texture_min: f32,
    /// Scale of code values (1 for limited-range 8-bit; kept for deeper formats read as 8-bit).
    pub full_range: bool,
    /// Mean step across the copied rows (or columns) of a smeared cell.
    pub smear_min: f32,
    /// Mean change of the cell means from which a frame is a hard cut.
    pub scenecut: f32,
    /// A *faint* side is blocky at this fraction of `step_min`; a cell boxed by faint sides
    /// counts as boxed when its mean moved by `popped_change` or more since the last frame.
    pub faint_fraction: f32,
    pub popped_change: f32,
    /// Stalls: a cell *moved* when its mean changed by `stall_moved` or more since the last
    /// frame, *stopped* when by less than `stall_frozen`; at least `stall_min` stopped cells.
    /// `stall_moved` infinite turns stalls off.
    pub stall_moved: f32,
    pub stall_frozen: f32,
    pub stall_min: u32,
    /// A *seam* is a blocky side across texture: the mean step beside it is at least this. A
    /// cell with two new seams is *displaced*. Infinite turns displaced cells off.
    pub seam_texture: f32,
}

impl Default for CellParams {
    fn default() -> Self {
        CellParams {
            step_min: 20.0,
            ratio_min: 3.0,
            sides_min: 3,
            chronic_frac: 0.5,
            flat_max: 0.1,
            texture_min: 6.0,
            full_range: false,
            scenecut: 20.0,
            smear_min: 1.0,
            faint_fraction: 0.6,
            popped_change: 3.0,
            stall_moved: 3.0,
            stall_frozen: 0.25,
            stall_min: 8,
            seam_texture: 2.0,
        }
    }
}

/// What a flagged cell looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Signature {
    Boxed = 0,
    FillGreen = 1,
    FillGrey = 2,
    Smear = 3,
    Stale = 4,
}

pub const SIGNATURES: usize = 5;

impl Signature {
    pub fn as_str(self) -> &'static str {
        match self {
            Signature::Boxed => "boxed",
            Signature::FillGreen => "fill-green",
            Signature::FillGrey => "fill-grey",
            Signature::Smear => "smear",
            Signature::Stale => "stale",
        }
    }

    pub fn from_index(i: usize) -> Signature {
        [
            Signature::Boxed,
            Signature::FillGreen,
            Signature::FillGrey,
            Signature::Smear,
            Signature::Stale,
        ][i.min(SIGNATURES - 1)]
    }
}

// Per-cell history bits, `HISTORY_BITS` per frame.
const BOXED: u8 = 1;
const FLAT: u8 = 2;
const SMEAR: u8 = 4;
const FAINT: u8 = 8;
const HISTORY_BITS: u32 = 4;
/// Three frames of history.
const HISTORY_MASK: u16 = (1 << (3 * HISTORY_BITS)) - 1;

// Per-cell stall flag: the cell is in the stalled region awaiting confirmation.
const PENDING: u8 = 1;
/// Frames since a cell last stopped dead after moving before it votes in a stall.
const STALL_CALM: u8 = 24;
/// Frames after a stall that must move its cells again before it is confirmed: a stall is
/// reported this many analysed frames after the one it happened on.
pub const STALL_CONFIRM: usize = 2;

/// Displaced cells per frame whose positions are kept for their cluster (more are counted, not
/// placed).
const MAX_DISPLACED: usize = 32;

/// Frames a popped-up (or displaced) cell stays in the cluster map after the frame it popped up
/// in.
pub const POPPED_HOLD: u8 = 2;
/// Frames of displaced cells kept: this one and the held ones.
const HELD: usize = POPPED_HOLD as usize + 1;

// Per-side flags, each a count in its own nibble: the flags of a cell's four sides add up to both
// counts.
const SIDE_BLOCKY: u8 = 1;
const SIDE_FAINT: u8 = 16;

/// One step of an exponential moving average of a 0/1 event. Values that decay below 1e-6 are
/// flushed to 0: left alone they would sink into subnormal floats after about 11 000 frames
/// without the event (7 minutes at 25 fps) and stay there, and arithmetic on subnormals is many
/// times slower; this loop runs for every cell of every frame.
#[inline(always)]
fn ema(value: f32, event: bool, alpha: f32) -> f32 {
    // A select, not an integer conversion: cvtsi2ss merges into its destination register and
    // chained every cell's update to the previous one's (a third of this loop's time).
    let target = if event { 1.0 } else { 0.0 };
    let v = value + alpha * (target - value);
    if v < 1e-6 { 0.0 } else { v }
}

/// Whether a neighbour of cell (`cx`, `cy`) (left, right, above or below) in a grid of `cols` x
/// `rows` cells is textured: `activity` at least `texture_min`.
fn textured_around(
    (cols, rows): (usize, usize),
    (cx, cy): (usize, usize),
    p: &CellParams,
    activity: &impl Fn(usize) -> f32,
) -> bool {
    let mut best = 0.0f32;
    for (dx, dy) in [(-1i32, 0i32), (1, 0), (0, -1), (0, 1)] {
        let (x, y) = (cx as i32 + dx, cy as i32 + dy);
        if x < 0 || y < 0 || x as usize >= cols || y as usize >= rows {
            continue;
        }
        best = best.max(activity(y as usize * cols + x as usize));
    }
    best >= p.texture_min
}

/// The outcome for one frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct CellFrame {
    /// New, non-chronic flagged cells.
    pub new_cells: u32,
    /// Flagged cells, new or not, chronic or not.
    pub flagged: u32,
    /// Largest number of new cells within the cluster window around any new cell.
    pub cluster: u32,
    /// Bounding box of the new cells of the densest cluster, in cells (x0, y0, x1, y1 inclusive).
    pub bbox: Option<(u16, u16, u16, u16)>,
    /// Counts of new cells per signature.
    pub signatures: [u32; SIGNATURES],
    /// New cells boxed by faint sides whose mean jumped (counted as boxed).
    pub popped: u32,
    /// Like `cluster`, counting also the cells that popped up in the last `POPPED_HOLD` frames
    /// (0 when none did): the blocks one loss conceals appear over successive frames as the
    /// prediction chain spreads them.
    pub cluster_held: u32,
    /// Cells of a stall confirmed by this frame (counted as new stale cells; their damage began
    /// `STALL_CONFIRM` analysed frames earlier).
    pub stalled: u32,
    /// New displaced cells (counted as boxed), and the most distinct cells displaced in this
    /// frame or the last `POPPED_HOLD` within `radius` rows of one of this frame's (the blocks of
    /// one loss come out of the prediction chain over successive frames).
    pub displaced: u32,
    pub displaced_cluster: u32,
    /// Analysed frames before this one where the oldest cell of that count was displaced (0
    /// unless that count is 2 or more: a held cell is another cell than this frame's).
    pub displaced_age: u8,
    /// Mean absolute change of the cell means since the last frame (a scene-cut measure).
    pub cell_mafd: f32,
    /// Cells in the analysed grid.
    pub cells: u32,
}

/// Cell state carried between frames.
pub struct Cells {
    cols: usize,
    rows: usize,
    /// Last three frames' BOXED/FLAT/SMEAR/FAINT bits, newest in the low bits.
    history: Vec<u16>,
    chronic: Vec<f32>,
    /// Per cell, this frame: 1 rows copied down, 2 columns copied across.
    smear_dir: Vec<u8>,
    /// Per cell: its left (top) side is blocky (`SIDE_BLOCKY`), or faintly so (`SIDE_FAINT`), in
    /// this frame.
    left_flag: Vec<u8>,
    top_flag: Vec<u8>,
    /// Per cell: its left (top) side is a seam in this frame (bit 0) and was in the last (bit 1).
    left_seam: Vec<u8>,
    top_seam: Vec<u8>,
    /// Displaced cells (column, row) of this frame and the last `POPPED_HOLD` within the shot,
    /// the first `MAX_DISPLACED` of each: slot `frames % HELD` is this frame's.
    displaced: [[(u16, u16); MAX_DISPLACED]; HELD],
    displaced_len: [u8; HELD],
    /// Per cell: how often (EMA over about 250 frames) its mean stays unchanged.
    still: Vec<f32>,
    mean: Vec<f32>,
    /// Per cell, last frame: mean interior step across columns (h) and across rows (v).
    prev_h: Vec<f32>,
    prev_v: Vec<f32>,
    /// The same for this frame (swapped into `prev_*` at its end).
    cur_h: Vec<f32>,
    cur_v: Vec<f32>,
    new: Vec<u8>,
    new_sig: Vec<u8>,
    /// Per cell: frames left during which its last popping up still counts in clusters.
    popped_hold: Vec<u8>,
    /// Per cell: the absolute change of its mean in the last frame and in this one.
    prev_change: Vec<f32>,
    cur_change: Vec<f32>,
    /// Per cell, this frame: +1 stopped, -1 still changing, -2 kept moving, 0 did not vote
    /// (scratch of the stall search).
    vote: Vec<i8>,
    /// Per cell: frames since it last stopped dead after moving (saturating).
    since_stop: Vec<u8>,
    /// Per cell: `PENDING` when in the stall awaiting confirmation.
    stall: Vec<u8>,
    /// Cells of a stall awaiting confirmation (0: none), and the frames seen since it.
    pending: u32,
    pending_frames: u8,
    /// Summed-area table of `new`, (cols + 1) x (rows + 1).
    sat: Vec<u32>,
    /// Frames seen since the last reset.
    frames: u64,
}

impl Cells {
    pub fn new(max_cols: usize, max_rows: usize) -> Self {
        let n = max_cols * max_rows;
        Cells {
            cols: 0,
            rows: 0,
            history: vec![0; n],
            chronic: vec![0.0; n],
            smear_dir: vec![0; n],
            left_flag: vec![0; n],
            top_flag: vec![0; n],
            left_seam: vec![0; n],
            top_seam: vec![0; n],
            displaced: [[(0, 0); MAX_DISPLACED]; HELD],
            displaced_len: [0; HELD],
            still: vec![0.0; n],
            mean: vec![0.0; n],
            prev_h: vec![0.0; n],
            prev_v: vec![0.0; n],
            cur_h: vec![0.0; n],
            cur_v: vec![0.0; n],
            new: vec![0; n],
            new_sig: vec![0; n],
            popped_hold: vec![0; n],
            prev_change: vec![0.0; n],
            cur_change: vec![0.0; n],
            vote: vec![0; n],
            since_stop: vec![0; n],
            stall: vec![0; n],
            pending: 0,
            pending_frames: 0,
            sat: vec![0; (max_cols + 1) * (max_rows + 1)],
            frames: 0,
        }
    }

    /// Forgets the past (flush, discontinuity, geometry change).
    pub fn reset(&mut self) {
        self.history.fill(0);
        self.chronic.fill(0.0);
        self.still.fill(0.0);
        self.restart();
    }

    /// Forgets the last frames but keeps the chronic mask (after a lost-frame gap).
    pub fn restart(&mut self) {
        self.popped_hold.fill(0);
        self.displaced_len = [0; HELD];
        self.prev_change.fill(0.0);
        self.since_stop.fill(0);
        self.stall.fill(0);
        self.pending = 0;
        self.frames = 0;
    }

    /// Classifies the cells of the frame measured into `f`; `radius` is the cluster window's
    /// Chebyshev radius in cells.
    pub fn analyse(&mut self, f: &Features, p: &CellParams, radius: usize) -> CellFrame {
        let (cols, rows) = f.grid();
        if (cols, rows) != (self.cols, self.rows) {
            self.cols = cols;
            self.rows = rows;
            self.reset();
        }
        let n = cols * rows;
        let mut out = CellFrame {
            cells: n as u32,
            ..Default::default()
        };
        if n == 0 {
            return out;
        }
        let first = self.frames == 0;
        let alpha = 2.0 / 251.0;
        let rows16 = CELL as f32;
        // A side is blocky when B - A >= step and B + 2 >= ratio (A + 2), with B the mean step
        // across it (sum of 16 / 16) and A the mean beside it (sum of 32 / 32); multiplied by 32.
        let (t32, ratio) = (32.0 * p.step_min, p.ratio_min);
        let faint32 = t32 * p.faint_fraction;
        let seam32 = 32.0 * p.seam_texture;
        for ((((l, t), (ls, ts)), (&lb, &la)), (&tb, &ta)) in self
            .left_flag
            .iter_mut()
            .zip(self.top_flag.iter_mut())
            .zip(self.left_seam.iter_mut().zip(self.top_seam.iter_mut()))
            .zip(f.left_b[..n].iter().zip(&f.left_a[..n]))
            .zip(f.top_b[..n].iter().zip(&f.top_a[..n]))
        {
            let side = |b: u16, a: u16| {
                let (b2, a) = (2.0 * f32::from(b), f32::from(a));
                let shaped = b2 + 64.0 >= ratio * (a + 64.0);
                ((shaped && b2 - a >= t32) as u8 * SIDE_BLOCKY)
                    | ((shaped && b2 - a >= faint32) as u8 * SIDE_FAINT)
            };
            *l = side(lb, la);
            *t = side(tb, ta);
            // A seam: blocky across texture (graphics and bars have flat sides).
            let seam = |flag: u8, a: u16| (flag & SIDE_BLOCKY != 0 && f32::from(a) >= seam32) as u8;
            *ls = ((*ls << 1) & 2) | seam(*l, la);
            *ts = ((*ts << 1) & 2) | seam(*t, ta);
        }
        // Interior activity of every cell, needed for the neighbours of fill candidates.
        let activity = |i: usize| -> f32 { (f.hint[i] + f.vint[i]) as f32 / (2.0 * 15.0 * rows16) };
        let black_level = if p.full_range { -1.0 } else { 12.0 };
        let inv_interior = 1.0 / (15.0 * rows16);
        let area = rows16 * rows16;
        let mafd = f.lsum[..n]
            .iter()
            .zip(&self.mean[..n])
            .map(|(&s, &m)| (s as f32 / area - m).abs())
            .sum::<f32>()
            / n as f32;
        let cut = !first && mafd > p.scenecut;
        // This frame's displaced cells; a new shot's have nothing to do with the last one's.
        let slot = (self.frames % HELD as u64) as usize;
        if cut {
            self.displaced_len = [0; HELD];
        }
        self.displaced_len[slot] = 0;
        // The per-cell state as slices of this grid, bound once: indexed in the loop without
        // reloading each vector from `self` after every store.
        let (hint, vint, lsum) = (&f.hint[..n], &f.vint[..n], &f.lsum[..n]);
        let (left_flag, top_flag) = (&self.left_flag[..n], &self.top_flag[..n]);
        let (left_seam, top_seam) = (&self.left_seam[..n], &self.top_seam[..n]);
        let (prev_h, prev_v) = (&self.prev_h[..n], &self.prev_v[..n]);
        let (cur_h, cur_v) = (&mut self.cur_h[..n], &mut self.cur_v[..n]);
        let (smear_dir, means) = (&mut self.smear_dir[..n], &mut self.mean[..n]);
        let (cur_change, still) = (&mut self.cur_change[..n], &mut self.still[..n]);
        let (history, chronic_ema) = (&mut self.history[..n], &mut self.chronic[..n]);
        let (new_map, new_sig) = (&mut self.new[..n], &mut self.new_sig[..n]);
        let popped_hold = &mut self.popped_hold[..n];
        let (placed, placed_len) = (&mut self.displaced[slot], &mut self.displaced_len[slot]);
        for cy in 0..rows {
            for cx in 0..cols {
                let i = cy * cols + cx;
                let (l, r, t, b) = (cx >= 1, cx + 1 < cols, cy >= 1, cy + 1 < rows);
                let possible = l as u32 + r as u32 + t as u32 + b as u32;
                // Blocky sides in the low nibble, faint ones in the high one.
                let sides = u32::from(
                    (l as u8) * left_flag[i]
                        + (r as u8) * left_flag[(i + 1).min(n - 1)]
                        + (t as u8) * top_flag[i]
                        + (b as u8) * top_flag[(i + cols).min(n - 1)],
                );
                let enough = possible >= p.sides_min;
                let boxed = enough && sides & 15 >= p.sides_min;
                let faint = enough && sides >> 4 >= p.sides_min;
                // Seams new in this frame (not in the last) on two sides or more of a textured
                // cell: a block moved against the texture around it (a misplaced or wrongly
                // predicted macroblock). A seam that runs on straight over 4 cells or more is the
                // edge of something new on the grid (a graphic, a window), not a block.
                // (A seam is a blocky side: most cells have fewer than two and are done.)
                let seams = if first || cut || sides & 15 < 2 {
                    0
                } else {
                    // A new seam at `j` on a side inside the picture (a side past its edge has no
                    // cell), the `along`-th of `len` on its line (cells `step` apart), with fewer
                    // than 3 new seams next to it on that line.
                    let short = |inside: bool,
                                 seam: &[u8],
                                 j: usize,
                                 step: usize,
                                 along: usize,
                                 len: usize| {
                        let new = |k: usize| seam[k] == 1;
                        if !inside || !new(j) {
                            return 0;
                        }
                        let mut next = 0;
                        for m in 1..=along.min(3) {
                            if !new(j - m * step) {
                                break;
                            }
                            next += 1;
                        }
                        for m in 1..(len - along).min(4 - next) {
                            if !new(j + m * step) {
                                break;
                            }
                            next += 1;
                        }
                        u32::from(next < 3)
                    };
                    short(l, left_seam, i, cols, cy, rows)
                        + short(r, left_seam, i + 1, cols, cy, rows)
                        + short(t, top_seam, i, 1, cx, cols)
                        + short(b, top_seam, i + cols, 1, cx, cols)
                };
                let displaced = seams >= 2 && activity(i) >= p.seam_texture;
                let h_mean = hint[i] as f32 * inv_interior;
                let v_mean = vint[i] as f32 * inv_interior;
                let flat = h_mean + v_mean <= p.flat_max;
                // Rows copied down (no vertical change) or columns copied across.
                let rows_copied = !flat && v_mean <= p.flat_max && h_mean >= p.smear_min;
                let cols_copied = !flat && h_mean <= p.flat_max && v_mean >= p.smear_min;
                let smear = rows_copied || cols_copied;
                smear_dir[i] = rows_copied as u8 | ((cols_copied as u8) << 1);
                (cur_h[i], cur_v[i]) = (h_mean, v_mean);
                // Damage copies a line over structure the cell had: within a shot, a new smear
                // must have lost detail in the copy direction since the last frame (a codec's
                // quantisation or directional prediction only keeps flat what was already flat).
                // At a hard cut the last frame says nothing about this one (the smear must then
                // cover a slice's tail, below).
                let lost_detail = cut
                    || (rows_copied && prev_v[i] >= p.smear_min)
                    || (cols_copied && prev_h[i] >= p.smear_min);
                let mean = lsum[i] as f32 / area;
                let change = (mean - means[i]).abs();
                let unchanged = change < 1.0;
                means[i] = mean;
                cur_change[i] = change;
                // At a hard cut every cell changes; a textured cell that did not, where cells
                // usually change, is stale content left by concealment.
                let stale = cut && unchanged && still[i] < 0.5 && activity(i) >= p.texture_min;
                still[i] = ema(still[i], unchanged, alpha);

                let bits = (boxed as u16)
                    | ((flat as u16) << 1)
                    | ((smear as u16) << 2)
                    | ((faint as u16) << 3);
                let hist = history[i];
                // Set in the last frame (frames = 1) or the last two (frames = 2).
                let was = |bit: u8, frames: u32| -> bool {
                    let bit = u16::from(bit);
                    let mask = if frames >= 2 {
                        bit | (bit << HISTORY_BITS)
                    } else {
                        bit
                    };
                    hist & mask != 0
                };
                let chronic = chronic_ema[i] > p.chronic_frac;
                // A faint box counts when it popped up: no faint box in the cell in the last two
                // frames, and the cell's mean jumped, within a shot. A codec's faint block edges
                // come and go with the quantiser's rounding over content that stays; a concealed
                // block replaces the content.
                let popped = faint && !first && !cut && !was(FAINT, 2) && change >= p.popped_change;
                let mut sig = None;
                if !first && !chronic {
                    if (boxed && !was(BOXED, 2)) || popped || displaced {
                        sig = Some(Signature::Boxed);
                        out.popped += popped as u32;
                        if displaced {
                            let k = out.displaced as usize;
                            if k < MAX_DISPLACED {
                                placed[k] = (cx as u16, cy as u16);
                                *placed_len = k as u8 + 1;
                            }
                            out.displaced += 1;
                        }
                    } else if flat
                        && !was(FLAT, 1)
                        && textured_around((cols, rows), (cx, cy), p, &activity)
                    {
                        if mean < black_level {
                            sig = Some(Signature::FillGreen);
                        } else if (mean - 128.0).abs() <= 4.0 {
                            sig = Some(Signature::FillGrey);
                        }
                    }
                    if sig.is_none() && smear && lost_detail && !was(SMEAR, 1) {
                        sig = Some(Signature::Smear);
                    }
                    if sig.is_none() && stale {
                        sig = Some(Signature::Stale);
                    }
                }
                // A popped cell stays in the cluster map for `POPPED_HOLD` more frames: the map
                // holds the cells with a hold left after this frame's countdown.
                let hold = popped_hold[i];
                if popped && sig.is_some() {
                    popped_hold[i] = POPPED_HOLD + 1;
                } else if hold > 0 {
                    popped_hold[i] = hold - 1;
                }
                let flagged = boxed || smear || popped || displaced || (flat && sig.is_some());
                out.flagged += flagged as u32;
                chronic_ema[i] = ema(chronic_ema[i], flagged, alpha);
                history[i] = ((hist << HISTORY_BITS) | bits) & HISTORY_MASK;
                match sig {
                    Some(s) => {
                        new_map[i] = 1;
                        new_sig[i] = s as u8;
                        out.new_cells += 1;
                        out.signatures[s as usize] += 1;
                    }
                    None => new_map[i] = 0,
                }
            }
        }
        // A smear runs on: rows copied down fill the cells below too, columns copied across the
        // cells beside. A lone cell without change one way is a coarsely quantised block. And it
        // differs from its surroundings: in one of the four directions, the first cell with
        // structure along the copy direction kept it (`smear_min`, and within a shot half of what
        // it had). Beside a partial loss that is the intact neighbour; above a picture-wide one,
        // the last intact row it was copied from; on flat ground with no other structure, the
        // loss is local too. When the whole picture lost that structure at once (a coarser
        // quantiser, a cleaner source), nothing kept it, and a cell without it is content.
        if out.signatures[Signature::Smear as usize] > 0 {
            let along_step = |j: usize, d: u8| {
                if d & 1 != 0 {
                    (self.cur_v[j], self.prev_v[j])
                } else {
                    (self.cur_h[j], self.prev_h[j])
                }
            };
            let kept = |j: usize, d: u8| {
                let (now, before) = along_step(j, d);
                now >= p.smear_min && (cut || now >= 0.5 * before)
            };
            for i in 0..n {
                if self.new[i] == 0 || self.new_sig[i] != Signature::Smear as u8 {
                    continue;
                }
                let (cx, cy) = (i % cols, i / cols);
                let d = self.smear_dir[i];
                let along = |j: usize| self.smear_dir[j] & d != 0;
                let runs = if d & 1 != 0 {
                    (cy > 0 && along(i - cols)) || (cy + 1 < rows && along(i + cols))
                } else {
                    (cx > 0 && along(i - 1)) || (cx + 1 < cols && along(i + 1))
                };
                let row = cy * cols;
                // Walks away from the cell to the first one with structure along the copy
                // direction: did it keep it? Cells without it on the way either never had any
                // (flat ground, no evidence) or lost it in this frame too (`lost`).
                let mut lost = false;
                let mut first_kept = |cells: &mut dyn Iterator<Item = usize>| {
                    for j in cells {
                        let (now, before) = along_step(j, d);
                        if now > p.flat_max {
                            return Some(kept(j, d));
                        }
                        lost |= !cut && before >= p.smear_min;
                    }
                    None
                };
                let found = [
                    first_kept(&mut (0..cx).rev().map(|x| row + x)),
                    first_kept(&mut (cx + 1..cols).map(|x| row + x)),
                    first_kept(&mut (0..cy).rev().map(|y| y * cols + cx)),
                    first_kept(&mut (cy + 1..rows).map(|y| y * cols + cx)),
                ];
                // Something around kept its structure, or the cell was the only structure around
                // and nothing else lost any.
                let contrast = runs
                    && (found.contains(&Some(true))
                        || (!lost && found.iter().all(Option::is_none)));
                // At a hard cut a new shot's straight edges and streaks (a pillar, a defocused
                // light) repeat line after line as a copy does; concealment copies over the
                // whole tail of a slice. So the cells from the cell on in raster order, or up to
                // it, three picture rows' worth (less at the picture's end or start, but at least
                // one row), must be 80 % without structure along the copy direction (the first
                // rows of a concealment blend what lies around), and a quarter of them copied
                // lines themselves.
                let tail = !cut || {
                    let window = |a: usize, b: usize| {
                        let (mut bare, mut copied) = (0, 0);
                        for j in a..b {
                            bare += usize::from(along_step(j, d).0 <= p.flat_max);
                            copied += usize::from(along(j));
                        }
                        let len = b - a;
                        len >= cols && 5 * bare >= 4 * len && 4 * copied >= len
                    };
                    window(i, (i + 3 * cols).min(n))
                        || window((i + 1).saturating_sub(3 * cols), i + 1)
                };
                let contrast = contrast && tail;
                if !contrast {
                    self.new[i] = 0;
                    out.new_cells -= 1;
                    out.signatures[Signature::Smear as usize] -= 1;
                }
            }
        }
        if first {
            // The first frame's change is from a past it does not continue.
            self.cur_change[..n].fill(0.0);
        }
        self.stalls(&mut out, p, cut);
        std::mem::swap(&mut self.prev_change, &mut self.cur_change);
        std::mem::swap(&mut self.prev_h, &mut self.cur_h);
        std::mem::swap(&mut self.prev_v, &mut self.cur_v);
        out.cell_mafd = if first { 0.0 } else { mafd };
        self.frames += 1;
        if out.new_cells > 0 {
            self.cluster(&mut out, radius);
        }
        (out.displaced_cluster, out.displaced_age) = self.displaced_cluster(slot, radius);
        out
    }

    /// The most distinct cells displaced in this frame (`slot`) or the held ones before it within
    /// `radius` rows of one of this frame's (a cell displaced twice counts once), and how many
    /// frames before this one the oldest of them was. Rows, not the cluster window: the blocks a
    /// loss in a slice damages follow the error in raster order, across the picture's width.
    fn displaced_cluster(&self, slot: usize, radius: usize) -> (u32, u8) {
        let placed = |k: usize| &self.displaced[k][..usize::from(self.displaced_len[k])];
        // Slots from this frame's back to the oldest held one.
        let back = |age: usize| (slot + HELD - age) % HELD;
        let near =
            |&(_, y): &(u16, u16), &(_, v): &(u16, u16)| usize::from(y.abs_diff(v)) <= radius;
        placed(slot)
            .iter()
            .map(|c| {
                let (mut n, mut oldest) = (0, 0);
                for age in 0..HELD {
                    for d in placed(back(age)) {
                        let seen_later = (0..age).any(|newer| placed(back(newer)).contains(d));
                        if near(c, d) && !seen_later {
                            n += 1;
                            oldest = age as u8;
                        }
                    }
                }
                (n, oldest)
            })
            .max()
            .unwrap_or((0, 0))
    }

    /// Follows the stall in flight: the frame after it must move at least half of its cells
    /// again, the next must not stop 90 % of them dead again; then its cells are marked new and
    /// stale. Otherwise looks for a stall in this frame: the tail of the picture in raster order
    /// from the cell that best separates stopped cells after it from moving ones, with at least
    /// `stall_min` stopped cells, 70 % of the voters after it stopped and 70 % of those before it
    /// still changing, at least `stall_min` of those and a quarter as many as the stopped ones
    /// moving on (by `stall_moved` again). A repeated picture stops everything, but for what its
    /// encoder refines a little; a local copy leaves the rest moving as it moved. A cell votes
    /// when it changed by `stall_moved` in the last frame and has not stopped dead after moving
    /// in the `STALL_CALM` frames before. Runs apart from the per-cell loop, in passes the
    /// compiler can vectorise.
    fn stalls(&mut self, out: &mut CellFrame, p: &CellParams, cut: bool) {
        let n = self.cols * self.rows;
        let (prev, cur) = (&self.prev_change[..n], &self.cur_change[..n]);
        // A stall in flight, confirmed after `STALL_CONFIRM` frames.
        let mut in_flight = false;
        if self.pending > 0 {
            // The frame after the stall moves at least half of its cells again; in the one
            // after, they do not nearly all (90 %) stop dead again, as content on twos does (a
            // moving object leaving cells stops some).
            let (mut resumed, mut held) = (0u32, 0u32);
            for (&s, &c) in self.stall[..n].iter().zip(cur) {
                let pending = s & PENDING != 0;
                resumed += u32::from(pending & (c >= p.stall_moved));
                held += u32::from(pending & (c < p.stall_frozen));
            }
            let moved_again = !cut
                && if self.pending_frames == 0 {
                    2 * resumed >= self.pending
                } else {
                    10 * held < 9 * self.pending
                };
            self.pending_frames += 1;
            if moved_again && usize::from(self.pending_frames) < STALL_CONFIRM {
                in_flight = true;
            } else {
                if moved_again {
                    for i in 0..n {
                        if self.stall[i] & PENDING != 0 && self.new[i] == 0 {
                            self.new[i] = 1;
                            self.new_sig[i] = Signature::Stale as u8;
                            out.new_cells += 1;
                            out.signatures[Signature::Stale as usize] += 1;
                            out.stalled += 1;
                        }
                    }
                }
                self.stall[..n].fill(0);
                self.pending = 0;
            }
        }
        let (moved_min, frozen) = (p.stall_moved, p.stall_frozen);
        // Per cell: +1 stopped, -2 kept moving (by `stall_moved` again), -1 still changing but
        // by less (an encoder refining a repeated picture), 0 did not vote: it did not move in
        // the last frame, or it stopped dead after moving in the `STALL_CALM` frames before
        // (content held now and then: animation on twos or threes).
        let mut stopped = 0u32;
        for (v, ((&pc, &c), calm)) in self.vote[..n]
            .iter_mut()
            .zip(prev.iter().zip(cur).zip(self.since_stop[..n].iter_mut()))
        {
            // `&`, not `&&`: no branches on this data.
            let moved = pc >= moved_min;
            let still_now = c < frozen;
            let votes = moved & (*calm >= STALL_CALM);
            let stop = votes & still_now;
            stopped += u32::from(stop);
            *v = i8::from(stop) - i8::from(votes & !still_now) - i8::from(votes & (c >= moved_min));
            *calm = u8::from(!(moved & still_now)) * calm.saturating_add(1);
        }
        if in_flight || cut || !p.stall_moved.is_finite() || stopped < p.stall_min {
            return;
        }
        // The tail [start, n) maximising stopped - moving, the earliest on ties (selects, not
        // branches: the best changes on every cell of a run of ties).
        let (mut sum, mut best, mut start) = (0i32, i32::MIN, n);
        for (i, &v) in self.vote[..n].iter().enumerate().rev() {
            sum += i32::from(v.signum());
            let better = sum >= best;
            best = if better { sum } else { best };
            start = if better { i } else { start };
        }
        let count = |votes: &[i8], want: i8| votes.iter().filter(|&&v| v == want).count() as u32;
        let tail = &self.vote[start..n];
        let (a, b) = (count(tail, 1), count(tail, -1) + count(tail, -2));
        let head = &self.vote[..start];
        // Before the tail: kept moving, still changing by less, stopped.
        let (c, e, d) = (count(head, -2), count(head, -1), stopped - a);
        if a >= p.stall_min
            && 10 * a >= 7 * (a + b)
            && c >= p.stall_min.max(a.div_ceil(4))
            && 10 * (c + e) >= 7 * (c + e + d)
        {
            for (s, &v) in self.stall[start..n].iter_mut().zip(&self.vote[start..n]) {
                *s = u8::from(v == 1) * PENDING;
            }
            self.pending = a;
            self.pending_frames = 0;
        }
    }

    /// Whether cell `i` is in the cluster map: new, or (`held`) popped up in the last
    /// `POPPED_HOLD` frames.
    #[inline(always)]
    fn mapped(new: &[u8], hold: &[u8], held: bool, i: usize) -> bool {
        new[i] != 0 || (held && hold[i] > 0)
    }

    /// The densest window of the new cells (with `held`, and of the held popped ones): its count
    /// and centre.
    fn densest(&mut self, held: bool, radius: usize) -> (u32, usize, usize) {
        let (cols, rows) = (self.cols, self.rows);
        let (new, hold) = (&self.new, &self.popped_hold);
        let sw = cols + 1;
        let sat = &mut self.sat;
        for v in &mut sat[..sw] {
            *v = 0;
        }
        for y in 0..rows {
            let mut run = 0u32;
            sat[(y + 1) * sw] = 0;
            for x in 0..cols {
                run += u32::from(Self::mapped(new, hold, held, y * cols + x));
                sat[(y + 1) * sw + x + 1] = sat[y * sw + x + 1] + run;
            }
        }
        let window = |x0: usize, y0: usize, x1: usize, y1: usize| -> u32 {
            // Inclusive cell ranges.
            sat[(y1 + 1) * sw + x1 + 1] + sat[y0 * sw + x0]
                - sat[y0 * sw + x1 + 1]
                - sat[(y1 + 1) * sw + x0]
        };
        let mut best = (0u32, 0usize, 0usize);
        for y in 0..rows {
            for x in 0..cols {
                if !Self::mapped(new, hold, held, y * cols + x) {
                    continue;
                }
                let (x0, y0) = (x.saturating_sub(radius), y.saturating_sub(radius));
                let (x1, y1) = ((x + radius).min(cols - 1), (y + radius).min(rows - 1));
                let c = window(x0, y0, x1, y1);
                if c > best.0 {
                    best = (c, x, y);
                }
            }
        }
        best
    }

    /// The densest cluster of new cells and, when popped cells are held, of new and held cells;
    /// the bounding box of the denser.
    fn cluster(&mut self, out: &mut CellFrame, radius: usize) {
        let (cols, rows) = (self.cols, self.rows);
        let mut best = self.densest(false, radius);
        out.cluster = best.0;
        let mut held = false;
        let n = cols * rows;
        let held_any = self.popped_hold[..n]
            .iter()
            .zip(&self.new[..n])
            .any(|(&h, &new)| h > 0 && new == 0);
        if held_any {
            let with_held = self.densest(true, radius);
            out.cluster_held = with_held.0;
            if with_held.0 > best.0 {
                (best, held) = (with_held, true);
            }
        }
        let (new, hold) = (&self.new, &self.popped_hold);
        // Bounding box: the cells connected to the densest point through windows.
        let (_, bx, by) = best;
        let (mut x0, mut y0, mut x1, mut y1) = (bx, by, bx, by);
        loop {
            let (nx0, ny0) = (x0.saturating_sub(radius), y0.saturating_sub(radius));
            let (nx1, ny1) = ((x1 + radius).min(cols - 1), (y1 + radius).min(rows - 1));
            let (mut ex0, mut ey0, mut ex1, mut ey1) = (x1, y1, x0, y0);
            for y in ny0..=ny1 {
                for x in nx0..=nx1 {
                    if Self::mapped(new, hold, held, y * cols + x) {
                        ex0 = ex0.min(x);
                        ey0 = ey0.min(y);
                        ex1 = ex1.max(x);
                        ey1 = ey1.max(y);
                    }
                }
            }
            let grown = (ex0.min(x0), ey0.min(y0), ex1.max(x1), ey1.max(y1));
            if grown == (x0, y0, x1, y1) {
                break;
            }
            (x0, y0, x1, y1) = grown;
        }
        out.bbox = Some((x0 as u16, y0 as u16, x1 as u16, y1 as u16));
    }

    /// Iterates over the cells flagged new in the last frame, with their signature.
    pub fn new_cells(&self) -> impl Iterator<Item = (usize, usize, Signature)> + '_ {
        let cols = self.cols.max(1);
        self.new[..self.cols * self.rows]
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(move |(i, _)| {
                (
                    i % cols,
                    i / cols,
                    Signature::from_index(self.new_sig[i] as usize),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyse(cells: &mut Cells, f: &mut Features, pic: &[u8], w: usize, h: usize) -> CellFrame {
        analyse_with(cells, f, pic, (w, h), &CellParams::default())
    }

    /// The parameters of clean coding, where a block edge of 10 code values is one the codec did
    /// not make (the element's `clean-edge-step`).
    fn clean_coding() -> CellParams {
        CellParams {
            step_min: 10.0,
            ..CellParams::default()
        }
    }

    /// Measures `pic` (`w` x `h`) and classifies its cells with `p` (cluster radius 3).
    fn analyse_with(
        cells: &mut Cells,
        f: &mut Features,
        pic: &[u8],
        (w, h): (usize, usize),
        p: &CellParams,
    ) -> CellFrame {
        f.begin(w, h);
        f.plane(pic, w, 0);
        cells.analyse(f, p, 3)
    }

    fn texture(w: usize, h: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..w * h)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let (x, y) = (i % w, i / w);
                (100.0 + 30.0 * ((x as f32 / 5.0).sin() + (y as f32 / 7.0).cos())) as u8
                    + (s >> 29) as u8
            })
            .collect()
    }

    #[test]
    fn long_runs_never_leave_subnormal_state() {
        // A small moving picture for longer than the EMAs take to decay below f32's normal range.
        let (w, h) = (64, 48);
        let (mut cells, mut f) = (Cells::new(w / CELL, h / CELL), Features::new(w, h));
        let a = texture(w, h, 1);
        let b: Vec<u8> = a.iter().map(|v| v.saturating_add(20)).collect();
        let pics = [a, b];
        // Still first (the cells learn to stay unchanged), then changing every frame: the
        // stillness EMA decays from near 1 towards 0.
        for _ in 0..300 {
            analyse(&mut cells, &mut f, &pics[0], w, h);
        }
        let n = cells.cols * cells.rows;
        assert!(cells.still[..n].iter().all(|&v| v > 0.5));
        for k in 0..12_000 {
            analyse(&mut cells, &mut f, &pics[k % 2], w, h);
        }
        for v in cells.chronic[..n].iter().chain(&cells.still[..n]) {
            assert!(*v == 0.0 || v.is_normal(), "subnormal EMA state {v:e}");
        }
        assert!(
            cells.still[..n].iter().all(|&v| v == 0.0),
            "{:?}",
            &cells.still[..n]
        );
    }

    #[test]
    fn misplaced_blocks_cluster_and_repeat_is_not_new() {
        let (w, h) = (256, 160);
        let mut f = Features::new(w, h);
        let mut cells = Cells::new(w / 16, h / 16);
        let clean = texture(w, h, 1);
        assert_eq!(analyse(&mut cells, &mut f, &clean, w, h).new_cells, 0);
        assert_eq!(analyse(&mut cells, &mut f, &clean, w, h).new_cells, 0);
        // Paste four cells of strongly offset content: boxed cells.
        let mut bad = clean.clone();
        for (cx, cy) in [(4, 3), (5, 3), (6, 3), (5, 4), (8, 8)] {
            for y in cy * 16..cy * 16 + 16 {
                for x in cx * 16..cx * 16 + 16 {
                    bad[y * w + x] = if (cx + cy) % 2 == 0 { 230 } else { 20 };
                }
            }
        }
        let r = analyse(&mut cells, &mut f, &bad, w, h);
        assert!(r.new_cells >= 4, "{r:?}");
        assert!(r.cluster >= 4, "{r:?}");
        let (x0, y0, x1, y1) = r.bbox.unwrap();
        assert!(x0 <= 4 && y0 <= 3 && x1 >= 6 && y1 >= 4, "{r:?}");
        // The same damage again is not new.
        let r = analyse(&mut cells, &mut f, &bad, w, h);
        assert_eq!(r.new_cells, 0, "{r:?}");
    }

    /// `pic` (`w` wide) with the cells `at` showing the content 5 pixels right and 3 down: blocks
    /// decoded with a wrong motion vector.
    fn displace(pic: &[u8], w: usize, at: &[(usize, usize)]) -> Vec<u8> {
        let mut out = pic.to_vec();
        for &(cx, cy) in at {
            for y in cy * CELL..(cy + 1) * CELL {
                for x in cx * CELL..(cx + 1) * CELL {
                    out[y * w + x] = pic[(y + 3) * w + x + 5];
                }
            }
        }
        out
    }

    /// Blocks displaced against the texture around them have seams (blocky sides across texture)
    /// on two sides or more: displaced, and near each other a cluster. Shown again, they are not
    /// new. A flat square on the grid has seams at its corners too, but no texture inside.
    #[test]
    fn displaced_blocks_have_seams_across_texture() {
        let (w, h) = (256, 160);
        let mut f = Features::new(w, h);
        let p = clean_coding();
        let mut run_with = |cells: &mut Cells, pic: &[u8], p: &CellParams| {
            analyse_with(cells, &mut f, pic, (w, h), p)
        };
        let mut run = |cells: &mut Cells, pic: &[u8]| run_with(cells, pic, &p);
        let clean = texture(w, h, 1);
        let displaced = displace(&clean, w, &[(4, 3), (6, 4)]);
        let mut flat = clean.clone();
        for y in 3 * CELL..5 * CELL {
            flat[y * w + 4 * CELL..y * w + 6 * CELL].fill(200);
        }
        let mut cells = Cells::new(w / CELL, h / CELL);
        for _ in 0..2 {
            assert_eq!(run(&mut cells, &clean).displaced, 0);
        }
        let r = run(&mut cells, &displaced);
        assert_eq!((r.displaced, r.displaced_cluster), (2, 2), "{r:?}");
        assert_eq!(r.signatures[Signature::Boxed as usize], 2, "{r:?}");
        assert_eq!(run(&mut cells, &displaced).displaced, 0);
        let r = run(&mut cells, &flat);
        assert_eq!(r.displaced, 0, "{r:?}");
        // A large window of other texture on the grid: its corner has two seams, but they run
        // on straight along its edges.
        let mut window = clean.clone();
        for y in 4 * CELL..h - 3 {
            for x in 8 * CELL..w - 5 {
                window[y * w + x] = clean[(y + 3) * w + x + 5];
            }
        }
        run(&mut cells, &clean);
        let r = run(&mut cells, &window);
        assert_eq!(r.displaced, 0, "{r:?}");
        // Off (on blocky coding): nothing displaced.
        let mut cells = Cells::new(w / CELL, h / CELL);
        let off = CellParams {
            seam_texture: f32::INFINITY,
            ..p
        };
        for pic in [&clean, &clean, &displaced] {
            assert_eq!(run_with(&mut cells, pic, &off).displaced, 0);
        }
    }

    /// Displaced cells are held for `POPPED_HOLD` frames: a block displaced in one frame and
    /// another two rows down at the other side of the picture in the next count together, the
    /// oldest one frame back. A cell displaced again counts once; a cell further than the radius
    /// in rows does not count, nor one from before a cut.
    #[test]
    fn displaced_cells_are_held_along_the_rows() {
        let (w, h) = (512, 256);
        let mut f = Features::new(w, h);
        let p = clean_coding();
        let mut run = |cells: &mut Cells, pic: &[u8]| {
            let r = analyse_with(cells, &mut f, pic, (w, h), &p);
            (r.displaced, r.displaced_cluster, r.displaced_age)
        };
        let displace = |pic: &[u8], at: &[(usize, usize)]| displace(pic, w, at);
        let clean = texture(w, h, 1);
        let a = displace(&clean, &[(4, 5)]);
        let cut: Vec<u8> = clean.iter().map(|&v| v + 60).collect();
        let ab = displace(&clean, &[(4, 5), (25, 7)]);
        let far = displace(&clean, &[(4, 5), (25, 10)]);
        let after_cut = displace(&cut, &[(5, 6)]);
        let cases = [
            (vec![&a, &ab], (1, 2, 1)),
            (vec![&a, &clean, &a], (1, 1, 0)),
            (vec![&a, &far], (1, 1, 0)),
            (vec![&a, &cut, &after_cut], (1, 1, 0)),
        ];
        for (i, (pictures, last)) in cases.into_iter().enumerate() {
            let mut cells = Cells::new(w / CELL, h / CELL);
            run(&mut cells, &clean);
            run(&mut cells, &clean);
            assert_eq!(run(&mut cells, pictures[0]), (1, 1, 0), "case {i}");
            let mut r = None;
            for pic in &pictures[1..] {
                r = Some(run(&mut cells, pic));
            }
            assert_eq!(r, Some(last), "case {i}");
        }
    }

    /// Smooth ground (a gentle gradient) with `blocks` cells raised by `offset` code values, and
    /// by twice that on alternate cells (so that neighbouring blocks differ faintly too).
    fn faint_blocks(w: usize, h: usize, blocks: &[(usize, usize)], offset: i16) -> Vec<u8> {
        let mut pic: Vec<u8> = (0..w * h).map(|i| (90 + (i % w) / 16) as u8).collect();
        for &(cx, cy) in blocks {
            let offset = if (cx + cy) % 2 == 0 {
                offset
            } else {
                2 * offset
            };
            for y in cy * CELL..(cy + 1) * CELL {
                for x in cx * CELL..(cx + 1) * CELL {
                    pic[y * w + x] = (pic[y * w + x] as i16 + offset) as u8;
                }
            }
        }
        pic
    }

    #[test]
    fn faint_blocks_count_when_they_pop_up_on_clean_coding() {
        let (w, h) = (256, 160);
        let mut f = Features::new(w, h);
        // Clean coding: the element lowers the edge step to `clean-edge-step`.
        let clean = CellParams {
            step_min: 10.0,
            ..CellParams::default()
        };
        let mut run = |cells: &mut Cells, pic: &[u8], p: &CellParams| {
            f.begin(w, h);
            f.plane(pic, w, 0);
            cells.analyse(&f, p, 3)
        };
        let ground = faint_blocks(w, h, &[], 0);
        let two = [(5, 4), (6, 4)];
        let four = [(5, 4), (6, 4), (5, 5), (6, 5)];
        let mut cells = Cells::new(w / CELL, h / CELL);
        for _ in 0..2 {
            assert_eq!(run(&mut cells, &ground, &clean).new_cells, 0);
        }
        // Two blocks 8 and 16 code values brighter pop up: faint boxes (the first has steps of
        // 8 all round, under the blocky 10) whose means jumped: boxed.
        let r = run(&mut cells, &faint_blocks(w, h, &two, 8), &clean);
        assert_eq!((r.popped, r.signatures[0], r.cluster), (2, 2, 2), "{r:?}");
        assert_eq!(r.cluster_held, 0, "{r:?}");
        // The damage spreads to the two cells below in the next frame: they pop up, and the
        // two held from the last frame join their cluster; the first two are not new.
        let r = run(&mut cells, &faint_blocks(w, h, &four, 8), &clean);
        assert_eq!((r.popped, r.cluster, r.cluster_held), (2, 2, 4), "{r:?}");
        assert_eq!(r.bbox, Some((5, 4, 6, 5)), "{r:?}");
        // Held for `POPPED_HOLD` frames after they popped up: a lone cell popping up far away 2
        // frames later sees the lower two still held, the upper two (popped a frame earlier)
        // gone; a frame later only that lone cell is held.
        assert_eq!(POPPED_HOLD, 2);
        let r = run(&mut cells, &faint_blocks(w, h, &four, 8), &clean);
        assert_eq!(r.new_cells, 0, "{r:?}");
        let far = [(5, 4), (6, 4), (5, 5), (6, 5), (12, 1)];
        let r = run(&mut cells, &faint_blocks(w, h, &far, 8), &clean);
        assert_eq!((r.popped, r.cluster, r.cluster_held), (1, 1, 2), "{r:?}");
        assert_eq!(r.bbox, Some((5, 5, 6, 5)), "{r:?}");
        let farther = [(5, 4), (6, 4), (5, 5), (6, 5), (12, 1), (12, 8)];
        let r = run(&mut cells, &faint_blocks(w, h, &farther, 8), &clean);
        assert_eq!((r.popped, r.cluster, r.cluster_held), (1, 1, 1), "{r:?}");

        // Faint box edges that come and go over content that stays (a quantiser's rounding):
        // cells half 8 brighter, half 8 darker, every other frame; their means do not move.
        let mut cells = Cells::new(w / CELL, h / CELL);
        let mut halves = ground.clone();
        for &(cx, cy) in &four {
            for y in cy * CELL..(cy + 1) * CELL {
                for x in cx * CELL..(cx + 1) * CELL {
                    let d: i16 = if x % CELL < CELL / 2 { 8 } else { -8 };
                    halves[y * w + x] = (halves[y * w + x] as i16 + d) as u8;
                }
            }
        }
        for k in 0..8 {
            let pic = if k % 3 == 2 { &halves } else { &ground };
            let r = run(&mut cells, pic, &clean);
            assert_eq!((r.popped, r.new_cells), (0, 0), "frame {k}: {r:?}");
        }
        // The same cells popping up brighter are found (the pattern is faint enough).
        let r = run(&mut cells, &faint_blocks(w, h, &four, 8), &clean);
        assert_eq!(r.popped, 4, "{r:?}");

        // On blocky coding (or before the coding is known) popped boxes do not count.
        let blocky = CellParams {
            popped_change: f32::INFINITY,
            ..CellParams::default()
        };
        let mut cells = Cells::new(w / CELL, h / CELL);
        for _ in 0..2 {
            run(&mut cells, &ground, &blocky);
        }
        let r = run(&mut cells, &faint_blocks(w, h, &four, 8), &blocky);
        assert_eq!((r.popped, r.new_cells), (0, 0), "{r:?}");
    }

    #[test]
    fn a_copied_slice_that_moves_again_is_stale() {
        let (w, h) = (256, 160);
        let mut f = Features::new(w, h);
        let base = texture(w, h, 3);
        // Every cell moves: its mean steps by 6 or 18 every frame (period 4). `hold` keeps the
        // rows from `from_row` on at the last frame's picture.
        let moving =
            |k: usize| -> Vec<u8> { base.iter().map(|&v| v + 6 * (k % 4) as u8).collect() };
        let hold = |pic: &[u8], last: &[u8], from_row: usize| -> Vec<u8> {
            let mut out = pic.to_vec();
            out[from_row * w..].copy_from_slice(&last[from_row * w..]);
            out
        };
        let mut run = |cells: &mut Cells, pic: &[u8], p: &CellParams| {
            f.begin(w, h);
            f.plane(pic, w, 0);
            cells.analyse(&f, p, 3)
        };
        let p = CellParams::default();
        let warm = |cells: &mut Cells, run: &mut dyn FnMut(&mut Cells, &[u8]) -> CellFrame| {
            for k in 0..30 {
                assert_eq!(run(cells, &moving(k)).new_cells, 0, "frame {k}");
            }
        };
        // Rows 5.. (80 of 160 cells) stop dead at frame 6 while the rows above move on, and
        // move again at frames 7 and 8: confirmed at 8, the 80 cells new and stale.
        assert_eq!(STALL_CONFIRM, 2);
        let mut cells = Cells::new(w / CELL, h / CELL);
        warm(&mut cells, &mut |c, pic| run(c, pic, &p));
        let r = run(&mut cells, &hold(&moving(6), &moving(5), 5 * CELL), &p);
        assert_eq!((r.stalled, r.new_cells), (0, 0), "{r:?}");
        let r = run(&mut cells, &moving(7), &p);
        assert_eq!((r.stalled, r.new_cells), (0, 0), "{r:?}");
        let r = run(&mut cells, &moving(8), &p);
        assert_eq!(r.stalled, 80, "{r:?}");
        assert_eq!(r.signatures[Signature::Stale as usize], 80, "{r:?}");
        assert_eq!(r.bbox, Some((0, 5, 15, 9)), "{r:?}");
        // Not twice.
        assert_eq!(run(&mut cells, &moving(9), &p).stalled, 0);

        // Frames `frames`, rows 5.. holding the picture of frame `held(k)` when it says so:
        // never a stall.
        let never = |cells: &mut Cells,
                     frames: std::ops::Range<usize>,
                     held: &dyn Fn(usize) -> Option<usize>,
                     run: &mut dyn FnMut(&mut Cells, &[u8]) -> CellFrame| {
            for k in frames {
                let pic = match held(k) {
                    Some(j) => hold(&moving(k), &moving(j), 5 * CELL),
                    None => moving(k),
                };
                let r = run(cells, &pic);
                assert_eq!((r.stalled, r.new_cells), (0, 0), "frame {k}: {r:?}");
            }
        };
        // The same tail stopping again at frame 8 (content on twos from frame 6).
        let mut cells = Cells::new(w / CELL, h / CELL);
        warm(&mut cells, &mut |c, pic| run(c, pic, &p));
        let twos = |k: usize| k.is_multiple_of(2).then(|| k - 1);
        never(&mut cells, 6..12, &twos, &mut |c, pic| run(c, pic, &p));

        // A repeated picture: everything stops, nothing before the tail moves.
        let mut cells = Cells::new(w / CELL, h / CELL);
        warm(&mut cells, &mut |c, pic| run(c, pic, &p));
        for k in [5, 6, 7, 8] {
            let r = run(&mut cells, &moving(k), &p);
            assert_eq!((r.stalled, r.new_cells), (0, 0), "frame {k}: {r:?}");
        }

        // A repeated picture that its encoder refined a little above row 5 (every other pixel
        // one code value up: those cells still change, by 0.5, but none moves on).
        let mut cells = Cells::new(w / CELL, h / CELL);
        warm(&mut cells, &mut |c, pic| run(c, pic, &p));
        let mut refined = moving(5);
        for v in refined[..5 * CELL * w].iter_mut().step_by(2) {
            *v += 1;
        }
        for pic in [refined, moving(7), moving(8), moving(9)] {
            let r = run(&mut cells, &pic, &p);
            assert_eq!((r.stalled, r.new_cells), (0, 0), "{r:?}");
        }

        // Content that comes to rest for two frames before moving again.
        let mut cells = Cells::new(w / CELL, h / CELL);
        warm(&mut cells, &mut |c, pic| run(c, pic, &p));
        never(
            &mut cells,
            6..10,
            &|k| (k < 8).then_some(5),
            &mut |c, pic| run(c, pic, &p),
        );

        // Held every third frame from the start (animation on threes over a moving ground):
        // the cells stop dead too often to vote, though each hold moves on for two frames.
        let mut cells = Cells::new(w / CELL, h / CELL);
        let threes = |k: usize| (k % 3 == 2).then(|| k - 1);
        never(&mut cells, 0..40, &threes, &mut |c, pic| run(c, pic, &p));

        // Too few cells: 7 stopped at the end of the last row.
        let mut cells = Cells::new(w / CELL, h / CELL);
        warm(&mut cells, &mut |c, pic| run(c, pic, &p));
        let mut pic = moving(6);
        let last = moving(5);
        for y in 9 * CELL..h {
            pic[y * w + 9 * CELL..(y + 1) * w]
                .copy_from_slice(&last[y * w + 9 * CELL..(y + 1) * w]);
        }
        run(&mut cells, &pic, &p);
        for k in 7..9 {
            assert_eq!(run(&mut cells, &moving(k), &p).stalled, 0);
        }

        // Off on blocky coding.
        let off = CellParams {
            stall_moved: f32::INFINITY,
            ..p
        };
        let mut cells = Cells::new(w / CELL, h / CELL);
        warm(&mut cells, &mut |c, pic| run(c, pic, &off));
        run(&mut cells, &hold(&moving(6), &moving(5), 5 * CELL), &off);
        for k in 7..9 {
            assert_eq!(run(&mut cells, &moving(k), &off).stalled, 0);
        }
    }

    /// Vertical stripes on a dark ground, with grain (`noise`) or without.
    fn stripes(w: usize, h: usize, seed: u32, noise: bool) -> Vec<u8> {
        let mut s = seed;
        (0..w * h)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let base: u8 = if (i % w) % 64 < 12 { 90 } else { 30 };
                base + if noise { (s >> 27) as u8 } else { 0 }
            })
            .collect()
    }

    #[test]
    fn smear_is_lost_structure_that_the_surroundings_kept() {
        let (w, h) = (256, 160);
        let mut f = Features::new(w, h);
        let mut cells = Cells::new(w / 16, h / 16);
        let clean = texture(w, h, 1);
        analyse(&mut cells, &mut f, &clean, w, h);
        analyse(&mut cells, &mut f, &clean, w, h);
        // Concealment copies row 48 down over a textured region, columns 64..192.
        let mut bad = clean.clone();
        for y in 49..h {
            for x in 64..192 {
                bad[y * w + x] = clean[48 * w + x];
            }
        }
        let r = analyse(&mut cells, &mut f, &bad, w, h);
        assert!(r.signatures[Signature::Smear as usize] >= 8, "{r:?}");

        // The same stripes losing their grain everywhere at once (a coarser quantiser): every
        // stripe cell now has identical rows, but so has the ground around it.
        let mut cells = Cells::new(w / 16, h / 16);
        for k in 0..3 {
            let r = analyse(&mut cells, &mut f, &stripes(w, h, k, true), w, h);
            assert_eq!(r.new_cells, 0, "{r:?}");
        }
        for k in 0..3 {
            let r = analyse(&mut cells, &mut f, &stripes(w, h, k, false), w, h);
            assert_eq!(
                r.signatures[Signature::Smear as usize],
                0,
                "frame {k}: {r:?}"
            );
        }
        // A clean stripe graphic from the start never had structure to lose.
        let mut cells = Cells::new(w / 16, h / 16);
        for k in 0..3 {
            let r = analyse(&mut cells, &mut f, &stripes(w, h, k, false), w, h);
            assert_eq!(r.new_cells, 0, "{r:?}");
        }
    }

    #[test]
    fn smear_at_a_cut_is_a_slice_tail_of_copied_lines() {
        let (w, h) = (256, 160);
        let mut f = Features::new(w, h);
        // Shot A, then a cut to shot B (another texture, brighter: every cell changes).
        let a = texture(w, h, 1);
        let b: Vec<u8> = texture(w, h, 7).iter().map(|v| v + 60).collect();
        let mut cut_to = |pic: &[u8]| {
            let mut cells = Cells::new(w / CELL, h / CELL);
            for _ in 0..3 {
                analyse(&mut cells, &mut f, &a, w, h);
            }
            let r = analyse(&mut cells, &mut f, pic, w, h);
            assert!(r.cell_mafd > CellParams::default().scenecut, "{r:?}");
            r.signatures[Signature::Smear as usize]
        };
        // Shot B concealed from row 64 to the end by copying row 63 down: smear.
        let mut tail = b.clone();
        for y in 64..h {
            tail.copy_within(63 * w..64 * w, y * w);
        }
        assert!(cut_to(&tail) >= 8);
        // The same from row 128 only: a slice's tail of two rows of cells at the bottom.
        let mut short = b.clone();
        for y in 128..h {
            short.copy_within(127 * w..128 * w, y * w);
        }
        assert!(cut_to(&short) >= 8);
        // Shot B with two streaks (every row the same, 64 rows tall) among its own detail.
        let mut streaks = b.clone();
        for y in 32..96 {
            for x in (48..96).chain(160..208) {
                streaks[y * w + x] = (120.0 + 60.0 * (x as f32 / 5.0).sin()) as u8;
            }
        }
        assert_eq!(cut_to(&streaks), 0);
        // A streak in the last two columns of cells, down to the picture's end: the cells from
        // it to the end are few and all streak, but less than a row is no slice's tail.
        let mut corner = b.clone();
        for y in 96..h {
            for x in 224..256 {
                corner[y * w + x] = (120.0 + 60.0 * (x as f32 / 5.0).sin()) as u8;
            }
        }
        assert_eq!(cut_to(&corner), 0);
        // A dark, flat shot under a textured top with one lit pillar: the rows around it are
        // bare too, but a slice's tail would be copied lines, not flat ground.
        let mut pillar = vec![24u8; w * h];
        pillar[..32 * w].copy_from_slice(&b[..32 * w]);
        for y in 48..112 {
            for x in 112..128 {
                pillar[y * w + x] = (120.0 + 60.0 * (x as f32 / 3.0).sin()) as u8;
            }
        }
        assert_eq!(cut_to(&pillar), 0);
    }
}
