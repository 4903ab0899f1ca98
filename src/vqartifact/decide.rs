// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Per-frame decisions of the element between the measurements and the trackers, free of
//! GStreamer: frames lost before this one, whether the picture's coding just became coarser,
//! where a triggering cluster is in the picture, and the blockiness time series.

use super::events::Compressed;
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
}
