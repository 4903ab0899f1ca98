// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! What the frame-by-frame detectors (vqfreeze, vqartifact) share: placing frames on the analysis
//! timeline, the defect events their trackers emit, and the `vqmon-defect` message an event
//! becomes.
//!
//! Times are nanoseconds. `t` is a frame's position on the analysis timeline (its running time,
//! or a timeline synthesised from frame durations when timestamps are missing); durations and
//! thresholds are measured on it. `Times` carries the PTS, running time and stream time reported
//! to the user.

use gst::prelude::*;

use crate::message::{self, DefectMessage, EndReason, Phase, Stamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Times {
    pub pts: Option<u64>,
    pub running_time: Option<u64>,
    pub stream_time: Option<u64>,
}

/// Running time of a buffer pushed on `pad`, from the pad's TIME segment (for probes, which see
/// buffers outside any element's own segment bookkeeping).
pub fn pad_running_time(pad: &gst::Pad, buf: &gst::BufferRef) -> Option<gst::ClockTime> {
    let pts = buf.pts()?;
    let seg = pad.sticky_event::<gst::event::Segment>(0)?;
    seg.segment()
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(pts)
}

impl Times {
    /// The same times as clock times, for messages.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            pts: self.pts.map(gst::ClockTime::from_nseconds),
            running_time: self.running_time.map(gst::ClockTime::from_nseconds),
            stream_time: self.stream_time.map(gst::ClockTime::from_nseconds),
        }
    }

    /// These times moved forward by `d`.
    pub fn plus(&self, d: u64) -> Times {
        Times {
            pts: self.pts.map(|v| v + d),
            running_time: self.running_time.map(|v| v + d),
            stream_time: self.stream_time.map(|v| v + d),
        }
    }
}

/// Places video buffers on the analysis timeline. A buffer without PTS is placed where the
/// previous one ended; a frame lasts its buffer duration, else the caps frame rate (`nominal`),
/// else (variable rate) the step from the previous PTS.
#[derive(Debug, Default)]
pub struct FrameClock {
    /// Where the next buffer is expected (PTS), and where the last one ended on the timeline.
    pub last_pts_end: Option<gst::ClockTime>,
    pub last_t_end: Option<u64>,
    /// Times and timeline position of the end of the last frame.
    pub last_end: Option<(Times, u64)>,
    last_pts: Option<gst::ClockTime>,
    pub frames_without_pts: u64,
}

impl FrameClock {
    /// Times, timeline position and timeline duration of `buf` in `segment`.
    pub fn place(
        &mut self,
        buf: &gst::BufferRef,
        segment: Option<&gst::FormattedSegment<gst::ClockTime>>,
        nominal: u64,
    ) -> (Times, u64, u64) {
        let pts = match buf.pts() {
            Some(p) => Some(p),
            None => {
                self.frames_without_pts += 1;
                self.last_pts_end
            }
        };
        let last_step = match (pts, self.last_pts) {
            (Some(p), Some(l)) if p > l => (p - l).nseconds(),
            _ => 0,
        };
        let dur = buf
            .duration()
            .map(gst::ClockTime::nseconds)
            .filter(|d| *d > 0)
            .unwrap_or(if nominal > 0 { nominal } else { last_step });
        let (rt, st, rt_end) = match (segment, pts) {
            (Some(seg), Some(p)) => (
                seg.to_running_time(p),
                seg.to_stream_time(p),
                seg.to_running_time(p + gst::ClockTime::from_nseconds(dur)),
            ),
            _ => (None, None, None),
        };
        let t = rt
            .map(gst::ClockTime::nseconds)
            .unwrap_or_else(|| self.last_t_end.unwrap_or(0));
        let dur_t = match (rt, rt_end) {
            (Some(a), Some(b)) if b >= a => (b - a).nseconds(),
            _ => dur,
        };
        let times = Times {
            pts: pts.map(gst::ClockTime::nseconds),
            running_time: rt.map(gst::ClockTime::nseconds),
            stream_time: st.map(gst::ClockTime::nseconds),
        };
        self.last_pts_end = pts.map(|p| p + gst::ClockTime::from_nseconds(dur));
        self.last_t_end = Some(t + dur_t);
        self.last_end = Some((times.plus(dur_t), t + dur_t));
        self.last_pts = pts;
        (times, t, dur_t)
    }

    /// A GAP event: no frame was due before `end` (PTS), at timeline position `end_t`. The
    /// next frame is expected there; the absence was signalled, so it is not a loss.
    pub fn gap(&mut self, end: gst::ClockTime, end_t: Option<u64>) {
        if self.last_pts_end.is_some_and(|e| e < end) {
            self.last_pts_end = Some(end);
        }
        if let Some(t) = end_t {
            self.last_t_end = Some(t.max(self.last_t_end.unwrap_or(0)));
        }
    }

    /// Forgets where the stream was (flush, new segment, EOS); the count of untimed frames stays.
    pub fn reset(&mut self) {
        self.last_pts_end = None;
        self.last_t_end = None;
        self.last_end = None;
        self.last_pts = None;
    }
}

/// The frame duration the caps frame rate gives, 0 when variable or unknown.
pub fn nominal_duration(info: &gst_video::VideoInfo) -> u64 {
    let fps = info.fps();
    if fps.numer() > 0 && fps.denom() > 0 {
        gst::ClockTime::SECOND
            .mul_div_round(fps.denom() as u64, fps.numer() as u64)
            .map_or(0, gst::ClockTime::nseconds)
    } else {
        0
    }
}

/// A defect event a tracker decided: `D` names the defect, `E` carries its evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DefectEvent<D, E> {
    pub defect: D,
    pub phase: Phase,
    pub id: u64,
    pub start: Times,
    /// Analysis timeline position of the start.
    pub start_t: u64,
    /// Running time (or timeline position) at which this phase was decided.
    pub detected: Option<u64>,
    pub duration: Option<u64>,
    pub end: Option<Times>,
    pub reason: Option<EndReason>,
    pub evidence: E,
}

impl<D, E> DefectEvent<D, E> {
    /// The typed message, named `defect` with `evidence`. In live pipelines the UTC times of the
    /// start and end are derived from the wall clock now (`now_utc`, us) and the running-time
    /// distance to the detection.
    pub fn message(
        &self,
        defect: &str,
        evidence: gst::Structure,
        element: &str,
        live: bool,
        now_utc: i64,
    ) -> DefectMessage {
        let detected = self.detected;
        let utc_of = |rt: Option<u64>| -> Option<String> {
            if !live {
                return None;
            }
            let back = match (detected, rt) {
                (Some(d), Some(r)) => (d as i64 - r as i64) / 1000,
                _ => 0,
            };
            message::utc_string(now_utc - back)
        };
        DefectMessage {
            defect: defect.to_string(),
            phase: self.phase,
            id: self.id,
            element: element.to_string(),
            start: self.start.stamp(),
            detected_running_time: detected.map(gst::ClockTime::from_nseconds),
            utc: utc_of(self.start.running_time),
            duration: self.duration.map(gst::ClockTime::from_nseconds),
            end: self.end.map(|t| t.stamp()),
            end_utc: self.end.and_then(|t| utc_of(t.running_time)),
            end_reason: self.reason,
            evidence: Some(evidence),
        }
    }
}

/// The events of one step, on the stack: a tracker never decides more than `N` at once.
#[derive(Debug)]
pub struct EventBuf<T, const N: usize> {
    items: [Option<T>; N],
    len: usize,
}

impl<T, const N: usize> Default for EventBuf<T, N> {
    fn default() -> Self {
        EventBuf {
            items: std::array::from_fn(|_| None),
            len: 0,
        }
    }
}

impl<T, const N: usize> EventBuf<T, N> {
    pub fn push(&mut self, e: T) {
        debug_assert!(self.len < N, "more than {N} events in one step");
        if self.len < N {
            self.items[self.len] = Some(e);
            self.len += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items[..self.len].iter().flatten()
    }
}
