// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Every decision of vqfreeze, without GStreamer: the element measures a frame
//! ([`super::stillness`]) and hands the measurements to [`Tracker::push`], which classifies the
//! frame, follows still runs, black runs, the repetition cadence and timestamp gaps, and returns
//! the defect events to post and what to do with the reference picture.
//!
//! Times are nanoseconds on the analysis timeline (see `crate::event`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::stillness::{Change, FrameStats, StillParams, classify_with};
pub use crate::event::Times;
use crate::event::{DefectEvent, EventBuf};
use crate::message::{EndReason, Phase, Severity};

/// Median block MAD (8-bit code values) from which a still picture counts as noisy.
pub const NOISY_FLOOR: f64 = 0.75;
/// Stutter episodes close after this much time without a new hitch.
pub const STUTTER_HANGOVER: u64 = 2_000_000_000;
/// Frames of history needed before a hold is judged against the cadence.
pub const CADENCE_HISTORY: u32 = 36;
/// Frames over which the cadence (the usual number of frames a picture is shown) is measured.
const CADENCE_WINDOW: u32 = 64;
/// A hitch shows its picture at least this much longer than the cadence does (a shorter extra
/// hold is a natural duplicate: counted, never a stutter episode) ...
pub const HITCH_MIN_EXTRA: u64 = 100_000_000;
/// ... and at least this many frames longer.
pub const HITCH_MIN_EXTRA_FRAMES: u64 = 2;
/// Block means of a frozen picture stay within this many times their frame-to-frame jitter of
/// the frozen picture (and within `block-threshold` when they do not jitter).
pub const DRIFT_JITTERS: f64 = 2.0;
/// A block of a black picture shows content when at least this share of its pixels is not black.
pub const CONTENT_SHARE: f64 = 0.125;

/// One measured frame, as the element hands it over.
#[derive(Debug, Clone, Copy)]
pub struct FrameInput {
    pub times: Times,
    /// Position on the analysis timeline.
    pub t: u64,
    /// Duration on the analysis timeline (may be 0 if unknown).
    pub duration: u64,
    pub stats: FrameStats,
    /// Upstream flagged the buffer as a duplicate (GAP flag on a non-empty buffer).
    pub gap_flag: bool,
}

/// Measurements computed only when a decision needs them (they cost a pass over the blocks).
pub trait Features {
    /// Median block MAD against the previous frame (8-bit code values): the grain or noise level.
    fn noise_floor(&self) -> f64;
    /// Blocks with at least [`CONTENT_SHARE`] of their pixels above the black threshold.
    fn content_blocks(&self) -> u32;
}

/// What the element must do with its reference picture after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Keep it: a still run compares with it.
    Keep,
    /// The frame just measured becomes the reference and the origin: no still run is open, or
    /// the encoder's refinement of a run's first repeat was accepted (the refined picture is the
    /// frozen one).
    Restart,
    /// A refresh was accepted: the reference moves to the frame just measured, the origin stays.
    Reanchor,
}

/// The outcome of one frame.
#[derive(Debug)]
pub struct Step {
    pub events: Events,
    pub reference: Reference,
}

/// One classified frame.
#[derive(Debug, Clone, Copy)]
struct Frame {
    times: Times,
    t: u64,
    duration: u64,
    change: Change,
    stats: FrameStats,
    black: bool,
    /// A black picture with something visible on it (credits, a logo): it can freeze.
    content: bool,
    gap_flag: bool,
}

impl Frame {
    fn end_t(&self) -> u64 {
        self.t + self.duration
    }
    fn end_times(&self) -> Times {
        self.times.plus(self.duration)
    }
    /// Black with nothing visible: a black defect, never part of a freeze.
    fn blank(&self) -> bool {
        self.black && !self.content
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

/// How bad a freeze or black defect of `duration` is: `Major` once it has lasted
/// `alarm-duration`.
fn severity_of(duration: u64, p: &Params) -> Severity {
    if duration >= p.alarm_duration {
        Severity::Major
    } else {
        Severity::Minor
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
    pub severity: Severity,
    pub frames: u64,
    pub exact_frames: u64,
    pub flagged_frames: u64,
    pub noisy_frames: u64,
    /// Re-encoding refreshes tolerated inside the freeze.
    pub refreshes: u64,
    /// Largest block-mean change (8-bit code values) from the frozen picture as first refined.
    pub max_drift: f64,
    /// Largest block-mean change from one frame to the next inside the freeze (grain and coding
    /// noise): block means may stray [`DRIFT_JITTERS`] times this far before it is motion.
    pub jitter: f64,
    /// Frames of the freeze that were black with content on them (a frozen logo or credits).
    pub black_frames: u64,
    pub max_mafd: f64,
    pub max_block_mad: f64,
    pub max_ref_delta: f64,
    pub noise_floor: f64,
    pub mean_luma: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlackEvidence {
    pub severity: Severity,
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
    /// Hitches: pictures held off the cadence.
    pub runs: u64,
    /// Frames the hitches held beyond the cadence.
    pub repeated_frames: u64,
    /// Frames the longest hitch showed its picture.
    pub longest_run_frames: u64,
    pub longest_run_duration: u64,
    pub rate_per_minute: f64,
    /// Frames a picture is usually shown for (1 native, 2 for 2:3 pulldown, 3 for 2:2:3 ...).
    pub cadence_frames: u64,
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

/// Every setting the decisions use, in nanoseconds where they are times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub still: StillParams,
    /// Share of black pixels that makes a picture black (FFmpeg blackdetect `pic_th`).
    pub black_picture_threshold: f64,
    /// Shortest freeze: a picture shown this long (and longer than the cadence holds it).
    pub min_duration: u64,
    /// Freezes and black of at least this duration are `major`.
    pub alarm_duration: u64,
    pub black_min_duration: u64,
    /// 0 disables stall detection.
    pub stall_timeout: u64,
    /// 0 disables heartbeats.
    pub update_interval: u64,
}

/// The element's defaults (its property defaults are these).
pub const DEFAULT_PARAMS: Params = Params {
    still: StillParams {
        noise: 0.001,
        block: 2.0,
        refresh: 8.0,
        grain: true,
    },
    black_picture_threshold: 0.98,
    min_duration: 300_000_000,
    alarm_duration: 2_000_000_000,
    black_min_duration: 300_000_000,
    stall_timeout: 2_000_000_000,
    update_interval: 10_000_000_000,
};

/// Events of one step; eight slots cover the worst: every defect type ending and starting at once.
pub type Events = EventBuf<Event, 8>;

/// Weak changes in a row that one refresh may span: encoders refine a refreshed picture over
/// the I-frame and the P-frame or two after it.
pub const MAX_REFRESH_BURST: u32 = 3;

#[derive(Debug, Clone, Copy)]
struct PendingRefresh {
    /// First weak frame of the refresh.
    frame: Frame,
    weak_frames: u32,
    stills_since: u32,
    /// Frames since the first weak one, that one included.
    frames: u32,
    /// Largest block-mean change from one frame to the next in the weak frames.
    max_mean: f64,
    /// Every weak frame kept block means within the drift limit of the frozen picture: the
    /// encoder re-coded the frozen picture (grain, an I-frame) rather than showing a new one.
    kept: bool,
}

#[derive(Debug, Clone, Copy)]
struct FreezeRun {
    id: u64,
    start: Times,
    start_t: u64,
    /// The picture changed strongly into the held one (the content was moving).
    entered_moving: bool,
    /// Repeats that were still (not weak) frames.
    stills: u64,
    /// Times of the first repeated frame (where a stutter starts).
    first_repeat: Times,
    first_repeat_t: u64,
    confirmed: bool,
    pending: Option<PendingRefresh>,
    /// Largest frame-to-frame change of a block mean inside the run: how much grain and coding
    /// noise move block means around the frozen picture.
    jitter: f64,
    last_update_t: u64,
    ev: FreezeEvidence,
}

impl FreezeRun {
    /// How far block means may stray from the frozen picture. Noise moves them around it by
    /// about as much as from one frame to the next; motion, however slow, adds up beyond that.
    /// A pending refresh counts with its own jitter for the still frames after it (they compare
    /// with the picture an I-frame refreshed), not for the weak frames themselves.
    fn drift_limit(&self, p: &Params) -> f64 {
        let jitter = match self.pending {
            Some(pd) => self.jitter.max(pd.max_mean),
            None => self.jitter,
        };
        (p.still.block / 2.0).max(DRIFT_JITTERS * jitter)
    }

    /// The drift limit from the still frames and accepted refreshes only.
    fn settled_limit(&self, p: &Params) -> f64 {
        (p.still.block / 2.0).max(DRIFT_JITTERS * self.jitter)
    }
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

/// Which of the recent frames repeated the picture before them, to learn the cadence: the mean
/// number of frames a picture is shown. Frame-rate conversion by repetition shows every picture
/// for the whole frames just below or above the rate ratio (1 or 2 for 24 to 25 fps and 2:3
/// pulldown, 2 or 3 for 10 to 25 fps, 3 or 4 for 8 to 25 fps), so a hold up to the mean rounded
/// up fits the cadence whatever the pattern, periodic or not.
#[derive(Debug, Clone, Copy, Default)]
struct Cadence {
    /// One bit per frame, newest in bit 0: the frame continued the picture before it.
    repeats: u128,
    /// Frames in `repeats` (at most 128).
    len: u32,
}

impl Cadence {
    fn push(&mut self, repeat: bool) {
        self.repeats = (self.repeats << 1) | u128::from(repeat);
        self.len = (self.len + 1).min(128);
    }

    /// The last `n` frames did not continue their picture after all (a refused refresh).
    fn unmark(&mut self, n: u32) {
        if n > 0 {
            self.repeats &= !((1u128 << n.min(127)) - 1);
        }
    }

    /// Frames of history older than the last `skip`.
    fn history(&self, skip: u32) -> u32 {
        self.len.saturating_sub(skip)
    }

    /// Frames a picture is usually shown, from the window before the last `skip` frames: the
    /// mean hold rounded up, then again without the holds that were hitches by that measure
    /// (so that earlier hitches do not become the cadence).
    fn normal_hold(&self, skip: u32) -> u64 {
        let n = self.history(skip).min(CADENCE_WINDOW);
        if n == 0 || skip >= 128 {
            return 1;
        }
        let window = (self.repeats >> skip) & ((1u128 << n) - 1);
        // Holds, oldest first: a clear bit starts a picture, set bits continue it.
        let mut holds = [0u8; CADENCE_WINDOW as usize];
        let mut count = 0;
        for i in (0..n).rev() {
            if window >> i & 1 == 0 || count == 0 {
                count += 1;
            }
            holds[count - 1] += 1;
        }
        let holds = &holds[..count];
        let ceil_mean = |limit: u8| {
            let (frames, pictures) = holds
                .iter()
                .filter(|&&h| h < limit)
                .fold((0u32, 0u32), |(f, p), &h| (f + u32::from(h), p + 1));
            if pictures == 0 {
                return None;
            }
            // The small margin keeps an exact ratio (2.0) at its value.
            Some(
                (f64::from(frames) / f64::from(pictures) - 1e-3)
                    .ceil()
                    .max(1.0) as u64,
            )
        };
        let first = ceil_mean(u8::MAX).unwrap_or(1);
        let limit = (first + HITCH_MIN_EXTRA_FRAMES).min(255) as u8;
        ceil_mean(limit).unwrap_or(first)
    }
}

/// Running totals, for the element's `stats` property.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub frames: u64,
    pub freezes: u64,
    pub major_freezes: u64,
    pub blacks: u64,
    pub stalls: u64,
    /// Hitches: holds off the cadence, reported as stutter.
    pub stutter_runs: u64,
    /// Holds longer than the cadence but too short to be a hitch (natural duplicates).
    pub duplicate_holds: u64,
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
    /// Set when a run's first repeat was refined: reference and origin move to this frame.
    rebase: bool,
    prev: Option<Frame>,
    freeze: Option<FreezeRun>,
    black: Option<BlackRun>,
    stutter: Option<StutterEpisode>,
    cadence: Cadence,
    pub totals: Totals,
}

impl Tracker {
    pub fn new(ids: Arc<AtomicU64>) -> Self {
        Tracker {
            ids,
            reanchor: false,
            rebase: false,
            prev: None,
            freeze: None,
            black: None,
            stutter: None,
            cadence: Cadence::default(),
            totals: Totals::default(),
        }
    }

    fn new_id(&mut self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Times and timeline position where the next frame is expected.
    pub fn expected_next(&self) -> Option<(Times, u64)> {
        self.prev.map(|p| (p.end_times(), p.end_t()))
    }

    /// Classifies one measured frame and follows every defect with it. `external_stall` is true
    /// when the element's watchdog already reported the stall that ends with this frame.
    pub fn push(
        &mut self,
        input: FrameInput,
        features: &impl Features,
        p: &Params,
        external_stall: bool,
    ) -> Step {
        let mut stats = input.stats;
        let change = classify_with(&mut stats, &p.still, || features.noise_floor());
        let black = stats.black_ratio >= p.black_picture_threshold;
        let f = Frame {
            times: input.times,
            t: input.t,
            duration: input.duration,
            change,
            stats,
            black,
            content: black && features.content_blocks() > 0,
            gap_flag: input.gap_flag,
        };
        let mut ev = Events::default();
        self.totals.frames += 1;
        self.totals.duration += f.duration;

        if let Some(prev) = self.prev {
            if f.t < prev.t {
                // Time went backwards: what came before cannot be joined with what follows.
                self.close_all(
                    &mut ev,
                    prev.end_times(),
                    prev.end_t(),
                    EndReason::Discont,
                    Some(f.t),
                    p,
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
                        p,
                    );
                    self.prev = None;
                    if !external_stall {
                        self.stall_from_gap(&prev, &f, gap, &mut ev);
                    }
                }
            }
        }

        self.track_black(&f, p, &mut ev);
        self.track_freeze(&f, p, &mut ev);
        self.track_stutter_hangover(&f, &mut ev);
        self.updates(&f, p, &mut ev);
        self.prev = Some(f);
        let rebase = std::mem::take(&mut self.rebase);
        let reference = if self.freeze.is_none() || rebase {
            Reference::Restart
        } else if std::mem::take(&mut self.reanchor) {
            Reference::Reanchor
        } else {
            Reference::Keep
        };
        Step {
            events: ev,
            reference,
        }
    }

    fn stall_from_gap(&mut self, prev: &Frame, f: &Frame, gap: u64, ev: &mut Events) {
        self.totals.stalls += 1;
        let id = self.new_id();
        let missing = (gap + prev.duration / 2)
            .checked_div(prev.duration)
            .unwrap_or(0);
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
            evidence: Evidence::Stall(StallEvidence {
                source: StallSource::TimestampGap,
                missing_frames: missing,
            }),
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

    fn track_black(&mut self, f: &Frame, p: &Params, ev: &mut Events) {
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
                        severity: Severity::Minor,
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
            let shown = f.end_t() - run.start_t;
            if !run.confirmed && shown >= p.black_min_duration {
                run.confirmed = true;
                run.last_update_t = run.start_t;
                run.ev.severity = severity_of(shown, p);
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

    fn new_run(&mut self, prev: &Frame, f: &Frame) -> FreezeRun {
        FreezeRun {
            id: self.new_id(),
            start: prev.times,
            start_t: prev.t,
            entered_moving: prev.change == Change::Strong,
            stills: 0,
            first_repeat: f.times,
            first_repeat_t: f.t,
            confirmed: false,
            pending: None,
            // A still first repeat shows the jitter; a weak one (a refinement) counts once
            // accepted.
            jitter: match f.change {
                Change::Still { .. } => f.stats.max_mean_delta,
                _ => 0.0,
            },
            last_update_t: f.t,
            ev: FreezeEvidence {
                kind: FreezeKind::Exact,
                severity: Severity::Minor,
                frames: 1,
                exact_frames: 0,
                flagged_frames: 0,
                noisy_frames: 0,
                refreshes: 0,
                max_drift: 0.0,
                jitter: 0.0,
                black_frames: u64::from(prev.content),
                max_mafd: 0.0,
                max_block_mad: 0.0,
                max_ref_delta: 0.0,
                noise_floor: 0.0,
                mean_luma: prev.stats.mean_luma,
            },
        }
    }

    /// A weak change inside (or at the start of) a still run: the encoder refining the picture,
    /// or the start of motion. It stays pending until two still frames accept it.
    fn pending_weak(f: &Frame, limit: f64) -> PendingRefresh {
        PendingRefresh {
            frame: *f,
            weak_frames: 1,
            stills_since: 0,
            frames: 1,
            max_mean: f.stats.max_mean_delta,
            kept: f.stats.max_origin_delta <= limit,
        }
    }

    fn track_freeze(&mut self, f: &Frame, p: &Params, ev: &mut Events) {
        // Black with nothing on it is a black defect, never a freeze: it ends any still run.
        let change = if f.blank() { Change::Strong } else { f.change };
        if let Some(run) = self.freeze.as_mut()
            && matches!(change, Change::Still { .. })
        {
            run.jitter = run.jitter.max(f.stats.max_mean_delta);
        }
        let change = match (change, self.freeze) {
            (Change::Still { .. }, Some(run)) if f.stats.max_origin_delta > run.drift_limit(p) => {
                // Still from frame to frame but away from the frozen picture: slow motion.
                Change::Strong
            }
            _ => change,
        };
        let detected = f.times.running_time.or(Some(f.t));
        let prev = self.prev.filter(|pr| !pr.blank());
        let mut repeat = false;
        match change {
            Change::Still { exact, strict } => {
                if self.freeze.is_none()
                    && let Some(prev) = prev
                {
                    let run = self.new_run(&prev, f);
                    self.freeze = Some(run);
                }
                if let Some(run) = self.freeze.as_mut() {
                    repeat = true;
                    run.stills += 1;
                    run.ev.frames += 1;
                    run.ev.exact_frames += u64::from(exact);
                    run.ev.flagged_frames += u64::from(f.gap_flag);
                    run.ev.black_frames += u64::from(f.content);
                    if !strict && f.stats.noise_floor >= NOISY_FLOOR {
                        // Still under grain or noise.
                        run.ev.noisy_frames += 1;
                    }
                    run.ev.max_mafd = run.ev.max_mafd.max(f.stats.mafd);
                    run.ev.max_block_mad = run.ev.max_block_mad.max(f.stats.max_block_mad);
                    run.ev.max_ref_delta = run.ev.max_ref_delta.max(f.stats.max_ref_delta);
                    run.ev.noise_floor = run.ev.noise_floor.max(f.stats.noise_floor);
                    run.ev.max_drift = run.ev.max_drift.max(f.stats.max_origin_delta);
                    if let Some(pending) = run.pending.as_mut() {
                        pending.stills_since += 1;
                        pending.frames += 1;
                        if pending.stills_since >= 2 {
                            // A refinement of the first repeat settles the frozen picture: drift is
                            // measured from here.
                            if pending.frame.t <= run.first_repeat_t {
                                self.rebase = true;
                                run.ev.max_drift = 0.0;
                            }
                            run.jitter = run.jitter.max(pending.max_mean);
                            run.pending = None;
                            run.ev.refreshes += 1;
                        }
                    }
                }
            }
            Change::Weak => match self.freeze.as_mut() {
                None => {
                    // The first repeat of a picture refined by the encoder looks like this.
                    if let Some(prev) = prev {
                        let mut run = self.new_run(&prev, f);
                        run.ev.frames += 1;
                        run.ev.black_frames += u64::from(f.content);
                        run.pending = Some(Self::pending_weak(f, run.settled_limit(p)));
                        self.freeze = Some(run);
                        self.reanchor = true;
                        repeat = true;
                    }
                }
                Some(run) => {
                    let limit = run.settled_limit(p);
                    let kept = f.stats.max_origin_delta <= limit;
                    match run.pending.as_mut() {
                        None => run.pending = Some(Self::pending_weak(f, limit)),
                        Some(pd) if pd.weak_frames < MAX_REFRESH_BURST => {
                            pd.weak_frames += 1;
                            pd.stills_since = 0;
                            pd.frames += 1;
                            pd.max_mean = pd.max_mean.max(f.stats.max_mean_delta);
                            pd.kept &= kept;
                        }
                        // Longer than a refresh, but still the frozen picture of a freeze: the
                        // encoder keeps re-coding it (grain it stops or starts coding).
                        Some(pd) if run.confirmed && pd.kept && kept => {
                            *pd = Self::pending_weak(f, limit)
                        }
                        Some(pd) => {
                            // Changing for longer than a refresh: the picture moves again, from
                            // the first weak frame on.
                            let (at, n) = (pd.frame, pd.frames);
                            self.cadence.unmark(n);
                            self.end_freeze(
                                ev,
                                at.times,
                                at.t,
                                EndReason::Recovered,
                                detected,
                                p,
                                f,
                            );
                        }
                    }
                    if let Some(run) = self.freeze.as_mut() {
                        run.ev.frames += 1;
                        run.ev.black_frames += u64::from(f.content);
                        self.reanchor = true;
                        repeat = true;
                    }
                }
            },
            Change::Strong => {
                if let Some(run) = self.freeze {
                    // The freeze ends with the first frame of the new picture. Weak frames just
                    // before it that kept the frozen picture's block means were it, re-coded
                    // (an I-frame, grain); weak frames that moved them were the motion starting.
                    let (times, t) = match run.pending {
                        Some(pd) if !pd.kept => {
                            self.cadence.unmark(pd.frames);
                            (pd.frame.times, pd.frame.t)
                        }
                        _ => (f.times, f.t),
                    };
                    self.end_freeze(ev, times, t, EndReason::Recovered, detected, p, f);
                }
            }
        }
        self.cadence.push(repeat);

        let fits_cadence = self.freeze.is_some_and(|run| {
            let Some(fd) = frame_step(f) else {
                return false;
            };
            let frames = frames_in(f.end_t() - run.start_t, fd);
            frames <= self.cadence.normal_hold(frames as u32)
        });
        if let Some(run) = self.freeze.as_mut()
            && !run.confirmed
            && run.pending.is_none()
            && f.end_t() - run.start_t >= p.min_duration
            && !fits_cadence
        {
            let shown = f.end_t() - run.start_t;
            run.confirmed = true;
            run.last_update_t = run.start_t;
            run.ev.kind = freeze_kind(&run.ev);
            run.ev.severity = severity_of(shown, p);
            self.totals.freezes += 1;
            if run.ev.severity == Severity::Major {
                self.totals.major_freezes += 1;
            }
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

    /// Ends the still run at `end`. A confirmed one is a freeze; an unconfirmed one that ended
    /// on new content is a hold, judged against the cadence. `f` is the frame being decided.
    #[allow(clippy::too_many_arguments)]
    fn end_freeze(
        &mut self,
        ev: &mut Events,
        end: Times,
        end_t: u64,
        reason: EndReason,
        detected: Option<u64>,
        p: &Params,
        f: &Frame,
    ) {
        let Some(mut run) = self.freeze.take() else {
            return;
        };
        run.ev.kind = freeze_kind(&run.ev);
        run.ev.jitter = run.jitter;
        if run.confirmed {
            self.totals.frozen_time += end_t.saturating_sub(run.start_t);
            run.ev.severity = severity_of(end_t.saturating_sub(run.start_t), p);
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
            // A freeze is no cadence: learn it again.
            self.cadence = Cadence::default();
            return;
        }
        if reason == EndReason::Recovered {
            self.judge_hold(ev, &run, end, end_t, detected, f);
        }
    }

    /// A picture held for less than `min-duration`: a hitch (stutter) when it is held clearly
    /// longer than the cadence shows pictures, a counted duplicate when only a little longer.
    fn judge_hold(
        &mut self,
        ev: &mut Events,
        run: &FreezeRun,
        end: Times,
        end_t: u64,
        detected: Option<u64>,
        f: &Frame,
    ) {
        let Some(fd) = self.prev.and_then(|pr| frame_step(&pr)) else {
            return;
        };
        let held = end_t.saturating_sub(run.start_t);
        let frames = frames_in(held, fd);
        // Frames of this run already in the history: from its first frame to the last one.
        let skip = frames_in(f.t.saturating_sub(run.start_t), fd) as u32;
        if self.cadence.history(skip) < CADENCE_HISTORY {
            return;
        }
        let normal = self.cadence.normal_hold(skip);
        if frames <= normal {
            return;
        }
        // A hitch interrupts motion: the picture moved into the held one and jumps out of it.
        // Content that slows down to (nearly) still and picks up again is no hitch.
        if !run.entered_moving || f.change != Change::Strong || run.stills * 2 < frames {
            return;
        }
        if frames < normal + HITCH_MIN_EXTRA_FRAMES || held < normal * fd + HITCH_MIN_EXTRA {
            self.totals.duplicate_holds += 1;
            return;
        }
        self.totals.stutter_runs += 1;
        let extra = frames - normal;
        match self.stutter.as_mut() {
            Some(ep) => {
                ep.ev.runs += 1;
                ep.ev.repeated_frames += extra;
                ep.ev.cadence_frames = normal;
                if frames > ep.ev.longest_run_frames {
                    ep.ev.longest_run_frames = frames;
                    ep.ev.longest_run_duration = held;
                }
                ep.last_end = end;
                ep.last_end_t = end_t;
            }
            None => {
                let id = self.new_id();
                let ep = StutterEpisode {
                    id,
                    start: run.first_repeat,
                    start_t: run.first_repeat_t,
                    last_end: end,
                    last_end_t: end_t,
                    last_update_t: run.first_repeat_t,
                    ev: StutterEvidence {
                        runs: 1,
                        repeated_frames: extra,
                        longest_run_frames: frames,
                        longest_run_duration: held,
                        rate_per_minute: 0.0,
                        cadence_frames: normal,
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

    fn track_stutter_hangover(&mut self, f: &Frame, ev: &mut Events) {
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

    /// An update when an open freeze or black defect lasts `alarm-duration` and becomes major.
    /// Updates of the open intervals: when one becomes major (`alarm_duration`) and on whole
    /// multiples of `update_interval` of its duration so far (heartbeats). At most one update
    /// per interval and frame.
    fn updates(&mut self, f: &Frame, p: &Params, ev: &mut Events) {
        let detected = f.times.running_time.or(Some(f.t));
        let end_t = f.end_t();
        let major = |start_t: u64, severity: &mut Severity| {
            let due =
                *severity == Severity::Minor && end_t.saturating_sub(start_t) >= p.alarm_duration;
            if due {
                *severity = Severity::Major;
            }
            due
        };
        let beat = |last: &mut u64| {
            let due = p.update_interval > 0 && end_t.saturating_sub(*last) >= p.update_interval;
            if due {
                *last += p.update_interval;
            }
            due
        };
        if let Some(run) = self.freeze.as_mut()
            && run.confirmed
        {
            let became_major = major(run.start_t, &mut run.ev.severity);
            self.totals.major_freezes += u64::from(became_major);
            // Both checks run: a heartbeat due now must not shift to the next frame.
            if became_major | beat(&mut run.last_update_t) {
                run.ev.kind = freeze_kind(&run.ev);
                let e = Evidence::Freeze(run.ev);
                ev.push(update_event(Defect::Freeze, &*run, f, detected, e));
            }
        }
        if let Some(run) = self.black.as_mut()
            && run.confirmed
            && major(run.start_t, &mut run.ev.severity) | beat(&mut run.last_update_t)
        {
            let e = Evidence::Black(run.ev);
            ev.push(update_event(Defect::Black, &*run, f, detected, e));
        }
        if let Some(ep) = self.stutter.as_mut()
            && beat(&mut ep.last_update_t)
        {
            let mut e = ep.ev;
            e.rate_per_minute = rate(e.runs, end_t.saturating_sub(ep.start_t));
            ev.push(update_event(
                Defect::Stutter,
                &*ep,
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
    pub fn close(&mut self, reason: EndReason, detected: Option<u64>, p: &Params) -> Events {
        let mut ev = Events::default();
        if let Some(prev) = self.prev {
            self.close_all(&mut ev, prev.end_times(), prev.end_t(), reason, detected, p);
        }
        self.prev = None;
        self.cadence = Cadence::default();
        ev
    }

    fn close_all(
        &mut self,
        ev: &mut Events,
        end: Times,
        end_t: u64,
        reason: EndReason,
        detected: Option<u64>,
        p: &Params,
    ) {
        if let Some(mut run) = self.black.take()
            && run.confirmed
        {
            run.ev.severity = severity_of(end_t.saturating_sub(run.start_t), p);
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
        if let Some(prev) = self.prev {
            self.end_freeze(ev, end, end_t, reason, detected, p, &prev);
        }
        if let Some(ep) = self.stutter.take() {
            ev.push(stutter_end(&ep, reason, detected));
        }
    }
}

/// The frame's duration, when known: the step by which holds are counted.
fn frame_step(f: &Frame) -> Option<u64> {
    (f.duration > 0).then_some(f.duration)
}

/// Whole frames of `fd` in `span`, rounded.
fn frames_in(span: u64, fd: u64) -> u64 {
    (span + fd / 2) / fd
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

/// An open interval (freeze, black, stutter): its id and where it started.
trait Open {
    fn head(&self) -> (u64, Times, u64);
}

macro_rules! open_interval {
    ($($t:ty),*) => {$(
        impl Open for $t {
            fn head(&self) -> (u64, Times, u64) {
                (self.id, self.start, self.start_t)
            }
        }
    )*};
}
open_interval!(FreezeRun, BlackRun, StutterEpisode);

fn update_event(
    defect: Defect,
    run: &impl Open,
    f: &Frame,
    detected: Option<u64>,
    evidence: Evidence,
) -> Event {
    let (id, start, start_t) = run.head();
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

#[cfg(test)]
mod tests {
    //! Replays of measurement sequences: each test feeds the tracker what the element would
    //! measure on one kind of content and checks the defects it decides.

    use super::*;

    const MS: u64 = 1_000_000;
    const SECOND: u64 = 1_000 * MS;

    /// What the element measures on one frame, and the lazily computed features.
    #[derive(Clone, Copy)]
    struct Shot {
        stats: FrameStats,
        noise_floor: f64,
        content_blocks: u32,
    }

    impl Features for Shot {
        fn noise_floor(&self) -> f64 {
            self.noise_floor
        }
        fn content_blocks(&self) -> u32 {
            self.content_blocks
        }
    }

    fn stats(mafd: f64, block: f64, mean: f64, origin: f64) -> FrameStats {
        FrameStats {
            compared: true,
            exact: mafd == 0.0 && block == 0.0,
            mafd,
            max_block_mad: block,
            noise_floor: 0.0,
            max_mean_delta: mean,
            max_ref_delta: origin,
            max_origin_delta: origin,
            black_ratio: 0.02,
            mean_luma: 110.0,
        }
    }

    fn shot(s: FrameStats) -> Shot {
        Shot {
            stats: s,
            noise_floor: 0.1,
            content_blocks: 100,
        }
    }

    /// Content that moves.
    fn moving() -> Shot {
        shot(stats(3.0, 25.0, 9.0, 9.0))
    }
    /// A bit-identical repeat.
    fn exact() -> Shot {
        shot(stats(0.0, 0.0, 0.0, 0.0))
    }
    /// A repeat with coding noise (an encoder's skip blocks and small residuals).
    fn near(origin: f64) -> Shot {
        shot(stats(0.01, 0.4, 0.2, origin))
    }
    /// An encoder refining or refreshing the same picture (first repeat, I-frame).
    fn refresh() -> Shot {
        shot(stats(0.5, 3.5, 1.2, 1.2))
    }
    /// A still picture under fresh grain: every block changes alike, block means barely.
    fn grain(origin: f64) -> Shot {
        Shot {
            noise_floor: 2.2,
            ..shot(stats(2.0, 3.6, 0.8, origin))
        }
    }
    fn black() -> Shot {
        Shot {
            content_blocks: 0,
            ..shot(FrameStats {
                black_ratio: 1.0,
                mean_luma: 16.0,
                ..stats(0.0, 0.0, 0.0, 0.0)
            })
        }
    }
    /// A black picture with a small logo or credits on it.
    fn black_logo(s: Shot) -> Shot {
        Shot {
            content_blocks: 3,
            stats: FrameStats {
                black_ratio: 0.99,
                mean_luma: 18.0,
                ..s.stats
            },
            ..s
        }
    }

    fn params() -> Params {
        DEFAULT_PARAMS
    }

    /// Frame `i` at `fps` (`num / den`), in ns.
    fn at(i: u64, num: u64, den: u64) -> u64 {
        i * den * SECOND / num
    }

    /// Decided events, as (defect, phase, start frame, end frame) with `severity` where it has one.
    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        defect: Defect,
        phase: Phase,
        start: u64,
        end: Option<u64>,
        severity: Option<Severity>,
        evidence: Evidence,
    }

    /// Feeds `shots` at `num / den` fps, closes at EOS, returns every event with times in frames.
    fn replay_with(shots: &[Shot], num: u64, den: u64, p: &Params) -> Vec<Seen> {
        let mut tr = Tracker::new(Arc::new(AtomicU64::new(1)));
        let frame = |t: u64| (t * num + den * SECOND / 2) / (den * SECOND);
        let mut out = Vec::new();
        let mut keep = |evs: &Events| {
            for e in evs.iter() {
                out.push(Seen {
                    defect: e.defect,
                    phase: e.phase,
                    start: frame(e.start_t),
                    end: e.end.map(|t| frame(t.running_time.unwrap())),
                    severity: match e.evidence {
                        Evidence::Freeze(f) => Some(f.severity),
                        Evidence::Black(b) => Some(b.severity),
                        _ => None,
                    },
                    evidence: e.evidence,
                });
            }
        };
        for (i, s) in shots.iter().enumerate() {
            let t = at(i as u64, num, den);
            let mut st = s.stats;
            st.compared = i > 0;
            let input = FrameInput {
                times: Times {
                    pts: Some(t),
                    running_time: Some(t),
                    stream_time: Some(t),
                },
                t,
                duration: at(i as u64 + 1, num, den) - t,
                stats: st,
                gap_flag: false,
            };
            keep(&tr.push(input, s, p, false).events);
        }
        keep(&tr.close(EndReason::Eos, None, p));
        out
    }

    fn replay(shots: &[Shot], num: u64, den: u64) -> Vec<Seen> {
        replay_with(shots, num, den, &params())
    }

    /// (start, end) frames of the defects of one type that ended.
    fn spans(seen: &[Seen], defect: Defect) -> Vec<(u64, u64)> {
        seen.iter()
            .filter(|s| s.defect == defect && s.phase == Phase::End)
            .map(|s| (s.start, s.end.unwrap()))
            .collect()
    }

    /// `n` frames of `f(k)`.
    fn run(n: u64, f: impl Fn(u64) -> Shot) -> Vec<Shot> {
        (0..n).map(f).collect()
    }

    /// Moving content with frozen stretches `(first frame, frames)`, each repeat given by `rep`.
    fn with_freezes(total: u64, freezes: &[(u64, u64)], rep: impl Fn(u64) -> Shot) -> Vec<Shot> {
        (0..total)
            .map(
                |i| match freezes.iter().find(|(s, n)| i > *s && i < s + n) {
                    Some((s, _)) => rep(i - s),
                    None => moving(),
                },
            )
            .collect()
    }

    #[test]
    fn short_freezes_are_found_to_the_frame_at_the_defaults() {
        // 0.4, 0.6 and 1 s at 30 fps; 25 and 29.97 fps too.
        for (num, den) in [(30, 1), (25, 1), (30000, 1001)] {
            let fps = num as f64 / den as f64;
            let frames = |d: f64| (d * fps).ceil() as u64;
            let fz = [(40, frames(0.4)), (90, frames(0.6)), (150, frames(1.0))];
            let seen = replay(&with_freezes(220, &fz, |_| exact()), num, den);
            let want: Vec<_> = fz.iter().map(|&(s, n)| (s, s + n)).collect();
            assert_eq!(spans(&seen, Defect::Freeze), want, "{fps} fps: {seen:#?}");
            assert!(
                seen.iter()
                    .filter(|s| s.defect == Defect::Freeze)
                    .all(|s| s.severity == Some(Severity::Minor)),
                "below alarm-duration every freeze is minor"
            );
            assert_eq!(seen.len(), 6, "nothing else: {seen:#?}");
        }
        // A hold just below min-duration (8 frames = 0.27 s at 30 fps) is no freeze.
        let seen = replay(&with_freezes(120, &[(40, 8)], |_| exact()), 30, 1);
        assert!(spans(&seen, Defect::Freeze).is_empty(), "{seen:#?}");
    }

    #[test]
    fn a_freeze_becomes_major_at_alarm_duration() {
        let seen = replay(&with_freezes(200, &[(30, 75)], |_| exact()), 25, 1);
        let phases: Vec<_> = seen
            .iter()
            .map(|s| (s.defect, s.phase, s.severity))
            .collect();
        use Phase::*;
        let m = Some(Severity::Minor);
        let mj = Some(Severity::Major);
        assert_eq!(
            phases,
            [
                (Defect::Freeze, Start, m),
                (Defect::Freeze, Update, mj),
                (Defect::Freeze, End, mj)
            ]
        );
        assert_eq!(spans(&seen, Defect::Freeze), [(30, 105)]);
    }

    #[test]
    fn encoder_refinements_move_neither_start_nor_end() {
        // The first repeat refined (weak), an I-frame refresh in the middle and one on the last
        // frozen frame: the freeze still spans exactly the frozen picture.
        let rep = |k: u64| match k {
            1 | 10 | 19 => refresh(),
            _ => near(0.8),
        };
        let seen = replay(&with_freezes(80, &[(30, 20)], rep), 25, 1);
        assert_eq!(spans(&seen, Defect::Freeze), [(30, 50)], "{seen:#?}");
        let Evidence::Freeze(ev) = seen.last().unwrap().evidence else {
            panic!()
        };
        assert_eq!(ev.refreshes, 2);
        assert_eq!(ev.frames, 20);
        // Two weak frames before the new picture are the motion starting: it ends at the first.
        let rep = |k: u64| if k >= 18 { refresh() } else { exact() };
        let seen = replay(&with_freezes(80, &[(30, 20)], rep), 25, 1);
        assert_eq!(spans(&seen, Defect::Freeze), [(30, 48)], "{seen:#?}");
    }

    #[test]
    fn a_long_freeze_under_grain_is_one_freeze_to_its_last_frame() {
        // 10 s of a still picture under fresh grain, refreshed by every I-frame (2 s GOP), block
        // means wandering within their frame-to-frame jitter.
        let rep = |k: u64| {
            if k.is_multiple_of(50) {
                Shot {
                    noise_floor: 2.2,
                    ..refresh()
                }
            } else {
                grain(0.4 + 0.5 * ((k * 7 % 11) as f64 / 10.0))
            }
        };
        let mut shots = with_freezes(320, &[(40, 250)], rep);
        for s in shots.iter_mut() {
            s.noise_floor = 2.2;
        }
        let seen = replay(&shots, 25, 1);
        assert_eq!(spans(&seen, Defect::Freeze), [(40, 290)], "{seen:#?}");
        let Evidence::Freeze(ev) = seen.last().unwrap().evidence else {
            panic!()
        };
        assert_eq!(ev.kind, FreezeKind::Noisy);
        assert_eq!(ev.severity, Severity::Major);
    }

    #[test]
    fn slow_motion_below_the_thresholds_is_no_freeze() {
        // Every frame "still" against the previous one, but block means walking away from the
        // first picture (a slow pan or a camera settling): the drift ends every run early.
        let shots = run(200, |k| shot(stats(0.12, 1.4, 0.3, 0.3 * (k % 60) as f64)));
        let seen = replay(&shots, 30, 1);
        assert!(spans(&seen, Defect::Freeze).is_empty(), "{seen:#?}");
        // The same jitter around a fixed picture is a freeze.
        let shots = with_freezes(200, &[(20, 100)], |k| {
            shot(stats(0.12, 1.4, 0.6, 0.2 + 0.5 * (k % 3) as f64))
        });
        let seen = replay(&shots, 30, 1);
        assert_eq!(spans(&seen, Defect::Freeze), [(20, 120)], "{seen:#?}");
    }

    /// `pictures` pictures shown for `hold(k)` frames each, every frame after the first of a
    /// picture an exact repeat.
    fn cadence(pictures: u64, hold: impl Fn(u64) -> u64) -> Vec<Shot> {
        (0..pictures)
            .flat_map(|k| (0..hold(k)).map(|j| if j == 0 { moving() } else { exact() }))
            .collect()
    }

    fn stutters(seen: &[Seen]) -> Vec<(u64, u64)> {
        spans(seen, Defect::Stutter)
    }

    #[test]
    fn cadences_are_not_stutter_and_a_hitch_inside_them_is() {
        // (name, fps, holds): 2:3 pulldown seen as 23.976 in 29.97 (1,1,1,2), 10 to 25 fps
        // (2:3, i.e. 2,3), 24 to 25 fps (one picture in 24 twice), 8 to 25 fps (3,3,3,4 ...).
        type Hold = fn(u64) -> u64;
        let cases: [(&str, (u64, u64), Hold); 4] = [
            ("2:3 pulldown", (30000, 1001), |k| 1 + u64::from(k % 4 == 3)),
            ("10 to 25 fps", (25, 1), |k| 2 + (k % 2)),
            ("24 to 25 fps", (25, 1), |k| 1 + u64::from(k % 24 == 23)),
            ("8 to 25 fps", (25, 1), |k| 3 + u64::from(k % 8 == 7)),
        ];
        for (name, (num, den), hold) in cases {
            let shots = cadence(200, hold);
            let seen = replay(&shots, num, den);
            assert!(seen.is_empty(), "{name}: {seen:#?}");
            // The same cadence with one picture held 0.12 s longer than its longest hold (a
            // hitch, below min-duration).
            let fps = num as f64 / den as f64;
            let longest = (0..200).map(hold).max().unwrap();
            let hitch = longest + (0.12 * fps).ceil() as u64;
            assert!(hitch as f64 / fps < 0.3, "{name}: {hitch}");
            let shots = cadence(200, |k| if k == 120 { hitch } else { hold(k) });
            let seen = replay(&shots, num, den);
            let first: u64 = (0..120).map(hold).sum();
            assert_eq!(
                stutters(&seen),
                [(first + 1, first + hitch)],
                "{name}: one stutter from the first repeat to the end of the hitch: {seen:#?}"
            );
            assert!(spans(&seen, Defect::Freeze).is_empty(), "{name}");
        }
    }

    #[test]
    fn single_duplicates_are_counted_never_an_episode() {
        // Native 30 fps with natural duplicates (a picture shown twice, once three times).
        let dups = [45u64, 52, 90, 130, 131, 170];
        let shots = cadence(240, |k| {
            if k == 100 {
                3
            } else {
                1 + u64::from(dups.contains(&k))
            }
        });
        let mut tr = Tracker::new(Arc::new(AtomicU64::new(1)));
        let p = params();
        let mut events = 0;
        for (i, s) in shots.iter().enumerate() {
            let t = at(i as u64, 30, 1);
            let mut st = s.stats;
            st.compared = i > 0;
            let input = FrameInput {
                times: Times::default(),
                t,
                duration: at(1, 30, 1),
                stats: st,
                gap_flag: false,
            };
            events += tr.push(input, s, &p, false).events.iter().count();
        }
        assert_eq!(events, 0);
        // The first duplicate (the cadence was one frame a picture) and the triple (it is two
        // once duplicates belong to it).
        assert_eq!(tr.totals.duplicate_holds, 2);
        assert_eq!(tr.totals.stutter_runs, 0);
    }

    #[test]
    fn black_holds_are_black_never_freeze_and_frozen_content_on_black_is_both() {
        // A 0.5 s black hold between fades: black (minor), no freeze.
        let mut shots = run(40, |_| moving());
        shots.extend(run(13, |_| black()));
        shots.extend(run(40, |_| moving()));
        let seen = replay(&shots, 25, 1);
        assert_eq!(spans(&seen, Defect::Black), [(40, 53)], "{seen:#?}");
        assert!(spans(&seen, Defect::Freeze).is_empty(), "{seen:#?}");
        assert_eq!(seen[0].severity, Some(Severity::Minor));

        // A logo on black, frozen for 1 s: black and freeze.
        let mut shots = run(40, |_| moving());
        shots.push(black_logo(moving()));
        shots.extend(run(24, |_| black_logo(exact())));
        shots.extend(run(40, |_| moving()));
        let seen = replay(&shots, 25, 1);
        assert_eq!(spans(&seen, Defect::Black), [(40, 65)], "{seen:#?}");
        assert_eq!(spans(&seen, Defect::Freeze), [(40, 65)], "{seen:#?}");
        let Some(Evidence::Freeze(ev)) = seen
            .iter()
            .find(|s| s.defect == Defect::Freeze && s.phase == Phase::End)
            .map(|s| s.evidence)
        else {
            panic!()
        };
        assert_eq!(ev.black_frames, 25);
    }

    #[test]
    fn a_timestamp_gap_is_a_stall_and_closes_the_freeze() {
        let mut tr = Tracker::new(Arc::new(AtomicU64::new(1)));
        let p = params();
        let frame = |t: u64, s: Shot| FrameInput {
            times: Times {
                running_time: Some(t),
                ..Times::default()
            },
            t,
            duration: 40 * MS,
            stats: s.stats,
            gap_flag: false,
        };
        let mut all = Vec::new();
        for i in 0..20u64 {
            let mut s = if i < 5 { moving() } else { exact() };
            s.stats.compared = i > 0;
            all.extend(
                tr.push(frame(i * 40 * MS, s), &s, &p, false)
                    .events
                    .iter()
                    .copied(),
            );
        }
        let m = moving();
        all.extend(
            tr.push(frame(4 * SECOND, m), &m, &p, false)
                .events
                .iter()
                .copied(),
        );
        let kinds: Vec<_> = all.iter().map(|e| (e.defect, e.phase)).collect();
        assert_eq!(
            kinds,
            [
                (Defect::Freeze, Phase::Start),
                (Defect::Freeze, Phase::End),
                (Defect::Stall, Phase::Start),
                (Defect::Stall, Phase::End)
            ]
        );
        assert_eq!(all[1].reason, Some(EndReason::Discont));
        assert_eq!(all[3].duration, Some(4 * SECOND - 800 * MS));
    }
}
