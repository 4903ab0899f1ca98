// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Tier 1: timestamp checks of one stream, on running time.
//!
//! Every buffer is compared with where the previous one said the next would start (its running
//! time plus its content duration: samples / rate for audio, the nominal frame duration for
//! video). A jump beyond the alignment threshold (audio: 40 ms like `audiobasesink`; video: half a
//! frame) is a gap or an overlap; a running time before the previous buffer's is `backwards`.
//! Unless the buffer carries DISCONT, a jump is only confirmed once the stream has stayed on the
//! new timeline for `discont-wait` (1 s); a buffer back on the old timeline before that makes it
//! jitter, which is counted but not reported.
//!
//! Drift: the divergence of running time from the content clock (samples or frames counted since
//! the stream started), with confirmed jumps taken out, sampled once per second; its slope over
//! the last `drift-window` is the drift in ppm. A drift defect opens when the divergence exceeds
//! `drift-tolerance` or the slope exceeds `drift-max-ppm` over a full window.

use crate::message::Stamp;

pub const SECOND: u64 = 1_000_000_000;

/// Drift points kept: one per second over the longest window allowed.
pub const DRIFT_POINTS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Video,
    Audio,
}

impl Media {
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Video => "video",
            Media::Audio => "audio",
        }
    }

    pub fn units(self) -> &'static str {
        match self {
            Media::Video => "frames",
            Media::Audio => "samples",
        }
    }

    pub fn other(self) -> Media {
        match self {
            Media::Video => Media::Audio,
            Media::Audio => Media::Video,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineParams {
    pub alignment_threshold: u64,
    pub discont_wait: u64,
    pub drift_tolerance: u64,
    pub drift_max_ppm: f64,
    pub drift_window: u64,
}

impl Default for TimelineParams {
    fn default() -> Self {
        TimelineParams {
            alignment_threshold: 40_000_000,
            discont_wait: SECOND,
            drift_tolerance: 40_000_000,
            drift_max_ppm: 200.0,
            drift_window: 60 * SECOND,
        }
    }
}

/// The content clock of a stream: `n` units last `n * num / den` nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentClock {
    pub num: u64,
    pub den: u64,
}

impl ContentClock {
    /// Audio at `rate` samples per second.
    pub fn audio(rate: u32) -> Option<Self> {
        (rate > 0).then_some(ContentClock {
            num: SECOND,
            den: rate as u64,
        })
    }

    /// Video at `fps_n / fps_d` frames per second; `None` for variable frame rate.
    pub fn video(fps_n: i32, fps_d: i32) -> Option<Self> {
        (fps_n > 0 && fps_d > 0).then_some(ContentClock {
            num: SECOND * fps_d as u64,
            den: fps_n as u64,
        })
    }

    pub fn duration(&self, units: u64) -> u64 {
        (units as u128 * self.num as u128 / self.den as u128) as u64
    }

    /// Units in `ns`, rounded to the nearest.
    pub fn units(&self, ns: u64) -> u64 {
        ((ns as u128 * self.den as u128 + self.num as u128 / 2) / self.num as u128) as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscontKind {
    Gap,
    Overlap,
    Backwards,
}

impl DiscontKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscontKind::Gap => "gap",
            DiscontKind::Overlap => "overlap",
            DiscontKind::Backwards => "backwards",
        }
    }
}

/// A confirmed timestamp discontinuity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Discont {
    pub media: Media,
    pub kind: DiscontKind,
    /// Running time of the buffer minus where it was expected (ns, signed).
    pub delta: i64,
    /// Frames or samples missing (gaps), or repeated (overlaps and backwards jumps).
    pub units: u64,
    /// The buffer carried the DISCONT flag.
    pub flagged: bool,
    /// Running time where the buffer was expected.
    pub expected: u64,
    /// Running time of the first buffer after the discontinuity.
    pub rt: u64,
    /// Times of that buffer.
    pub stamp: Stamp,
}

/// An open or closing drift defect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    pub id: u64,
    pub media: Media,
    pub start: Stamp,
    pub start_rt: u64,
    /// Drift over the window, parts per million (positive: timestamps run fast).
    pub ppm: f64,
    /// Running time minus content clock since the stream started (ns, signed).
    pub divergence: i64,
    pub max_divergence: i64,
    /// Running time the fit spans.
    pub window: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimelineEvent {
    Discont(Discont),
    DriftStart(Drift),
    DriftEnd {
        drift: Drift,
        end: Stamp,
        end_rt: u64,
        recovered: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Prev {
    rt: u64,
    end: u64,
    dur: u64,
    /// `dur` is known (a content clock or a buffer duration), so `end` is where the next
    /// buffer is due.
    known: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    discont: Discont,
    /// Where the next buffer would start on the old timeline.
    old_end: u64,
    /// Jumps taken out of the divergence before this one.
    shift_before: i64,
}

/// Counters of one stream, for the `stats` property.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimelineStats {
    pub buffers: u64,
    pub units: u64,
    pub gaps: u64,
    pub overlaps: u64,
    pub backwards: u64,
    pub jitter: u64,
    pub ppm: Option<f64>,
    pub divergence: i64,
}

/// Tier 1 state of one stream.
#[derive(Debug)]
pub struct Timeline {
    media: Media,
    clock: Option<ContentClock>,
    prev: Option<Prev>,
    pending: Option<Pending>,
    /// Running time and content units at the drift baseline.
    base_rt: Option<u64>,
    units: u64,
    /// Sum of confirmed jumps since the baseline, taken out of the divergence.
    shift: i64,
    /// Running time covered by GAP events since the baseline (ns), taken out of the divergence
    /// as it is: a gap need not last whole frames.
    covered: u64,
    points: [(u64, i64); DRIFT_POINTS],
    n_points: usize,
    head: usize,
    drift: Option<Drift>,
    pub stats: TimelineStats,
}

impl Timeline {
    pub fn new(media: Media) -> Self {
        Timeline {
            media,
            clock: None,
            prev: None,
            pending: None,
            base_rt: None,
            units: 0,
            shift: 0,
            covered: 0,
            points: [(0, 0); DRIFT_POINTS],
            n_points: 0,
            head: 0,
            drift: None,
            stats: TimelineStats::default(),
        }
    }

    /// Sets the content clock (new caps). A changed clock restarts the timeline.
    pub fn set_clock(&mut self, clock: Option<ContentClock>) -> bool {
        if self.clock == clock {
            return false;
        }
        self.clock = clock;
        true
    }

    pub fn clock(&self) -> Option<ContentClock> {
        self.clock
    }

    /// Forgets the timeline (flush, new segment, stream start, caps). A pending jump is dropped;
    /// an open drift defect ends and is returned with `end` as its end.
    pub fn reset(&mut self, end: Stamp, end_rt: u64, out: &mut Vec<TimelineEvent>) {
        self.pending = None;
        self.prev = None;
        self.rebaseline(end, end_rt, out);
    }

    /// Confirms a pending jump (EOS: it lasted until the end) and ends an open drift defect.
    pub fn finish(&mut self, end: Stamp, end_rt: u64, out: &mut Vec<TimelineEvent>) {
        self.confirm_pending(out);
        self.prev = None;
        self.rebaseline(end, end_rt, out);
    }

    /// Forgets the content clock baseline; an open drift defect ends unrecovered.
    fn rebaseline(&mut self, end: Stamp, end_rt: u64, out: &mut Vec<TimelineEvent>) {
        if let Some(drift) = self.drift.take() {
            out.push(TimelineEvent::DriftEnd {
                drift,
                end,
                end_rt,
                recovered: false,
            });
        }
        self.base_rt = None;
        self.units = 0;
        self.shift = 0;
        self.covered = 0;
        self.n_points = 0;
        self.head = 0;
        self.stats.ppm = None;
        self.stats.divergence = 0;
    }

    /// A signalled absence of data (a GAP event) until running time `end`: the stream goes on
    /// from there, as if content had covered the gap. It is not a loss.
    pub fn gap(&mut self, end: u64) {
        let Some(prev) = self.prev.as_mut() else {
            return;
        };
        if end <= prev.end {
            return;
        }
        let covered = end - prev.end;
        prev.end = end;
        if let Some(p) = self.pending.as_mut() {
            p.old_end += covered;
        }
        if self.base_rt.is_some() {
            self.covered += covered;
        }
    }

    fn confirm_pending(&mut self, out: &mut Vec<TimelineEvent>) {
        if let Some(p) = self.pending.take() {
            self.confirm(p.discont, out);
        }
    }

    fn confirm(&mut self, d: Discont, out: &mut Vec<TimelineEvent>) {
        match d.kind {
            DiscontKind::Gap => self.stats.gaps += 1,
            DiscontKind::Overlap => self.stats.overlaps += 1,
            DiscontKind::Backwards => self.stats.backwards += 1,
        }
        out.push(TimelineEvent::Discont(d));
    }

    /// Checks one buffer starting at running time `rt`, holding `units` samples (audio) or one
    /// frame (video). `duration` is the buffer duration for streams without a content clock.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        p: &TimelineParams,
        rt: u64,
        units: u64,
        duration: Option<u64>,
        flagged: bool,
        stamp: Stamp,
        ids: &mut dyn FnMut() -> u64,
        out: &mut Vec<TimelineEvent>,
    ) {
        self.stats.buffers += 1;
        self.stats.units += units;
        // Without a content clock or a buffer duration (variable-rate video without durations)
        // the buffer's end is unknown: its successor may come at any later time.
        let dur = match (self.clock, duration) {
            (Some(c), _) => Some(c.duration(units)),
            (None, Some(d)) => Some(d),
            (None, None) => None,
        };
        let known = dur.is_some();
        let dur = dur.unwrap_or(0);
        let mut moved_timeline = false;
        if let Some(prev) = self.prev.filter(|p| p.known || rt < p.rt) {
            let thr = match self.media {
                Media::Audio => p.alignment_threshold,
                Media::Video => (prev.dur / 2).max(1),
            };
            let delta = rt as i64 - prev.end as i64;
            let mut jitter = false;
            if let Some(pending) = self.pending.as_mut() {
                if (rt as i64 - pending.old_end as i64).unsigned_abs() <= thr && !flagged {
                    // Back on the old timeline: the jump was timestamp jitter.
                    self.shift = pending.shift_before;
                    self.pending = None;
                    self.stats.jitter += 1;
                    jitter = true;
                } else {
                    pending.old_end += dur;
                }
            }
            if !jitter {
                let kind = if rt < prev.rt {
                    Some(DiscontKind::Backwards)
                } else if delta.unsigned_abs() > thr {
                    Some(if delta > 0 {
                        DiscontKind::Gap
                    } else {
                        DiscontKind::Overlap
                    })
                } else {
                    None
                };
                if let Some(kind) = kind {
                    // Units of unknown duration cannot be counted: 0.
                    let n = match self.clock {
                        Some(c) => c.units(delta.unsigned_abs()),
                        None if prev.dur > 0 => (delta.unsigned_abs() + prev.dur / 2) / prev.dur,
                        None => 0,
                    };
                    let d = Discont {
                        media: self.media,
                        kind,
                        delta,
                        units: n,
                        flagged,
                        expected: prev.end,
                        rt,
                        stamp,
                    };
                    self.confirm_pending(out);
                    let shift_before = self.shift;
                    self.shift += delta;
                    moved_timeline = true;
                    if flagged || kind == DiscontKind::Backwards {
                        self.confirm(d, out);
                    } else {
                        self.pending = Some(Pending {
                            discont: d,
                            old_end: prev.end + dur,
                            shift_before,
                        });
                    }
                }
            }
            if let Some(pending) = self.pending
                && !moved_timeline
                && rt >= pending.discont.rt + p.discont_wait
            {
                self.pending = None;
                self.confirm(pending.discont, out);
            }
        }
        self.prev = Some(Prev {
            rt,
            end: rt + dur,
            dur,
            known,
        });
        self.track_drift(p, rt, units, stamp, ids, out);
    }

    fn track_drift(
        &mut self,
        p: &TimelineParams,
        rt: u64,
        units: u64,
        stamp: Stamp,
        ids: &mut dyn FnMut() -> u64,
        out: &mut Vec<TimelineEvent>,
    ) {
        let Some(clock) = self.clock else {
            return;
        };
        let Some(base) = self.base_rt else {
            self.base_rt = Some(rt);
            self.units = units;
            self.shift = 0;
            self.covered = 0;
            return;
        };
        // Divergence of this buffer's start from the content clock.
        let d = rt as i64
            - base as i64
            - clock.duration(self.units) as i64
            - self.covered as i64
            - self.shift;
        self.units += units;
        self.stats.divergence = d;
        if self.pending.is_some() {
            // An unconfirmed jump would read as drift.
            return;
        }
        let last = if self.n_points == 0 {
            None
        } else {
            Some(self.points[(self.head + DRIFT_POINTS - 1) % DRIFT_POINTS].0)
        };
        if last.is_none_or(|l| rt >= l + SECOND) {
            self.points[self.head] = (rt, d);
            self.head = (self.head + 1) % DRIFT_POINTS;
            self.n_points = (self.n_points + 1).min(DRIFT_POINTS);
        }
        let (ppm, span) = self.fit(rt, p.drift_window);
        self.stats.ppm = ppm;
        let ppm_v = ppm.unwrap_or(0.0);
        let over = d.unsigned_abs() > p.drift_tolerance
            || (ppm_v.abs() > p.drift_max_ppm && span + 2 * SECOND >= p.drift_window);
        match self.drift.as_mut() {
            None if over => {
                let drift = Drift {
                    id: ids(),
                    media: self.media,
                    start: stamp,
                    start_rt: rt,
                    ppm: ppm_v,
                    divergence: d,
                    max_divergence: d,
                    window: span,
                };
                self.drift = Some(drift);
                out.push(TimelineEvent::DriftStart(drift));
            }
            Some(drift) => {
                drift.ppm = ppm_v;
                drift.divergence = d;
                drift.window = span;
                if d.unsigned_abs() > drift.max_divergence.unsigned_abs() {
                    drift.max_divergence = d;
                }
                let calm = d.unsigned_abs() <= p.drift_tolerance / 2
                    && ppm_v.abs() <= p.drift_max_ppm / 2.0;
                if calm {
                    let drift = *drift;
                    self.drift = None;
                    out.push(TimelineEvent::DriftEnd {
                        drift,
                        end: stamp,
                        end_rt: rt,
                        recovered: true,
                    });
                }
            }
            None => (),
        }
    }

    /// Least-squares slope of the divergence over the points within `window` of `now`: (ppm,
    /// running time spanned). No estimate from fewer than 5 points.
    fn fit(&self, now: u64, window: u64) -> (Option<f64>, u64) {
        let mut n = 0f64;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0f64, 0f64, 0f64, 0f64);
        let mut first = u64::MAX;
        for k in 0..self.n_points {
            let (t, d) = self.points[(self.head + DRIFT_POINTS - 1 - k) % DRIFT_POINTS];
            if t + window < now {
                break;
            }
            first = first.min(t);
            // Seconds relative to now keep the sums well conditioned.
            let x = (t as f64 - now as f64) / 1e9;
            let y = d as f64 / 1e9;
            n += 1.0;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        if n < 5.0 {
            return (None, 0);
        }
        let den = n * sxx - sx * sx;
        if den <= 0.0 {
            return (None, 0);
        }
        let slope = (n * sxy - sx * sy) / den;
        (Some(slope * 1e6), now.saturating_sub(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn stamp(rt: u64) -> Stamp {
        Stamp {
            pts: Some(gst::ClockTime::from_nseconds(rt)),
            running_time: Some(gst::ClockTime::from_nseconds(rt)),
            stream_time: Some(gst::ClockTime::from_nseconds(rt)),
        }
    }

    struct Run {
        tl: Timeline,
        p: TimelineParams,
        next_id: u64,
        out: Vec<TimelineEvent>,
    }

    impl Run {
        fn new(media: Media, clock: Option<ContentClock>) -> Self {
            let mut tl = Timeline::new(media);
            tl.set_clock(clock);
            Run {
                tl,
                p: TimelineParams::default(),
                next_id: 0,
                out: Vec::new(),
            }
        }

        fn push(&mut self, rt: u64, units: u64, flagged: bool) {
            let mut ids = || {
                self.next_id += 1;
                self.next_id
            };
            self.tl.push(
                &self.p,
                rt,
                units,
                None,
                flagged,
                stamp(rt),
                &mut ids,
                &mut self.out,
            );
        }

        fn disconts(&self) -> Vec<Discont> {
            self.out
                .iter()
                .filter_map(|e| match e {
                    TimelineEvent::Discont(d) => Some(*d),
                    _ => None,
                })
                .collect()
        }
    }

    /// 48 kHz audio in 10 ms buffers for 1 s, then 100 ms (4800 samples) missing: returns the
    /// running time where the stream resumes.
    fn a_second_then_a_hole(r: &mut Run) -> u64 {
        let mut rt = 0;
        for _ in 0..100 {
            r.push(rt, 480, false);
            rt += 10 * MS;
        }
        rt + 100 * MS
    }

    #[test]
    fn audio_gap_confirmed_after_discont_wait() {
        let mut r = Run::new(Media::Audio, ContentClock::audio(48_000));
        let mut rt = a_second_then_a_hole(&mut r);
        for _ in 0..100 {
            r.push(rt, 480, false);
            rt += 10 * MS;
            assert!(r.disconts().is_empty(), "confirmed before discont-wait");
        }
        r.push(rt, 480, false);
        let d = r.disconts();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, DiscontKind::Gap);
        assert_eq!(d[0].delta, 100 * MS as i64);
        assert_eq!(d[0].units, 4800);
        assert_eq!(d[0].rt, 1100 * MS);
        assert_eq!(d[0].expected, 1000 * MS);
        assert_eq!(rt, 2100 * MS);
        assert!(!d[0].flagged);
        // The jump is not drift.
        assert_eq!(r.tl.stats.divergence, 0);
    }

    #[test]
    fn a_signalled_gap_is_no_discontinuity_and_no_drift() {
        // The same 100 ms missing after 1 s, announced by a GAP event.
        let mut r = Run::new(Media::Audio, ContentClock::audio(48_000));
        let mut rt = a_second_then_a_hole(&mut r);
        r.tl.gap(rt);
        // A GAP event ending before the stream's position changes nothing.
        r.tl.gap(rt - 50 * MS);
        for _ in 0..300 {
            r.push(rt, 480, false);
            rt += 10 * MS;
        }
        assert!(r.disconts().is_empty(), "{:?}", r.disconts());
        assert_eq!(r.tl.stats.divergence, 0);
        assert_eq!(r.tl.stats.gaps, 0);
    }

    #[test]
    fn signalled_gaps_of_part_frames_add_no_drift() {
        // 25 fps video; GAP events of 7.5 and 3.9 frames. Counted as 8 and 4 whole frames they
        // put the divergence 24 ms off per pair, 48 ms (over the 40 ms tolerance) after two.
        let mut r = Run::new(Media::Video, ContentClock::video(25, 1));
        let mut rt = 0;
        for gap in [300 * MS, 156 * MS, 300 * MS, 156 * MS] {
            for _ in 0..25 {
                r.push(rt, 1, false);
                rt += 40 * MS;
            }
            rt += gap;
            r.tl.gap(rt);
        }
        for _ in 0..25 {
            r.push(rt, 1, false);
            rt += 40 * MS;
        }
        assert_eq!(r.tl.stats.divergence, 0);
        assert!(r.out.is_empty(), "{:?}", r.out);
    }

    #[test]
    fn audio_jitter_and_small_offsets_are_absorbed() {
        // 100 ms buffers: jitter smaller than a buffer keeps timestamps monotonic.
        let mut r = Run::new(Media::Audio, ContentClock::audio(48_000));
        for i in 0..300u64 {
            // 30 ms of jitter is below the threshold; one buffer 60 ms late is jitter.
            let jitter = if i % 7 == 0 { 30 * MS } else { 0 };
            let late = if i == 150 { 60 * MS } else { 0 };
            r.push(i * 100 * MS + jitter + late, 4800, false);
        }
        assert!(r.disconts().is_empty(), "{:?}", r.disconts());
        assert_eq!(r.tl.stats.jitter, 1);
    }

    #[test]
    fn flagged_discont_and_backwards_are_immediate() {
        let mut r = Run::new(Media::Audio, ContentClock::audio(48_000));
        r.push(0, 480, false);
        r.push(10 * MS, 480, false);
        r.push(520 * MS, 480, true);
        assert_eq!(r.disconts().len(), 1);
        assert!(r.disconts()[0].flagged);
        assert_eq!(r.disconts()[0].delta, 500 * MS as i64);
        r.push(100 * MS, 480, false);
        let d = r.disconts();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].kind, DiscontKind::Backwards);
        assert_eq!(d[1].delta, -(430 * MS as i64));
    }

    #[test]
    fn video_missing_frames() {
        let mut r = Run::new(Media::Video, ContentClock::video(25, 1));
        for i in 0..10 {
            r.push(i * 40 * MS, 1, false);
        }
        // Frames 10, 11 and 12 lost.
        for i in 13..60 {
            r.push(i * 40 * MS, 1, false);
        }
        let d = r.disconts();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, DiscontKind::Gap);
        assert_eq!(d[0].units, 3);
        assert_eq!(d[0].delta, 120 * MS as i64);
        assert_eq!(d[0].rt, 520 * MS);
        // A duplicated timestamp is an overlap of one frame.
        let mut r = Run::new(Media::Video, ContentClock::video(25, 1));
        for i in 0..10 {
            r.push(i * 40 * MS, 1, false);
        }
        for i in 9..50 {
            r.push(i * 40 * MS, 1, false);
        }
        let d = r.disconts();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, DiscontKind::Overlap);
        assert_eq!(d[0].units, 1);
    }

    #[test]
    fn drift_in_ppm() {
        // Timestamps run 500 ppm fast: each 10 ms buffer is stamped 10.005 ms after the previous.
        // With the slope alarm off, the divergence alarm decides.
        let mut r = Run::new(Media::Audio, ContentClock::audio(48_000));
        r.p.drift_max_ppm = 1e6;
        for i in 0..12_000u64 {
            r.push(i * 10_005_000, 480, false);
        }
        let ppm = r.tl.stats.ppm.unwrap();
        assert!((ppm - 500.0).abs() < 1.0, "{ppm}");
        // 40 ms of divergence is reached after 80 s.
        let starts: Vec<_> = r
            .out
            .iter()
            .filter_map(|e| match e {
                TimelineEvent::DriftStart(d) => Some(*d),
                _ => None,
            })
            .collect();
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].start_rt, 8001 * 10_005_000);
        assert!(r.disconts().is_empty());
    }

    #[test]
    fn drift_slope_alarm_needs_full_window() {
        // 300 ppm: the slope alarm fires once 60 s are covered, before 40 ms diverge (133 s).
        let mut r = Run::new(Media::Video, ContentClock::video(25, 1));
        for i in 0..2000u64 {
            r.push(i * 40_012_000, 1, false);
        }
        let start = r
            .out
            .iter()
            .find_map(|e| match e {
                TimelineEvent::DriftStart(d) => Some(*d),
                _ => None,
            })
            .unwrap();
        let t = start.start_rt as f64 / 1e9;
        assert!((57.0..=60.5).contains(&t), "{t}");
        assert!((start.ppm - 300.0).abs() < 1.0);
    }
}
