// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Turns per-frame decisions into freeze, black, stutter and stall defects (no GStreamer types).
//!
//! Times are nanoseconds on the analysis timeline (see `crate::event`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::stillness::{Change, FrameStats};
pub use crate::event::Times;
use crate::event::{DefectEvent, EventBuf};
use crate::message::{EndReason, Phase};

/// Median block MAD (8-bit code values) from which a still picture counts as noisy.
pub const NOISY_FLOOR: f64 = 0.75;
/// Stutter episodes close after this much time without a new stutter run.
pub const STUTTER_HANGOVER: u64 = 2_000_000_000;
/// Frames of history needed before repeat runs are judged against a cadence.
pub const CADENCE_HISTORY: u32 = 36;
const MAX_CADENCE: u32 = 12;

/// One analysed frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub times: Times,
    /// Position on the analysis timeline.
    pub t: u64,
    /// Duration on the analysis timeline (may be 0 if unknown).
    pub duration: u64,
    pub change: Change,
    pub stats: FrameStats,
    pub black: bool,
    /// Upstream flagged the buffer as a duplicate (GAP flag on a non-empty buffer).
    pub gap_flag: bool,
}

impl Frame {
    fn end_t(&self) -> u64 {
        self.t + self.duration
    }
    fn end_times(&self) -> Times {
        self.times.plus(self.duration)
    }
    /// A repeat for stutter purposes: strictly unchanged, or flagged as a duplicate upstream.
    fn is_repeat(&self) -> bool {
        !self.black
            && match self.change {
                Change::Still { strict, .. } => strict || self.gap_flag,
                _ => false,
            }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    Freeze,
    Black,
    Stall,
    Stutter,
}

impl Defect {
    pub fn as_str(self) -> &'static str {
        match self {
            Defect::Freeze => "freeze",
            Defect::Black => "black",
            Defect::Stall => "stall",
            Defect::Stutter => "stutter",
        }
    }
}

/// What kind of stillness a freeze is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeKind {
    /// Every repeat was bit-identical.
    Exact,
    /// Every repeat was a duplicate flagged GAP upstream, or bit-identical.
    Flagged,
    /// Still pixels with changing bytes below the thresholds (re-encoding refreshes included).
    Content,
    /// A still picture under changing grain or noise.
    Noisy,
}

impl FreezeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FreezeKind::Exact => "exact",
            FreezeKind::Flagged => "flagged",
            FreezeKind::Content => "content",
            FreezeKind::Noisy => "noisy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreezeEvidence {
    pub kind: FreezeKind,
    pub frames: u64,
    pub exact_frames: u64,
    pub flagged_frames: u64,
    pub noisy_frames: u64,
    /// Re-encoding refreshes tolerated inside the freeze.
    pub refreshes: u64,
    pub max_mafd: f64,
    pub max_block_mad: f64,
    pub max_ref_delta: f64,
    pub noise_floor: f64,
    pub mean_luma: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlackEvidence {
    pub frames: u64,
    pub min_black_ratio: f64,
    pub max_mean_luma: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallSource {
    /// Found from a gap between two frames' timestamps.
    TimestampGap,
    /// No frame arrived on the wall clock (live pipelines).
    Watchdog,
}

impl StallSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StallSource::TimestampGap => "timestamp-gap",
            StallSource::Watchdog => "watchdog",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StallEvidence {
    pub source: StallSource,
    /// Frames missing at the nominal frame duration (0 if unknown).
    pub missing_frames: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StutterEvidence {
    pub runs: u64,
    pub repeated_frames: u64,
    pub longest_run_frames: u64,
    pub longest_run_duration: u64,
    pub rate_per_minute: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    Freeze(FreezeEvidence),
    Black(BlackEvidence),
    Stall(StallEvidence),
    Stutter(StutterEvidence),
}

/// A defect message to post.
pub type Event = DefectEvent<Defect, Evidence>;

/// Settings the tracker needs, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerParams {
    pub min_duration: u64,
    pub black_min_duration: u64,
    /// 0 disables stall detection.
    pub stall_timeout: u64,
    pub stutter_max_duration: u64,
    /// 0 disables heartbeats.
    pub update_interval: u64,
}

/// Events of one step; eight slots cover the worst: every defect type ending and starting at once.
pub type Events = EventBuf<Event, 8>;

/// Weak changes in a row that one refresh may span: encoders refine a refreshed picture over
/// the I-frame and the P-frame or two after it.
pub const MAX_REFRESH_BURST: u32 = 3;

#[derive(Debug, Clone, Copy)]
struct PendingRefresh {
    /// First weak frame of the refresh: where the freeze ends if the refresh is rejected.
    frame: Frame,
    weak_frames: u32,
    stills_since: u32,
}

#[derive(Debug, Clone, Copy)]
struct FreezeRun {
    id: u64,
    start: Times,
    start_t: u64,
    /// Times of the first repeated frame (for stutter).
    first_repeat: Times,
    confirmed: bool,
    strict: bool,
    pending: Option<PendingRefresh>,
    last_update_t: u64,
    ev: FreezeEvidence,
}

#[derive(Debug, Clone, Copy)]
struct BlackRun {
    id: u64,
    start: Times,
    start_t: u64,
    confirmed: bool,
    last_update_t: u64,
    ev: BlackEvidence,
}

#[derive(Debug, Clone, Copy)]
struct StutterEpisode {
    id: u64,
    start: Times,
    start_t: u64,
    last_end: Times,
    last_end_t: u64,
    last_update_t: u64,
    ev: StutterEvidence,
}

/// Running totals, for the element's `stats` property.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub frames: u64,
    pub freezes: u64,
    pub blacks: u64,
    pub stalls: u64,
    pub stutter_runs: u64,
    pub frozen_time: u64,
    /// Running time analysed: the sum of the frames' durations.
    pub duration: u64,
}

#[derive(Debug)]
pub struct Tracker {
    /// Id source shared with the element (its watchdog reports stalls too).
    ids: Arc<AtomicU64>,
    /// Set when a refresh became pending: the reference picture must move to this frame.
    reanchor: bool,
    prev: Option<Frame>,
    freeze: Option<FreezeRun>,
    black: Option<BlackRun>,
    stutter: Option<StutterEpisode>,
    /// One bit per frame, newest in bit 0: the frame repeated the previous one.
    repeat_history: u64,
    history_len: u32,
    /// Longest held picture still counted as a stutter run (from the last pushed parameters).
    stutter_max: u64,
    pub totals: Totals,
}

impl Tracker {
    pub fn new(ids: Arc<AtomicU64>) -> Self {
        Tracker {
            ids,
            reanchor: false,
            prev: None,
            freeze: None,
            black: None,
            stutter: None,
            repeat_history: 0,
            history_len: 0,
            stutter_max: 0,
            totals: Totals::default(),
        }
    }

    fn new_id(&mut self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// True once after a refresh became pending: move the reference picture to the last frame.
    pub fn take_reanchor(&mut self) -> bool {
        std::mem::take(&mut self.reanchor)
    }

    /// True while a still run is in progress (its reference picture must be kept).
    pub fn in_still_run(&self) -> bool {
        self.freeze.is_some()
    }

    /// Times and timeline position where the next frame is expected.
    pub fn expected_next(&self) -> Option<(Times, u64)> {
        self.prev.map(|p| (p.end_times(), p.end_t()))
    }

    /// Feeds one frame. `external_stall` is true when the element's watchdog already reported the
    /// stall that ends with this frame.
    pub fn push(&mut self, f: Frame, p: &TrackerParams, external_stall: bool) -> Events {
        let mut ev = Events::default();
        self.totals.frames += 1;
        self.totals.duration += f.duration;
        self.stutter_max = p.stutter_max_duration;

        if let Some(prev) = self.prev {
            if f.t < prev.t {
                // Time went backwards: what came before cannot be joined with what follows.
                self.close_all(
                    &mut ev,
                    prev.end_times(),
                    prev.end_t(),
                    EndReason::Discont,
                    Some(f.t),
                );
                self.prev = None;
            } else {
                let gap = f.t.saturating_sub(prev.end_t());
                if p.stall_timeout > 0 && gap >= p.stall_timeout {
                    self.close_all(
                        &mut ev,
                        prev.end_times(),
                        prev.end_t(),
                        EndReason::Discont,
                        Some(f.t),
                    );
                    self.prev = None;
                    if !external_stall {
                        self.totals.stalls += 1;
                        let id = self.new_id();
                        let missing = (gap + prev.duration / 2)
                            .checked_div(prev.duration)
                            .unwrap_or(0);
                        let evidence = Evidence::Stall(StallEvidence {
                            source: StallSource::TimestampGap,
                            missing_frames: missing,
                        });
                        let base = Event {
                            defect: Defect::Stall,
                            phase: Phase::Start,
                            id,
                            start: prev.end_times(),
                            start_t: prev.end_t(),
                            detected: f.times.running_time.or(Some(f.t)),
                            duration: None,
                            end: None,
                            reason: None,
                            evidence,
                        };
                        ev.push(base);
                        ev.push(Event {
                            phase: Phase::End,
                            duration: Some(gap),
                            end: Some(f.times),
                            reason: Some(EndReason::Recovered),
                            ..base
                        });
                    }
                }
            }
        }

        self.track_black(&f, p, &mut ev);
        self.track_freeze(&f, p, &mut ev);
        self.track_stutter_hangover(&f, p, &mut ev);
        self.heartbeats(&f, p, &mut ev);
        self.prev = Some(f);
        ev
    }

    fn track_black(&mut self, f: &Frame, p: &TrackerParams, ev: &mut Events) {
        if f.black {
            if self.black.is_none() {
                let id = self.new_id();
                self.black = Some(BlackRun {
                    id,
                    start: f.times,
                    start_t: f.t,
                    confirmed: false,
                    last_update_t: f.t,
                    ev: BlackEvidence {
                        frames: 0,
                        min_black_ratio: 1.0,
                        max_mean_luma: 0.0,
                    },
                });
            }
            let run = self.black.as_mut().unwrap();
            run.ev.frames += 1;
            run.ev.min_black_ratio = run.ev.min_black_ratio.min(f.stats.black_ratio);
            run.ev.max_mean_luma = run.ev.max_mean_luma.max(f.stats.mean_luma);
            if !run.confirmed && f.end_t() - run.start_t >= p.black_min_duration {
                run.confirmed = true;
                run.last_update_t = run.start_t;
                self.totals.blacks += 1;
                ev.push(Event {
                    defect: Defect::Black,
                    phase: Phase::Start,
                    id: run.id,
                    start: run.start,
                    start_t: run.start_t,
                    detected: f.times.running_time.or(Some(f.t)),
                    duration: None,
                    end: None,
                    reason: None,
                    evidence: Evidence::Black(run.ev),
                });
            }
        } else if let Some(run) = self.black.take()
            && run.confirmed
        {
            ev.push(end_event(
                Defect::Black,
                run.id,
                run.start,
                run.start_t,
                f.times,
                f.t,
                EndReason::Recovered,
                f.times.running_time.or(Some(f.t)),
                Evidence::Black(run.ev),
            ));
        }
    }

    fn track_freeze(&mut self, f: &Frame, p: &TrackerParams, ev: &mut Events) {
        self.repeat_history = (self.repeat_history << 1) | u64::from(f.is_repeat());
        self.history_len = (self.history_len + 1).min(64);

        // A black picture is a black defect, never a freeze: it ends any still run.
        let change = if f.black { Change::Strong } else { f.change };
        let detected = f.times.running_time.or(Some(f.t));
        match change {
            Change::Still { exact, strict } => {
                if self.freeze.is_none() {
                    let Some(prev) = self.prev.filter(|pr| !pr.black) else {
                        return;
                    };
                    let id = self.new_id();
                    self.freeze = Some(FreezeRun {
                        id,
                        start: prev.times,
                        start_t: prev.t,
                        first_repeat: f.times,
                        confirmed: false,
                        strict: true,
                        pending: None,
                        last_update_t: f.t,
                        ev: FreezeEvidence {
                            kind: FreezeKind::Exact,
                            frames: 1,
                            exact_frames: 0,
                            flagged_frames: 0,
                            noisy_frames: 0,
                            refreshes: 0,
                            max_mafd: 0.0,
                            max_block_mad: 0.0,
                            max_ref_delta: 0.0,
                            noise_floor: 0.0,
                            mean_luma: prev.stats.mean_luma,
                        },
                    });
                }
                let run = self.freeze.as_mut().unwrap();
                run.ev.frames += 1;
                if exact {
                    run.ev.exact_frames += 1;
                }
                if f.gap_flag {
                    run.ev.flagged_frames += 1;
                }
                if !strict {
                    // Still under grain or noise, or changing bytes of still content.
                    if f.stats.noise_floor >= NOISY_FLOOR {
                        run.ev.noisy_frames += 1;
                    }
                    run.strict = false;
                }
                run.ev.max_mafd = run.ev.max_mafd.max(f.stats.mafd);
                run.ev.max_block_mad = run.ev.max_block_mad.max(f.stats.max_block_mad);
                run.ev.max_ref_delta = run.ev.max_ref_delta.max(f.stats.max_ref_delta);
                run.ev.noise_floor = run.ev.noise_floor.max(f.stats.noise_floor);
                if let Some(pending) = run.pending.as_mut() {
                    pending.stills_since += 1;
                    if pending.stills_since >= 2 {
                        run.pending = None;
                        run.ev.refreshes += 1;
                    }
                }
            }
            Change::Weak => {
                if let Some(run) = self.freeze.as_mut() {
                    match run.pending.as_mut() {
                        None => {
                            run.pending = Some(PendingRefresh {
                                frame: *f,
                                weak_frames: 1,
                                stills_since: 0,
                            });
                        }
                        Some(pd) if pd.weak_frames < MAX_REFRESH_BURST => {
                            pd.weak_frames += 1;
                            pd.stills_since = 0;
                        }
                        Some(pd) => {
                            // Changing for longer than a refresh: the picture moves again.
                            let at = pd.frame;
                            self.end_freeze(ev, at.times, at.t, EndReason::Recovered, detected);
                            return;
                        }
                    }
                    run.ev.frames += 1;
                    run.strict = false;
                    self.reanchor = true;
                }
            }
            Change::Strong => {
                if let Some(run) = self.freeze {
                    let (times, t) = match run.pending {
                        Some(pd) => (pd.frame.times, pd.frame.t),
                        None => (f.times, f.t),
                    };
                    self.end_freeze(ev, times, t, EndReason::Recovered, detected);
                }
            }
        }

        if let Some(run) = self.freeze.as_mut()
            && !run.confirmed
            && run.pending.is_none()
            && f.end_t() - run.start_t >= p.min_duration
        {
            run.confirmed = true;
            run.last_update_t = run.start_t;
            run.ev.kind = freeze_kind(&run.ev);
            self.totals.freezes += 1;
            ev.push(Event {
                defect: Defect::Freeze,
                phase: Phase::Start,
                id: run.id,
                start: run.start,
                start_t: run.start_t,
                detected,
                duration: None,
                end: None,
                reason: None,
                evidence: Evidence::Freeze(run.ev),
            });
        }
    }

    fn end_freeze(
        &mut self,
        ev: &mut Events,
        end: Times,
        end_t: u64,
        reason: EndReason,
        detected: Option<u64>,
    ) {
        let Some(mut run) = self.freeze.take() else {
            return;
        };
        run.ev.kind = freeze_kind(&run.ev);
        if run.confirmed {
            self.totals.frozen_time += end_t.saturating_sub(run.start_t);
            ev.push(end_event(
                Defect::Freeze,
                run.id,
                run.start,
                run.start_t,
                end,
                end_t,
                reason,
                detected,
                Evidence::Freeze(run.ev),
            ));
            return;
        }
        // An unconfirmed run of strict repeats that ended on new content may be a stutter.
        let held = end_t.saturating_sub(run.start_t);
        let repeats = run.ev.frames.saturating_sub(1);
        if reason != EndReason::Recovered || !run.strict || repeats == 0 || held > self.stutter_max
        {
            return;
        }
        if self.history_len < CADENCE_HISTORY || self.fits_cadence() {
            return;
        }
        self.totals.stutter_runs += 1;
        let run_frames = repeats;
        let run_duration = end_t.saturating_sub(run.start_t);
        match self.stutter.as_mut() {
            Some(ep) => {
                ep.ev.runs += 1;
                ep.ev.repeated_frames += run_frames;
                if run_frames > ep.ev.longest_run_frames {
                    ep.ev.longest_run_frames = run_frames;
                    ep.ev.longest_run_duration = run_duration;
                }
                ep.last_end = end;
                ep.last_end_t = end_t;
            }
            None => {
                let id = self.new_id();
                let ep = StutterEpisode {
                    id,
                    start: run.first_repeat,
                    start_t: run.start_t,
                    last_end: end,
                    last_end_t: end_t,
                    last_update_t: run.start_t,
                    ev: StutterEvidence {
                        runs: 1,
                        repeated_frames: run_frames,
                        longest_run_frames: run_frames,
                        longest_run_duration: run_duration,
                        rate_per_minute: 0.0,
                    },
                };
                self.stutter = Some(ep);
                ev.push(Event {
                    defect: Defect::Stutter,
                    phase: Phase::Start,
                    id,
                    start: ep.start,
                    start_t: ep.start_t,
                    detected,
                    duration: None,
                    end: None,
                    reason: None,
                    evidence: Evidence::Stutter(ep.ev),
                });
            }
        }
    }

    /// True when the recent repeat pattern is periodic (pulldown, frame-rate conversion, animation
    /// on twos): its repeats are cadence, not stutter.
    fn fits_cadence(&self) -> bool {
        let w = self.history_len.min(48);
        (2..=MAX_CADENCE).any(|period| {
            if w < 3 * period {
                return false;
            }
            let span = w - period;
            let mask = (1u64 << span) - 1;
            let h = self.repeat_history;
            let pattern = h & ((1u64 << period) - 1);
            ((h ^ (h >> period)) & mask) == 0 && pattern != 0
        })
    }

    fn track_stutter_hangover(&mut self, f: &Frame, _p: &TrackerParams, ev: &mut Events) {
        if let Some(ep) = self.stutter
            && f.t.saturating_sub(ep.last_end_t) >= STUTTER_HANGOVER
        {
            self.stutter = None;
            ev.push(stutter_end(
                &ep,
                EndReason::Recovered,
                f.times.running_time.or(Some(f.t)),
            ));
        }
    }

    fn heartbeats(&mut self, f: &Frame, p: &TrackerParams, ev: &mut Events) {
        if p.update_interval == 0 {
            return;
        }
        let detected = f.times.running_time.or(Some(f.t));
        // Heartbeats fall on whole multiples of the interval of the defect's duration so far.
        let due = |last: &mut u64| {
            if f.end_t().saturating_sub(*last) >= p.update_interval {
                *last += p.update_interval;
                true
            } else {
                false
            }
        };
        if let Some(run) = self.freeze.as_mut()
            && run.confirmed
            && due(&mut run.last_update_t)
        {
            run.ev.kind = freeze_kind(&run.ev);
            ev.push(update_event(
                Defect::Freeze,
                run.id,
                run.start,
                run.start_t,
                f,
                detected,
                Evidence::Freeze(run.ev),
            ));
        }
        if let Some(run) = self.black.as_mut()
            && run.confirmed
            && due(&mut run.last_update_t)
        {
            ev.push(update_event(
                Defect::Black,
                run.id,
                run.start,
                run.start_t,
                f,
                detected,
                Evidence::Black(run.ev),
            ));
        }
        if let Some(ep) = self.stutter.as_mut()
            && due(&mut ep.last_update_t)
        {
            let mut e = ep.ev;
            e.rate_per_minute = rate(e.runs, f.end_t().saturating_sub(ep.start_t));
            ev.push(update_event(
                Defect::Stutter,
                ep.id,
                ep.start,
                ep.start_t,
                f,
                detected,
                Evidence::Stutter(e),
            ));
        }
    }

    /// A GAP event said nothing is sent until `end_t`: the last frame stays shown until then.
    pub fn extend_prev_to(&mut self, end_t: u64) {
        if let Some(prev) = self.prev.as_mut()
            && end_t > prev.t
        {
            prev.duration = prev.duration.max(end_t - prev.t);
        }
    }

    /// Closes every open defect at `end` (EOS, flush, segment, caps, stop) and forgets history.
    pub fn close(&mut self, reason: EndReason, detected: Option<u64>) -> Events {
        let mut ev = Events::default();
        if let Some(prev) = self.prev {
            self.close_all(&mut ev, prev.end_times(), prev.end_t(), reason, detected);
        }
        self.prev = None;
        self.repeat_history = 0;
        self.history_len = 0;
        ev
    }

    fn close_all(
        &mut self,
        ev: &mut Events,
        end: Times,
        end_t: u64,
        reason: EndReason,
        detected: Option<u64>,
    ) {
        if let Some(run) = self.black.take()
            && run.confirmed
        {
            ev.push(end_event(
                Defect::Black,
                run.id,
                run.start,
                run.start_t,
                end,
                end_t,
                reason,
                detected,
                Evidence::Black(run.ev),
            ));
        }
        self.end_freeze(ev, end, end_t, reason, detected);
        if let Some(ep) = self.stutter.take() {
            ev.push(stutter_end(&ep, reason, detected));
        }
    }
}

fn freeze_kind(e: &FreezeEvidence) -> FreezeKind {
    let repeats = e.frames.saturating_sub(1);
    if e.noisy_frames > 0 && e.noisy_frames * 2 >= repeats {
        FreezeKind::Noisy
    } else if e.exact_frames >= repeats && e.refreshes == 0 {
        FreezeKind::Exact
    } else if e.exact_frames + e.flagged_frames >= repeats && e.refreshes == 0 {
        FreezeKind::Flagged
    } else {
        FreezeKind::Content
    }
}

fn rate(runs: u64, span: u64) -> f64 {
    if span == 0 {
        0.0
    } else {
        runs as f64 * 60e9 / span as f64
    }
}

fn stutter_end(ep: &StutterEpisode, reason: EndReason, detected: Option<u64>) -> Event {
    let mut e = ep.ev;
    e.rate_per_minute = rate(e.runs, ep.last_end_t.saturating_sub(ep.start_t));
    end_event(
        Defect::Stutter,
        ep.id,
        ep.start,
        ep.start_t,
        ep.last_end,
        ep.last_end_t,
        reason,
        detected,
        Evidence::Stutter(e),
    )
}

#[allow(clippy::too_many_arguments)]
fn end_event(
    defect: Defect,
    id: u64,
    start: Times,
    start_t: u64,
    end: Times,
    end_t: u64,
    reason: EndReason,
    detected: Option<u64>,
    evidence: Evidence,
) -> Event {
    Event {
        defect,
        phase: Phase::End,
        id,
        start,
        start_t,
        detected,
        duration: Some(end_t.saturating_sub(start_t)),
        end: Some(end),
        reason: Some(reason),
        evidence,
    }
}

fn update_event(
    defect: Defect,
    id: u64,
    start: Times,
    start_t: u64,
    f: &Frame,
    detected: Option<u64>,
    evidence: Evidence,
) -> Event {
    Event {
        defect,
        phase: Phase::Update,
        id,
        start,
        start_t,
        detected,
        duration: Some(f.end_t().saturating_sub(start_t)),
        end: None,
        reason: None,
        evidence,
    }
}
