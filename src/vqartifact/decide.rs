// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Per-frame decisions of the element between the measurements and the messages, free of
//! GStreamer: frames lost before this one, whether the picture's coding just became coarser,
//! where a triggering cluster is in the picture, the blockiness time series, and the
//! [`Detector`] that takes one frame's measurements through all of them to the trackers.

use super::cells::{CellFrame, CellParams, POPPED_HOLD, STALL_CONFIRM};
use super::events::{
    BlockinessFrame, BlockinessParams, BlockinessTracker, Compressed, CorruptionParams,
    CorruptionTracker, Events, FrameEvidence,
};
use crate::event::Times;

/// Frames missing before the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LostFrames {
    /// Frames that fit in the gap (counted in the statistics whatever the stream).
    pub counted: u64,
    /// Those that are evidence of damage: in a fixed-rate stream, or after a DISCONT buffer
    /// (decoders drop what they cannot repair and do not pass DISCONT on).
    pub evidence: u64,
    /// Where the first missing frame was due (the end of the last frame), if evidence.
    pub start: Option<(Times, u64)>,
}

/// Frames lost between the last frame's end (`expected`, a PTS in ns; `last_end` its times) and
/// this frame's PTS, for frames of duration `dur`.
pub fn lost_frames(
    pts: Option<u64>,
    expected: Option<u64>,
    last_end: Option<(Times, u64)>,
    dur: u64,
    discont: bool,
    fixed_rate: bool,
) -> LostFrames {
    let (Some(p), Some(exp)) = (pts, expected) else {
        return LostFrames::default();
    };
    if p <= exp || dur == 0 {
        return LostFrames::default();
    }
    let counted = (p - exp + dur / 2) / dur;
    if counted == 0 || !(discont || fixed_rate) {
        return LostFrames {
            counted,
            ..Default::default()
        };
    }
    LostFrames {
        counted,
        evidence: counted,
        start: last_end,
    }
}

/// Whether the picture's coding is coarser than its last second: its grid ratio `r8` at or above
/// the alarm level, smoothed, or a jump of more than 1 above the smoothed value. Damage is local
/// and moves the picture's ratio only a little; coarser coding moves it all at once.
pub fn compressed(smoothed: Option<f64>, r8: f64, alarm: f64) -> Compressed {
    match smoothed {
        Some(s) if s >= alarm || r8 >= s + 1.0 => Compressed::Sustained,
        _ => Compressed::No,
    }
}

/// Pixel box (x0, y0, x1, y1, exclusive) of a cluster's cell box (inclusive, in cells of `cell`
/// pixels) in an analysed area whose top-left corner is `origin`.
pub fn pixel_box(
    cells: (u16, u16, u16, u16),
    origin: (usize, usize),
    cell: u32,
) -> (u32, u32, u32, u32) {
    let (x0, y0, x1, y1) = cells;
    let (ox, oy) = (origin.0 as u32, origin.1 as u32);
    (
        ox + u32::from(x0) * cell,
        oy + u32::from(y0) * cell,
        ox + (u32::from(x1) + 1) * cell,
        oy + (u32::from(y1) + 1) * cell,
    )
}

/// Blockiness scores accumulated over one `measurement-interval`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Series {
    /// The first frame's times and start (ns).
    pub since: Option<(Times, u64)>,
    pub frames: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Frames with pixel evidence of corruption.
    pub corrupted_frames: u64,
}

impl Series {
    /// Adds the frame [`t`, `t + dur`) scoring `score`; when it completes `interval`, returns the
    /// interval's series and starts a new one.
    pub fn push(
        &mut self,
        times: Times,
        t: u64,
        dur: u64,
        score: f64,
        corrupted: bool,
        interval: u64,
    ) -> Option<Series> {
        let (_, since_t) = *self.since.get_or_insert((times, t));
        if self.frames == 0 {
            self.min = score;
            self.max = score;
        }
        self.frames += 1;
        self.sum += score;
        self.min = self.min.min(score);
        self.max = self.max.max(score);
        self.corrupted_frames += u64::from(corrupted);
        (t + dur >= since_t + interval).then(|| std::mem::take(self))
    }

    /// Mean score, or `fallback` without frames.
    pub fn mean(&self, fallback: f64) -> f64 {
        if self.frames > 0 {
            self.sum / self.frames as f64
        } else {
            fallback
        }
    }
}

/// What the pixels of one analysed frame measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pixels {
    pub cells: CellFrame,
    /// Grid ratios on the grid and on the grid twice as coarse.
    pub r8: f64,
    pub r16: f64,
    /// Grid (period, phase) in each direction.
    pub grid_x: (f32, f32),
    pub grid_y: (f32, f32),
    /// Top-left corner of the analysed area in the picture.
    pub origin: (usize, usize),
}

/// One frame as the element places and measures it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Frame {
    pub times: Times,
    pub t: u64,
    pub dur: u64,
    pub now: Option<u64>,
    pub lost: LostFrames,
    pub decoder_flag: bool,
    /// Transport errors placed on this frame, and whether it is predicted from a damaged one.
    pub transport: crate::transport::TransportFrame,
    /// No unflagged frame has been seen since the stream started.
    pub startup: bool,
    /// Frames this one stands for (`frame-step`).
    pub step: u64,
    /// The pixel measurements, or None when the pixels were skipped or unreadable.
    pub pixels: Option<Pixels>,
}

/// The settings the decisions use.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub corruption: CorruptionParams,
    pub blockiness: BlockinessParams,
    /// Side of a cell in pixels.
    pub cell: u32,
    /// 0: no time series.
    pub measurement_interval: u64,
}

/// A completed blockiness time series and the last frame's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesOut {
    pub series: Series,
    pub score: f64,
    pub score_16: f64,
    pub smoothed: Option<f64>,
    pub grid_x: (f32, f32),
    pub grid_y: (f32, f32),
}

/// What one frame decided.
#[derive(Default)]
pub struct Decided {
    pub events: Events,
    /// The frame's pixels triggered corruption evidence.
    pub triggered: bool,
    pub series: Option<SeriesOut>,
}

/// The element's decisions from frame measurements to defect events.
pub struct Detector {
    pub corruption: CorruptionTracker,
    pub blockiness: BlockinessTracker,
    series: Series,
    /// The last analysed frame's grid ratios (kept by frames not analysed).
    pub last_score: (f64, f64),
    /// The last frame's start on the timeline, and its end.
    prev: Option<(u64, (Times, u64))>,
    /// The starts of the last `STALL_CONFIRM` analysed frames, newest first (a stall confirmed
    /// on this frame began on the oldest; displaced cells are held as long or less).
    recent: [Option<(Times, u64)>; STALL_CONFIRM],
}

const _: () = assert!(POPPED_HOLD as usize <= STALL_CONFIRM);

impl Detector {
    pub fn new(corruption: CorruptionTracker, blockiness: BlockinessTracker) -> Self {
        Detector {
            corruption,
            blockiness,
            series: Series::default(),
            last_score: (1.0, 1.0),
            prev: None,
            recent: [None; STALL_CONFIRM],
        }
    }

    /// The cell parameters for the next frame. While the smoothed blockiness stays below the
    /// warning level `warn`, the coding leaves no visible grid (a deblocked or fine encode), so a grid
    /// edge is one the codec did not make: a step of `clean_step` across a cell side counts
    /// instead of `base.step_min`, and a faint box that pops up is one too. Before the level is
    /// known (start, reset) and on blocky coding, the base parameters apply, without popped
    /// boxes, stalls and displaced cells: a coarser quantiser renews faint blocks all over the
    /// picture, skips blocks that move and leaves block edges across texture.
    pub fn cell_params(&self, base: CellParams, clean_step: f32, warn: f64) -> CellParams {
        match self.blockiness.smoothed {
            Some(s) if s < warn => CellParams {
                step_min: clean_step.min(base.step_min),
                ..base
            },
            _ => CellParams {
                popped_change: f32::INFINITY,
                stall_moved: f32::INFINITY,
                seam_texture: f32::INFINITY,
                ..base
            },
        }
    }

    /// Decides one frame.
    pub fn frame(&mut self, f: &Frame, p: &Params) -> Decided {
        let mut out = Decided::default();
        if let Some((t, end)) = self.prev
            && f.t < t
        {
            // Time went backwards: what came before cannot be joined with what follows.
            for e in self
                .close(Some(end), crate::message::EndReason::Discont, f.now)
                .iter()
            {
                out.events.push(*e);
            }
        }
        self.prev = Some((f.t, (f.times.plus(f.dur), f.t + f.dur)));
        let mut onset = None;
        let (cells, pixels, score, score_16, grid_x, grid_y) = match f.pixels {
            Some(m) => {
                let compressed = compressed(self.blockiness.smoothed, m.r8, p.blockiness.alarm);
                out.triggered = self
                    .corruption
                    .triggers(&m.cells, &p.corruption, compressed, f.t);
                let pixels = out
                    .triggered
                    .then(|| m.cells.bbox.map(|b| pixel_box(b, m.origin, p.cell)))
                    .flatten();
                // A stall is confirmed `STALL_CONFIRM` analysed frames late: its damage began
                // there. Displaced cells held from earlier frames began where the oldest was.
                let age = usize::from(m.cells.displaced_age);
                if m.cells.stalled > 0 {
                    onset = self.recent[STALL_CONFIRM - 1];
                } else if age > 0 {
                    onset = self.recent[age - 1];
                }
                self.recent.rotate_right(1);
                self.recent[0] = Some((f.times, f.t));
                (m.cells, pixels, m.r8, m.r16, m.grid_x, m.grid_y)
            }
            // A frame not analysed keeps the last score.
            None => (
                CellFrame::default(),
                None,
                self.last_score.0,
                self.last_score.1,
                (8.0, 0.0),
                (8.0, 0.0),
            ),
        };
        let evidence = FrameEvidence {
            times: f.times,
            t: f.t,
            duration: f.dur,
            now: f.now,
            cells,
            pixels,
            decoder_flag: f.decoder_flag,
            lost: f.lost.evidence,
            lost_start: f.lost.start,
            onset,
            transport: f.transport.errors,
            propagated: f.transport.propagated,
            picture: f.transport.picture,
            startup: f.startup,
            blockiness: score,
            analysed: f.pixels.is_some(),
        };
        self.corruption
            .push(&evidence, &p.corruption, &mut out.events);
        if f.pixels.is_none() {
            return out;
        }
        self.last_score = (score, score_16);
        let frame = BlockinessFrame {
            times: f.times,
            t: f.t,
            // This frame stands for the ones skipped after it.
            duration: f.dur * f.step.max(1),
            now: f.now,
            score,
            score_16,
            grid_x,
            grid_y,
        };
        self.blockiness.push(&frame, &p.blockiness, &mut out.events);
        if p.measurement_interval > 0
            && let Some(series) = self.series.push(
                f.times,
                f.t,
                f.dur,
                score,
                pixels.is_some(),
                p.measurement_interval,
            )
        {
            out.series = Some(SeriesOut {
                series,
                score,
                score_16,
                smoothed: self.blockiness.smoothed,
                grid_x,
                grid_y,
            });
        }
        out
    }

    /// Closes both trackers at `last_end` (EOS, flush, caps change, stop).
    pub fn close(
        &mut self,
        last_end: Option<(Times, u64)>,
        reason: crate::message::EndReason,
        now: Option<u64>,
    ) -> Events {
        let mut events = Events::default();
        self.corruption.close(reason, now, &mut events);
        self.blockiness.close(last_end, reason, now, &mut events);
        self.series = Series::default();
        self.prev = None;
        self.recent = [None; STALL_CONFIRM];
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = 40_000_000;

    #[test]
    fn lost_frames_are_evidence_at_fixed_rate_or_after_discont() {
        let end = Some((Times::default(), 4 * F));
        // On time: nothing.
        assert_eq!(
            lost_frames(Some(4 * F), Some(4 * F), end, F, false, true),
            LostFrames::default()
        );
        // Three frames missing in a fixed-rate stream: evidence from where the first was due.
        let l = lost_frames(Some(7 * F), Some(4 * F), end, F, false, true);
        assert_eq!(
            (l.counted, l.evidence, l.start.map(|s| s.1)),
            (3, 3, Some(4 * F))
        );
        // Less than half a frame late is jitter.
        assert_eq!(
            lost_frames(Some(4 * F + F / 3), Some(4 * F), end, F, false, true).counted,
            0
        );
        // Variable rate: counted, evidence only after a DISCONT buffer.
        let l = lost_frames(Some(7 * F), Some(4 * F), end, F, false, false);
        assert_eq!((l.counted, l.evidence, l.start), (3, 0, None));
        assert_eq!(
            lost_frames(Some(7 * F), Some(4 * F), end, F, true, false).evidence,
            3
        );
        // Untimed or zero-length frames say nothing.
        assert_eq!(
            lost_frames(None, Some(4 * F), end, F, true, true),
            LostFrames::default()
        );
        assert_eq!(
            lost_frames(Some(7 * F), Some(4 * F), end, 0, true, true),
            LostFrames::default()
        );
    }

    #[test]
    fn coding_is_coarser_on_a_jump_or_at_the_alarm() {
        assert_eq!(compressed(None, 9.0, 1.5), Compressed::No);
        assert_eq!(compressed(Some(1.1), 1.9, 1.5), Compressed::No);
        assert_eq!(compressed(Some(1.1), 2.1, 1.5), Compressed::Sustained);
        assert_eq!(compressed(Some(1.6), 1.0, 1.5), Compressed::Sustained);
    }

    #[test]
    fn pixel_box_is_exclusive_and_offset() {
        assert_eq!(pixel_box((0, 0, 0, 0), (0, 0), 16), (0, 0, 16, 16));
        assert_eq!(pixel_box((2, 1, 3, 4), (48, 32), 16), (80, 48, 112, 112));
    }

    #[test]
    fn series_completes_each_interval() {
        let mut s = Series::default();
        let mut done = Vec::new();
        for i in 0..60u64 {
            let score = if i % 2 == 0 { 1.0 } else { 2.0 };
            if let Some(d) = s.push(Times::default(), i * F, F, score, i == 3, 1_000_000_000) {
                done.push((i, d));
            }
        }
        // 25 frames of 40 ms make a second: frames 24 and 49 complete one.
        assert_eq!(done.iter().map(|d| d.0).collect::<Vec<_>>(), vec![24, 49]);
        let d = done[0].1;
        assert_eq!(
            (d.frames, d.min, d.max, d.corrupted_frames),
            (25, 1.0, 2.0, 1)
        );
        assert!((d.mean(0.0) - 1.48).abs() < 1e-9);
        assert_eq!(s.frames, 10);
        assert_eq!(Series::default().mean(1.25), 1.25);
    }

    /// Frame `i` of a 25 fps stream, with running time, and nothing else.
    fn timed(i: u64) -> Frame {
        Frame {
            times: Times {
                running_time: Some(i * F),
                ..Default::default()
            },
            t: i * F,
            dur: F,
            step: 1,
            ..Default::default()
        }
    }

    /// A detector with the test thresholds and a time series every `interval` (0: none).
    fn detector(interval: u64) -> (Detector, Params) {
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;
        let ids = Arc::new(AtomicU64::new(1));
        let d = Detector::new(
            CorruptionTracker::new(ids.clone(), 250),
            BlockinessTracker::new(ids),
        );
        let p = Params {
            corruption: super::super::events::TEST_CORRUPTION,
            blockiness: super::super::events::TEST_BLOCKINESS,
            cell: 16,
            measurement_interval: interval,
        };
        (d, p)
    }

    #[test]
    fn faint_steps_count_only_on_clean_coding() {
        let (mut d, p) = detector(0);
        let base = CellParams::default();
        let step = |d: &Detector| d.cell_params(base, 10.0, p.blockiness.warn).step_min;
        // Popped faint boxes count on clean coding only.
        let popped = |d: &Detector| {
            d.cell_params(base, 10.0, p.blockiness.warn)
                .popped_change
                .is_finite()
        };
        // Stalls likewise.
        let stalls = |d: &Detector| {
            d.cell_params(base, 10.0, p.blockiness.warn)
                .stall_moved
                .is_finite()
        };
        // Before any score the coding is not known.
        assert_eq!(step(&d), base.step_min);
        assert!(!popped(&d) && !stalls(&d));
        let frame = |i: u64, r8: f64| Frame {
            t: i * F,
            dur: F,
            step: 1,
            pixels: Some(Pixels {
                r8,
                r16: r8,
                ..Default::default()
            }),
            ..Default::default()
        };
        d.frame(&frame(0, 1.1), &p);
        assert_eq!(step(&d), 10.0);
        assert!(popped(&d) && stalls(&d));
        // Never above the configured step.
        assert_eq!(
            d.cell_params(base, 30.0, p.blockiness.warn).step_min,
            base.step_min
        );
        // Coding with a visible grid (at or above the warning level, smoothed over a second):
        // the base step again.
        for i in 1..50 {
            d.frame(&frame(i, p.blockiness.warn + 0.5), &p);
        }
        assert!(d.blockiness.smoothed.unwrap() >= p.blockiness.warn);
        assert_eq!(step(&d), base.step_min);
        assert!(!popped(&d) && !stalls(&d));
    }

    #[test]
    fn a_copied_slice_starts_on_the_copied_frame() {
        let (mut d, p) = detector(0);
        let mut seen = Vec::new();
        // Frame `i`, analysed or not; `copied`: it confirms the copied slice of the analysed
        // frame `STALL_CONFIRM` before it (its cells counted there).
        let frame = |i: u64, analysed: bool, copied: bool| Frame {
            pixels: analysed.then_some(Pixels {
                cells: CellFrame {
                    cells: 300,
                    new_cells: 12 * u32::from(copied),
                    stalled: 12 * u32::from(copied),
                    cluster: 12 * u32::from(copied),
                    bbox: copied.then_some((0, 10, 19, 14)),
                    ..Default::default()
                },
                r8: 1.0,
                r16: 1.0,
                ..Default::default()
            }),
            ..timed(i)
        };
        // Frame 40 copied; frame 42 confirms it (`STALL_CONFIRM` frames later). From frame 100
        // on only even frames are analysed (`frame-step`): the copy of frame 116 is confirmed by
        // frame 120.
        assert_eq!(STALL_CONFIRM, 2);
        for i in 0..150u64 {
            let f = frame(i, i < 100 || i % 2 == 0, i == 42 || i == 120);
            for e in d.frame(&f, &p).events.iter() {
                let start = e.start.running_time.map(|t| t / F);
                seen.push((i, e.phase, e.start_t / F, start));
            }
        }
        use crate::message::Phase::*;
        assert_eq!(
            seen,
            vec![
                (42, Start, 40, Some(40)),
                (68, End, 40, Some(40)),
                (120, Start, 116, Some(116)),
                (146, End, 116, Some(116)),
            ]
        );
        // After a close (EOS, flush, caps change) the frame before is forgotten.
        d.close(None, crate::message::EndReason::Flush, None);
        let out = d.frame(&frame(200, true, true), &p);
        assert_eq!(out.events.iter().next().map(|e| e.start_t / F), Some(200));
    }

    /// Displaced cells held from earlier frames: the event starts where the oldest of them was.
    #[test]
    fn displaced_blocks_start_where_the_oldest_was() {
        let (mut d, p) = detector(0);
        let mut seen = Vec::new();
        let frame = |i: u64, age: Option<u8>| Frame {
            pixels: Some(Pixels {
                cells: CellFrame {
                    cells: 300,
                    new_cells: u32::from(age.is_some()),
                    displaced: u32::from(age.is_some()),
                    displaced_cluster: 2 * u32::from(age.is_some()),
                    displaced_age: age.unwrap_or(0),
                    cluster: u32::from(age.is_some()),
                    bbox: age.map(|_| (3, 4, 3, 4)),
                    ..Default::default()
                },
                r8: 1.0,
                r16: 1.0,
                ..Default::default()
            }),
            ..timed(i)
        };
        for i in 0..150u64 {
            let age = match i {
                41 => Some(1),
                100 => Some(2),
                _ => None,
            };
            for e in d.frame(&frame(i, age), &p).events.iter() {
                seen.push((i, e.phase, e.start_t / F));
            }
        }
        use crate::message::Phase::*;
        assert_eq!(
            seen,
            vec![
                (41, Start, 40),
                (67, End, 40),
                (100, Start, 98),
                (126, End, 98),
            ]
        );
    }

    #[test]
    fn time_going_backwards_ends_what_is_open() {
        let (mut d, p) = detector(0);
        // Loss is reported from where the previous frame ended, as the element does; after the
        // jump back that place is on the old timeline, after the frame.
        let frame = |i: u64, lost: u64, prev_end: u64| Frame {
            lost: LostFrames {
                counted: lost,
                evidence: lost,
                start: (lost > 0).then_some((
                    Times {
                        running_time: Some(prev_end * F),
                        ..Default::default()
                    },
                    prev_end * F,
                )),
            },
            ..timed(i)
        };
        let mut seen = Vec::new();
        // Lost frames open an event at 100; then the timeline jumps back to 10, with loss again.
        let mut prev_end = 0;
        for (i, lost) in [(98, 0), (99, 0), (100, 2), (101, 0), (10, 3), (11, 0)] {
            let f = frame(i, lost, prev_end);
            prev_end = i + 1;
            for e in d.frame(&f, &p).events.iter() {
                let end = e.end.and_then(|t| t.running_time).map(|t| t / F);
                seen.push((i, e.phase, e.start_t / F, end, e.reason));
            }
        }
        use crate::message::EndReason::Discont;
        use crate::message::Phase::*;
        assert_eq!(
            seen,
            vec![
                // Where the first lost frame was due: the end of frame 99.
                (100, Start, 100, None, None),
                // Ended where its last frame with evidence (100) ended.
                (10, End, 100, Some(101), Some(Discont)),
                // The loss before frame 10 was due at 102 on the old timeline: from frame 10.
                (10, Start, 10, None, None),
            ]
        );
    }

    #[test]
    fn detector_replays_damage_and_heavy_coding() {
        let (mut d, p) = detector(1_000_000_000);
        let mut seen = Vec::new();
        let mut series = 0;
        for i in 0..250u64 {
            let mut cells = CellFrame {
                cells: 300,
                ..Default::default()
            };
            // Frames 60..63: a cluster of new damaged cells at cells (4..7, 2..5).
            if (60..63).contains(&i) {
                (cells.new_cells, cells.cluster, cells.bbox) = (12, 12, Some((4, 2, 6, 4)));
            }
            // Frames 125..200: heavy coding (a grid ratio of 3).
            let r8 = if (125..200).contains(&i) { 3.0 } else { 1.0 };
            let f = Frame {
                t: i * F,
                dur: F,
                step: 1,
                pixels: Some(Pixels {
                    cells,
                    r8,
                    r16: r8,
                    grid_x: (8.0, 0.0),
                    grid_y: (8.0, 0.0),
                    origin: (32, 0),
                }),
                ..Default::default()
            };
            let out = d.frame(&f, &p);
            assert_eq!(out.triggered, (60..63).contains(&i), "frame {i}");
            series += usize::from(out.series.is_some());
            seen.extend(
                out.events
                    .iter()
                    .map(|e| (i, e.defect, e.phase, e.start_t / F)),
            );
        }
        seen.extend(
            d.close(None, crate::message::EndReason::Eos, None)
                .iter()
                .map(|e| (250, e.defect, e.phase, e.start_t / F)),
        );
        use crate::message::Phase::*;
        assert_eq!(
            seen,
            vec![
                (60, "corruption", Start, 60),
                // The hangover (1 s) after the last damaged frame (62).
                (88, "corruption", End, 60),
                // The 1 s smoothing of the capped ratio (1.7) crosses the warning (1.3) at 138
                // and the alarm (1.5) at 156; each is confirmed 2 s later. It falls back below
                // the warning 0.8 s after the heavy coding ends.
                (187, "blockiness", Start, 138),
                (204, "blockiness", Update, 138),
                (219, "blockiness", End, 138),
            ],
        );
        assert_eq!(series, 10);
    }
}
