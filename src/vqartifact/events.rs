// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Turns per-frame evidence into corruption and blockiness intervals.
//!
//! Times are nanoseconds on the analysis timeline (`t`, see vqfreeze's tracker); `Times` carries
//! what is reported. Nothing here allocates once the baseline ring is sized.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cells::{CellFrame, SIGNATURES, Signature};
use crate::event::{DefectEvent, EventBuf, Times};
use crate::message::{EndReason, Phase};
use crate::transport::{MAX_PROPAGATION, Picture};

/// Running distribution of the new-cell count of frames outside corruption events, over a
/// window of frames: its 95th percentile is what the channel's own content produces.
pub struct Baseline {
    ring: Vec<u8>,
    pos: usize,
    len: usize,
    hist: [u32; 256],
}

impl Baseline {
    pub fn new(frames: usize) -> Self {
        Baseline {
            ring: vec![0; frames.max(1)],
            pos: 0,
            len: 0,
            hist: [0; 256],
        }
    }

    pub fn push(&mut self, count: u32) {
        let v = count.min(255) as u8;
        if self.len == self.ring.len() {
            self.hist[self.ring[self.pos] as usize] -= 1;
        } else {
            self.len += 1;
        }
        self.ring[self.pos] = v;
        self.hist[v as usize] += 1;
        self.pos = (self.pos + 1) % self.ring.len();
    }

    pub fn p95(&self) -> u32 {
        if self.len == 0 {
            return 0;
        }
        let target = (self.len as u64 * 95).div_ceil(100);
        let mut acc = 0u64;
        for (v, &n) in self.hist.iter().enumerate() {
            acc += u64::from(n);
            if acc >= target {
                return v as u32;
            }
        }
        255
    }
}

/// How blocky the coding of the current frame is, for [`CorruptionTracker::triggers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressed {
    No,
    Sustained,
}

/// How long (ns) the baseline learns before pixel evidence can trigger.
const WARM_UP: u64 = 1_000_000_000;

/// An event open this long (ns) no longer keeps its frames out of the baseline.
const LEARN_AFTER: u64 = 2_000_000_000;

#[derive(Debug, Clone, Copy)]
pub struct CorruptionParams {
    pub cluster_min: u32,
    pub hangover: u64,
    /// Mean change of the 16x16 cell means (8-bit code values) from which a frame is a cut.
    pub scenecut: f32,
    pub use_decoder_flags: bool,
    pub use_lost_frames: bool,
    pub use_transport_errors: bool,
    /// Carry damage seen in the pixels to the stream's next recovery point.
    pub propagate_damage: bool,
    pub update_interval: u64,
}

/// What one frame contributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameEvidence {
    pub times: Times,
    pub t: u64,
    pub duration: u64,
    /// Running time at which this frame is analysed.
    pub now: Option<u64>,
    pub cells: CellFrame,
    /// Pixel bounding box of the triggering cluster (x0, y0, x1, y1, exclusive), if triggered.
    pub pixels: Option<(u32, u32, u32, u32)>,
    pub decoder_flag: bool,
    /// Frames missing before this one (timestamp gap after DISCONT), with where the gap began.
    pub lost: u64,
    pub lost_start: Option<(Times, u64)>,
    /// Where this frame's pixel evidence began, when on an earlier frame (a stall, confirmed by
    /// the frame after it).
    pub onset: Option<(Times, u64)>,
    /// Transport errors (demuxer continuity errors) placed on this frame: the access unit pushed
    /// right after the error decodes to it, or was lost in the gap before it.
    pub transport: u32,
    /// The frame is predicted from a frame damaged by a transport error, before the stream's
    /// recovery point.
    pub propagated: bool,
    /// What this frame's picture is to the prediction chain of the encoded stream upstream, when
    /// that is known.
    pub picture: Option<Picture>,
    /// No unflagged frame has been seen since the stream started.
    pub startup: bool,
    pub blockiness: f64,
    /// The pixels of this frame were analysed (not skipped by `frame-step`, not unreadable).
    pub analysed: bool,
}

/// Accumulated description of one corruption event.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorruptionEvidence {
    pub pixel_frames: u64,
    pub decoder_frames: u64,
    pub lost_frames: u64,
    /// Frames with transport evidence (an error placed on them, or predicted from a damaged
    /// reference), and the errors fused into the event.
    pub transport_frames: u64,
    pub transport_errors: u64,
    /// Frames without evidence of their own, predicted from a picture the pixels showed damaged
    /// (up to the stream's next recovery point).
    pub carried_frames: u64,
    pub frames: u64,
    pub peak_cells: u32,
    pub sum_cells: u64,
    pub cells: u32,
    /// Pixel bounding box (x0, y0, x1, y1), exclusive ends.
    pub bbox: Option<(u32, u32, u32, u32)>,
    pub signatures: [u64; SIGNATURES],
    pub peak_blockiness: f64,
    pub startup: bool,
    pub scene_cut: bool,
}

impl CorruptionEvidence {
    /// Which kinds of evidence the event has, joined by `+` in a fixed order: `pixels`,
    /// `decoder` (CORRUPTED flags and lost frames), `transport` (demuxer continuity errors).
    pub fn source(&self) -> &'static str {
        match (
            self.pixel_frames > 0,
            self.decoder_frames + self.lost_frames > 0,
            self.transport_frames + self.transport_errors > 0,
        ) {
            (true, false, false) => "pixels",
            (true, true, false) => "pixels+decoder",
            (true, false, true) => "pixels+transport",
            (true, true, true) => "pixels+decoder+transport",
            (false, true, true) => "decoder+transport",
            (false, false, true) => "transport",
            (false, _, false) => "decoder",
        }
    }

    pub fn signature(&self) -> &'static str {
        let (i, n) = self
            .signatures
            .iter()
            .enumerate()
            .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
            .map(|(i, n)| (i, *n))
            .unwrap_or((0, 0));
        if n > 0 {
            Signature::from_index(i).as_str()
        } else if self.decoder_frames > 0 && self.startup {
            "startup-unrecovered"
        } else if self.decoder_frames > 0 {
            "decoder"
        } else if self.lost_frames > 0 {
            "lost-frames"
        } else {
            "transport-errors"
        }
    }

    pub fn area_fraction(&self) -> f64 {
        if self.cells == 0 {
            0.0
        } else {
            f64::from(self.peak_cells) / f64::from(self.cells)
        }
    }

    pub fn mean_cells(&self) -> f64 {
        if self.pixel_frames == 0 {
            0.0
        } else {
            self.sum_cells as f64 / self.pixel_frames as f64
        }
    }

    /// First and last macroblock row touched (16-pixel rows), if any pixels were flagged.
    pub fn mb_rows(&self) -> Option<(u32, u32)> {
        self.bbox
            .map(|(_, y0, _, y1)| (y0 / 16, (y1.max(1) - 1) / 16))
    }
}

pub type Event = DefectEvent<&'static str, EventEvidence>;

#[derive(Debug, Clone, Copy)]
pub enum EventEvidence {
    Corruption(CorruptionEvidence),
    Blockiness(BlockinessEvidence),
}

#[derive(Debug, Clone, Copy)]
struct OpenCorruption {
    id: u64,
    start: Times,
    start_t: u64,
    last_end: Times,
    last_end_t: u64,
    last_update_t: u64,
    ev: CorruptionEvidence,
}

/// The events of one frame: a start, an update or an end per tracker, or an end and a start.
pub type Events = EventBuf<Event, 4>;

pub struct CorruptionTracker {
    ids: Arc<AtomicU64>,
    open: Option<OpenCorruption>,
    /// Timeline position of the damaged picture whose damage the frames after it inherit,
    /// until the stream's next recovery point.
    carrying: Option<u64>,
    pub baseline: Baseline,
    /// Timeline position of the first frame the baseline learnt from.
    learning_since: Option<u64>,
    pub events_total: u64,
    pub triggers_total: u64,
}

impl CorruptionTracker {
    pub fn new(ids: Arc<AtomicU64>, baseline_frames: usize) -> Self {
        CorruptionTracker {
            ids,
            open: None,
            carrying: None,
            baseline: Baseline::new(baseline_frames),
            learning_since: None,
            events_total: 0,
            triggers_total: 0,
        }
    }

    /// True when the cells of this frame form a cluster the baseline cannot explain.
    /// `compressed`: how blocky the coding is. `Sustained`: the channel is at alarm-level
    /// blockiness (or its score just jumped, a change of coding), so boxed and smeared cells are
    /// the codec's own and only fills and stale cells count.
    pub fn triggers(
        &self,
        c: &CellFrame,
        p: &CorruptionParams,
        compressed: Compressed,
        t: u64,
    ) -> bool {
        let fills = c.signatures[Signature::FillGreen as usize]
            + c.signatures[Signature::FillGrey as usize]
            + c.signatures[Signature::Stale as usize];
        // Coarser coding puts block edges all over the picture at once; damage puts them in one
        // place. While the picture's grid ratio jumps, only concealment fills count, unless the
        // new cells are concentrated: three quarters of them inside the densest cluster window
        // (a keyframe of a starved encode renews blocks all over the textured part, about half
        // of them in the densest window).
        let count = match compressed {
            Compressed::Sustained if 4 * c.cluster < 3 * c.new_cells => fills,
            _ => c.new_cells,
        };
        // Within clean coding, cells that popped up in the last frames join the cluster: one
        // loss's concealed blocks appear over successive frames (a coarser coding renews faint
        // blocks everywhere, and only its concentrated new cells count).
        let cluster = match compressed {
            Compressed::No => c.cluster.max(c.cluster_held),
            Compressed::Sustained => c.cluster,
        };
        // At a cut the whole picture is new: twice as many cells are needed.
        let need = if c.cell_mafd > p.scenecut {
            2 * p.cluster_min
        } else {
            p.cluster_min
        };
        // Displaced cells are specific enough that two together suffice, on clean coding, and
        // count with those held from the last frames.
        let displaced = compressed == Compressed::No && c.displaced_cluster >= 2;
        let count = if displaced {
            count.max(c.displaced_cluster)
        } else {
            count
        };
        // Until a second of the channel is known, its normal level is not.
        self.learning_since.is_some_and(|t0| t >= t0 + WARM_UP)
            && (displaced || (cluster >= p.cluster_min && count >= need))
            && count >= self.baseline.p95() + 2
    }

    pub fn push(&mut self, f: &FrameEvidence, p: &CorruptionParams, out: &mut Events) {
        let pixels = f.pixels.is_some();
        let decoder = p.use_decoder_flags && f.decoder_flag;
        let lost = if p.use_lost_frames { f.lost } else { 0 };
        let (transport, propagated) = if p.use_transport_errors {
            (f.transport, f.propagated)
        } else {
            (0, false)
        };
        // Damage the pixels show in a stream whose prediction chain is read propagates to the
        // frames predicted from it, until a picture decodable on its own (damage on a picture
        // nothing is predicted from ends with it, but cannot be told from damage inherited from
        // a reference shown after it, and is carried all the same). That recovery point ends
        // any open event there: the stream is known clean again, and damage on or after it is
        // new. Pixel damage of an event still open lasted to it, carried or not: the frames in
        // between came after the damage with no recovery point among them (the first pictures
        // of a stream come before any recovery point the element could read, so their chain is
        // not known while they are shown).
        if p.propagate_damage && f.picture == Some(Picture::Recovery) {
            self.carrying = None;
            if let Some(mut o) = self.open.take() {
                if o.ev.pixel_frames > 0 && f.t > o.last_end_t {
                    let gap = (f.t - o.last_end_t + f.duration / 2)
                        .checked_div(f.duration)
                        .unwrap_or(0);
                    o.ev.carried_frames += gap;
                    o.ev.frames += gap;
                    (o.last_end, o.last_end_t) = (f.times, f.t);
                }
                out.push(self.end(o, f.now, EndReason::Recovered));
            }
        }
        if let Some(since) = self.carrying
            && f.t >= since + MAX_PROPAGATION
        {
            self.carrying = None;
        }
        if pixels && p.propagate_damage && f.picture.is_some() {
            self.carrying.get_or_insert(f.t);
        }
        let carried = !pixels && self.carrying.is_some();
        let evidence = pixels || decoder || lost > 0 || transport > 0 || propagated || carried;
        // The baseline learns from frames outside events, and from events that last: a state
        // that persists (a channel compressed this hard) is the channel's normal.
        if f.analysed && self.open.is_none_or(|o| f.t >= o.start_t + LEARN_AFTER) {
            self.baseline.push(f.cells.new_cells);
            self.learning_since.get_or_insert(f.t);
        }
        if !evidence {
            if let Some(o) = self.open
                && f.t >= o.last_end_t + p.hangover
            {
                out.push(self.end(o, f.now, EndReason::Recovered));
                self.open = None;
            }
            return;
        }
        // A transport error alone while an event is open is fused into it without extending it:
        // the demuxer discarded the unit it damaged (a lost frame, already counted) and the
        // frame it lands on is whole.
        if transport > 0
            && !(pixels || decoder || lost > 0 || propagated || carried)
            && let Some(o) = self.open.as_mut()
            && f.t < o.last_end_t + p.hangover
        {
            o.ev.transport_errors += u64::from(transport);
            return;
        }
        if pixels {
            self.triggers_total += 1;
        }
        let frame_end = f.times.plus(f.duration);
        let mut o = match self.open {
            Some(o) => o,
            None => {
                // Where the first missing frame was due, if that is on this frame's timeline
                // (a new segment or a jump back can leave it after the frame).
                let (start, start_t) = match (f.lost_start, f.onset) {
                    (Some(s), _) if lost > 0 && s.1 <= f.t => s,
                    (_, Some(s)) if pixels && s.1 <= f.t => s,
                    _ => (f.times, f.t),
                };
                self.events_total += 1;
                OpenCorruption {
                    id: self.ids.fetch_add(1, Ordering::Relaxed),
                    start,
                    start_t,
                    last_end: frame_end,
                    last_end_t: f.t + f.duration,
                    last_update_t: f.t,
                    ev: CorruptionEvidence {
                        cells: f.cells.cells,
                        startup: f.startup,
                        ..Default::default()
                    },
                }
            }
        };
        let opening = self.open.is_none();
        let ev = &mut o.ev;
        ev.frames += 1;
        ev.decoder_frames += decoder as u64;
        ev.lost_frames += lost;
        ev.transport_frames += u64::from(transport > 0 || propagated);
        ev.transport_errors += u64::from(transport);
        ev.carried_frames += u64::from(carried);
        ev.peak_blockiness = ev.peak_blockiness.max(f.blockiness);
        if let Some(b) = f.pixels {
            ev.pixel_frames += 1;
            ev.peak_cells = ev.peak_cells.max(f.cells.new_cells);
            ev.sum_cells += u64::from(f.cells.new_cells);
            for (acc, &n) in ev.signatures.iter_mut().zip(&f.cells.signatures) {
                *acc += u64::from(n);
            }
            ev.bbox = Some(match ev.bbox {
                None => b,
                Some(a) => (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3)),
            });
            ev.scene_cut |= f.cells.cell_mafd > p.scenecut;
        }
        o.last_end = frame_end;
        o.last_end_t = f.t + f.duration;
        let mut phase = None;
        if opening {
            phase = Some(Phase::Start);
        } else if p.update_interval > 0 && f.t >= o.last_update_t + p.update_interval {
            o.last_update_t = f.t;
            phase = Some(Phase::Update);
        }
        self.open = Some(o);
        if let Some(phase) = phase {
            out.push(Event {
                defect: "corruption",
                phase,
                id: o.id,
                start: o.start,
                start_t: o.start_t,
                detected: f.now,
                duration: (phase == Phase::Update)
                    .then_some(o.last_end_t.saturating_sub(o.start_t)),
                end: None,
                reason: None,
                evidence: EventEvidence::Corruption(o.ev),
            });
        }
    }

    fn end(&self, o: OpenCorruption, now: Option<u64>, reason: EndReason) -> Event {
        Event {
            defect: "corruption",
            phase: Phase::End,
            id: o.id,
            start: o.start,
            start_t: o.start_t,
            detected: now,
            duration: Some(o.last_end_t.saturating_sub(o.start_t)),
            end: Some(o.last_end),
            reason: Some(reason),
            evidence: EventEvidence::Corruption(o.ev),
        }
    }

    /// Ends the open event (EOS, flush, caps change, stop).
    pub fn close(&mut self, reason: EndReason, now: Option<u64>, out: &mut Events) {
        self.carrying = None;
        if let Some(o) = self.open.take() {
            out.push(self.end(o, now, reason));
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct BlockinessParams {
    pub warn: f64,
    pub alarm: f64,
    pub min_duration: u64,
    /// Time constant (ns) of the smoothing the thresholds apply to.
    pub smoothing: u64,
    pub update_interval: u64,
}

/// Settings of the unit tests (the element's defaults, blockiness unsmoothed, no heartbeats).
#[cfg(test)]
pub(crate) const TEST_CORRUPTION: CorruptionParams = CorruptionParams {
    cluster_min: 3,
    hangover: 1_000_000_000,
    scenecut: 20.0,
    use_decoder_flags: true,
    use_lost_frames: true,
    use_transport_errors: true,
    propagate_damage: true,
    update_interval: 0,
};
#[cfg(test)]
pub(crate) const TEST_BLOCKINESS: BlockinessParams = BlockinessParams {
    warn: 1.3,
    alarm: 1.5,
    min_duration: 2_000_000_000,
    smoothing: 1_000_000_000,
    update_interval: 0,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct BlockinessEvidence {
    pub alarm: bool,
    pub frames: u64,
    pub peak: f64,
    pub sum: f64,
    pub peak_16: f64,
    pub grid_x: (f32, f32),
    pub grid_y: (f32, f32),
}

impl BlockinessEvidence {
    pub fn severity(&self) -> &'static str {
        if self.alarm { "alarm" } else { "warning" }
    }

    pub fn mean(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.sum / self.frames as f64
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Run {
    start: Times,
    start_t: u64,
    alarm_since: Option<u64>,
    ev: BlockinessEvidence,
    open: Option<(u64, u64)>,
}

/// Sustained compression blockiness: a warning (or alarm) interval once the smoothed score has
/// stayed above the threshold for `min_duration`.
pub struct BlockinessTracker {
    ids: Arc<AtomicU64>,
    pub smoothed: Option<f64>,
    run: Option<Run>,
    pub intervals_total: u64,
}

pub struct BlockinessFrame {
    pub times: Times,
    pub t: u64,
    pub duration: u64,
    pub now: Option<u64>,
    pub score: f64,
    pub score_16: f64,
    pub grid_x: (f32, f32),
    pub grid_y: (f32, f32),
}

impl BlockinessTracker {
    pub fn new(ids: Arc<AtomicU64>) -> Self {
        BlockinessTracker {
            ids,
            smoothed: None,
            run: None,
            intervals_total: 0,
        }
    }

    pub fn reset_smoothing(&mut self) {
        self.smoothed = None;
    }

    pub fn push(&mut self, f: &BlockinessFrame, p: &BlockinessParams, out: &mut Events) {
        let alpha = if p.smoothing == 0 || f.duration == 0 {
            1.0
        } else {
            (f.duration as f64 / p.smoothing as f64).min(1.0)
        };
        // A frame counts at most as far above the alarm level as the alarm is above the warning:
        // the smoothing then falls back below the warning within about a second of the blocking
        // ending, however heavy it was (uncapped, a ratio of 7 held it up for 3 s).
        let x = f.score.min(2.0 * p.alarm - p.warn);
        let s = match self.smoothed {
            Some(s) => s + alpha * (x - s),
            None => x,
        };
        self.smoothed = Some(s);
        let end_t = f.t + f.duration;
        if s < p.warn {
            // It ends at the first frame back below the warning level.
            self.end(Some((f.times, f.t)), EndReason::Recovered, f.now, out);
            return;
        }
        let run = self.run.get_or_insert(Run {
            start: f.times,
            start_t: f.t,
            alarm_since: None,
            ev: BlockinessEvidence::default(),
            open: None,
        });
        run.ev.frames += 1;
        run.ev.peak = run.ev.peak.max(f.score);
        run.ev.peak_16 = run.ev.peak_16.max(f.score_16);
        run.ev.sum += f.score;
        run.ev.grid_x = f.grid_x;
        run.ev.grid_y = f.grid_y;
        let mut phase = None;
        if s >= p.alarm {
            let since = *run.alarm_since.get_or_insert(f.t);
            if !run.ev.alarm && end_t.saturating_sub(since) >= p.min_duration {
                run.ev.alarm = true;
                if run.open.is_some() {
                    phase = Some(Phase::Update);
                }
            }
        } else {
            run.alarm_since = None;
        }
        match run.open {
            None if end_t.saturating_sub(run.start_t) >= p.min_duration => {
                run.open = Some((self.ids.fetch_add(1, Ordering::Relaxed), f.t));
                self.intervals_total += 1;
                phase = Some(Phase::Start);
            }
            Some((_, last)) if p.update_interval > 0 && f.t >= last + p.update_interval => {
                phase = Some(Phase::Update);
            }
            _ => (),
        }
        if let Some(phase) = phase {
            let (id, _) = run.open.expect("open");
            run.open = Some((id, f.t));
            out.push(Event {
                defect: "blockiness",
                phase,
                id,
                start: run.start,
                start_t: run.start_t,
                detected: f.now,
                duration: (phase == Phase::Update).then_some(end_t.saturating_sub(run.start_t)),
                end: None,
                reason: None,
                evidence: EventEvidence::Blockiness(run.ev),
            });
        }
    }

    /// Ends the open interval at `end` (the end of the last frame) for `reason`.
    pub fn close(
        &mut self,
        end: Option<(Times, u64)>,
        reason: EndReason,
        now: Option<u64>,
        out: &mut Events,
    ) {
        self.smoothed = None;
        self.end(end, reason, now, out);
    }

    fn end(
        &mut self,
        end: Option<(Times, u64)>,
        reason: EndReason,
        now: Option<u64>,
        out: &mut Events,
    ) {
        if let Some(r) = self.run.take()
            && let Some((id, _)) = r.open
        {
            let (end, end_t) = end.unwrap_or((r.start, r.start_t));
            out.push(Event {
                defect: "blockiness",
                phase: Phase::End,
                id,
                start: r.start,
                start_t: r.start_t,
                detected: now,
                duration: Some(end_t.saturating_sub(r.start_t)),
                end: Some(end),
                reason: Some(reason),
                evidence: EventEvidence::Blockiness(r.ev),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_percentile() {
        let mut b = Baseline::new(100);
        for i in 0..100 {
            b.push(if i < 96 { 0 } else { 9 });
        }
        assert_eq!(b.p95(), 0);
        for _ in 0..10 {
            b.push(9);
        }
        assert_eq!(b.p95(), 9);
    }

    fn frame(i: u64, score: f64) -> BlockinessFrame {
        let t = i * 40_000_000;
        BlockinessFrame {
            times: Times {
                pts: Some(t),
                running_time: Some(t),
                stream_time: Some(t),
            },
            t,
            duration: 40_000_000,
            now: Some(t),
            score,
            score_16: score,
            grid_x: (8.0, 0.0),
            grid_y: (8.0, 0.0),
        }
    }

    #[test]
    fn blockiness_interval() {
        let p = BlockinessParams {
            min_duration: 1_000_000_000,
            smoothing: 0,
            ..TEST_BLOCKINESS
        };
        let mut tr = BlockinessTracker::new(Arc::new(AtomicU64::new(1)));
        let mut all = Vec::new();
        for i in 0..200 {
            let score = if (50..150).contains(&i) { 1.6 } else { 1.0 };
            let mut ev = Events::default();
            tr.push(&frame(i, score), &p, &mut ev);
            all.extend(ev.iter().map(|e| (i, e.phase, e.start_t, e.evidence)));
        }
        assert_eq!(all.len(), 2, "{all:?}");
        // Start after 1 s (25 frames) above warn, then the alarm in the same frame, end at 150.
        assert_eq!(
            (all[0].0, all[0].1, all[0].2),
            (74, Phase::Start, 2_000_000_000)
        );
        assert_eq!(all[1].1, Phase::End);
        assert_eq!(all[1].0, 150);
        match all[1].3 {
            EventEvidence::Blockiness(b) => assert!(b.alarm && b.frames == 100),
            _ => unreachable!(),
        }
    }

    #[test]
    fn coarser_coding_needs_spread_cells_damage_needs_a_cluster() {
        let p = TEST_CORRUPTION;
        let mut tr = CorruptionTracker::new(Arc::new(AtomicU64::new(1)), 250);
        let mut out = Events::default();
        // A quiet second and a half: the baseline learns 0 new cells.
        for i in 0..38u64 {
            let t = i * 40_000_000;
            let f = FrameEvidence {
                t,
                duration: 40_000_000,
                analysed: true,
                ..Default::default()
            };
            tr.push(&f, &p, &mut out);
        }
        let t = 38 * 40_000_000;
        let cells = |new_cells, cluster| CellFrame {
            new_cells,
            cluster,
            cells: 300,
            ..Default::default()
        };
        // Without a jump of the grid ratio, a cluster triggers.
        assert!(tr.triggers(&cells(20, 15), &p, Compressed::No, t));
        // While the grid ratio jumps: new cells in one place are damage...
        assert!(tr.triggers(&cells(20, 15), &p, Compressed::Sustained, t));
        // ...new cells spread over the picture are coarser coding (a keyframe at 100 kbit/s)...
        assert!(!tr.triggers(&cells(40, 8), &p, Compressed::Sustained, t));
        assert!(!tr.triggers(&cells(15, 8), &p, Compressed::Sustained, t));
        // ...unless they are concealment fills.
        let mut fills = cells(40, 8);
        fills.signatures[Signature::FillGrey as usize] = 6;
        assert!(tr.triggers(&fills, &p, Compressed::Sustained, t));
        // Cells that popped up in the last frames join this frame's cluster on clean coding...
        // (at the element's cluster-min of 4, where 3 of 4 new cells in one window are
        // concentrated enough to count while the coding gets coarser)
        let p = CorruptionParams {
            cluster_min: 4,
            ..p
        };
        let alone = cells(4, 3);
        let held = CellFrame {
            cluster_held: 4,
            ..alone
        };
        assert!(!tr.triggers(&alone, &p, Compressed::No, t));
        assert!(tr.triggers(&held, &p, Compressed::No, t));
        // ...not while the coding gets coarser (it renews faint blocks everywhere).
        assert!(!tr.triggers(&held, &p, Compressed::Sustained, t));
        // Two displaced cells suffice on clean coding, one of them held from the last frames.
        let displaced = CellFrame {
            displaced: 1,
            displaced_cluster: 2,
            displaced_age: 1,
            ..cells(1, 1)
        };
        assert!(tr.triggers(&displaced, &p, Compressed::No, t));
        assert!(!tr.triggers(&displaced, &p, Compressed::Sustained, t));
        let one = CellFrame {
            displaced_cluster: 1,
            ..displaced
        };
        assert!(!tr.triggers(&one, &p, Compressed::No, t));
    }

    #[test]
    fn heavy_blocking_ends_within_a_second_of_its_end() {
        let p = TEST_BLOCKINESS;
        let mut tr = BlockinessTracker::new(Arc::new(AtomicU64::new(1)));
        let mut all = Vec::new();
        // 3 s of a grid ratio of 7 (heavy blocking) between 2 s and 5 s.
        for i in 0..200 {
            let score = if (50..125).contains(&i) { 7.0 } else { 1.0 };
            let mut ev = Events::default();
            tr.push(&frame(i, score), &p, &mut ev);
            all.extend(ev.iter().map(|e| (i, e.phase)));
        }
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[0].1, Phase::Start);
        assert_eq!(all[1].1, Phase::Update, "became an alarm");
        assert_eq!(all[2].1, Phase::End);
        assert!((125..150).contains(&all[2].0), "{all:?}");
    }

    #[test]
    fn transport_errors_fuse_open_or_propagate() {
        let p = TEST_CORRUPTION;
        let mut tr = CorruptionTracker::new(Arc::new(AtomicU64::new(1)), 250);
        const F: u64 = 40_000_000;
        let mut ends = Vec::new();
        let mut push =
            |tr: &mut CorruptionTracker, i: u64, lost: u64, transport: u32, propagated| {
                let f = FrameEvidence {
                    t: i * F,
                    duration: F,
                    analysed: true,
                    lost,
                    transport,
                    propagated,
                    ..Default::default()
                };
                for (e, c) in ended(tr, &f, &p) {
                    ends.push((
                        e.start_t / F,
                        e.duration.unwrap() / F,
                        c.source(),
                        c.transport_errors,
                    ));
                }
            };
        // A lost frame at 10, its error on frame 14: fused, the event keeps its extent.
        for i in 0..100 {
            let lost = u64::from(i == 10);
            push(&mut tr, i, lost, u32::from(i == 14), false);
        }
        // An error alone opens an event on its frame; frames predicted from the damaged one
        // extend it.
        for i in 100..200 {
            push(&mut tr, i, 0, u32::from(i == 120), (120..150).contains(&i));
        }
        assert_eq!(
            ends,
            [(10, 1, "decoder+transport", 1), (120, 30, "transport", 1)]
        );
    }

    /// Pushes one frame; the corruption events it ended, with their evidence.
    fn ended(
        tr: &mut CorruptionTracker,
        f: &FrameEvidence,
        p: &CorruptionParams,
    ) -> Vec<(Event, CorruptionEvidence)> {
        let mut out = Events::default();
        tr.push(f, p, &mut out);
        out.iter()
            .filter(|e| e.phase == Phase::End)
            .map(|e| match e.evidence {
                EventEvidence::Corruption(c) => (*e, c),
                EventEvidence::Blockiness(_) => unreachable!(),
            })
            .collect()
    }

    /// Pixel damage in a stream whose pictures are read lasts to the next recovery point: the
    /// frames in between are carried (a recovery picture with damage of its own starts anew);
    /// without pictures, or with propagation off, the event keeps its pixel extent.
    #[test]
    fn pixel_damage_is_carried_to_the_recovery_point() {
        const F: u64 = 40_000_000;
        let run = |p: CorruptionParams,
                   known_from: Option<u64>,
                   pixels_at: &[u64],
                   recovery_every: u64| {
            let mut tr = CorruptionTracker::new(Arc::new(AtomicU64::new(1)), 250);
            let mut ends = Vec::new();
            for i in 0..400u64 {
                let known = known_from.is_some_and(|k| i >= k);
                let picture = known.then_some(if i % recovery_every == 0 {
                    Picture::Recovery
                } else if i % 2 == 0 {
                    Picture::Reference
                } else {
                    Picture::NonReference
                });
                let f = FrameEvidence {
                    t: i * F,
                    duration: F,
                    analysed: true,
                    now: Some(i * F),
                    pixels: pixels_at.contains(&i).then_some((0, 0, 16, 16)),
                    picture,
                    ..Default::default()
                };
                for (e, c) in ended(&mut tr, &f, &p) {
                    assert_eq!(c.frames, c.pixel_frames + c.carried_frames);
                    ends.push((
                        e.start_t / F,
                        e.duration.unwrap() / F,
                        e.detected.unwrap() / F,
                        c.pixel_frames,
                        c.carried_frames,
                    ));
                }
            }
            ends
        };
        let p = TEST_CORRUPTION;
        // Recovery points every 50 frames. Damage at 60 (a reference) is carried to 100, where
        // the event ends at once; at 110 (within the hangover of 100) is a new event, carried
        // to 150; at 181 (a non-reference) to 200; on the recovery picture 200 itself, a new
        // event to 250, with more pixel evidence at 215.
        let damage = [60, 110, 181, 200, 215];
        assert_eq!(
            run(p, Some(0), &damage, 50),
            [
                (60, 40, 100, 1, 39),
                (110, 40, 150, 1, 39),
                (181, 19, 200, 1, 18),
                (200, 50, 250, 2, 48)
            ]
        );
        // Unknown pictures, or propagation off: one frame each, ended by the hangover (1 s = 25
        // frames), merged within it.
        let pixel_extent = [(60, 1, 86, 1, 0), (110, 1, 136, 1, 0), (181, 35, 241, 3, 0)];
        assert_eq!(run(p, None, &damage, 50), pixel_extent);
        let off = CorruptionParams {
            propagate_damage: false,
            ..p
        };
        assert_eq!(run(off, Some(0), &damage, 50), pixel_extent);
        // The chain not known at the damage (the pictures before the first recovery point read,
        // at 100, are unknown), an event still open at the recovery point lasts to it: damage at
        // 80 to 100; at 60, ended by the hangover before.
        assert_eq!(run(p, Some(100), &[80], 50), [(80, 20, 100, 1, 19)]);
        assert_eq!(run(p, Some(100), &[60], 50), [(60, 1, 86, 1, 0)]);
        // No recovery point in reach: carried for MAX_PROPAGATION (10 s = 250 frames).
        assert_eq!(run(p, Some(0), &[60], 1_000), [(60, 250, 335, 1, 249)]);
    }
}
