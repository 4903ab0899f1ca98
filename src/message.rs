// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The one message model shared by every vqmon element.
//!
//! Every defect is posted as an element message whose structure is named [`DEFECT_STRUCTURE`]
//! (`vqmon-defect`). An interval defect is a `start` message when it is confirmed, optional `update`
//! heartbeats while it lasts and an `end` message; a point defect is a single `point` message. All
//! messages of one defect share its `id`. `docs/messages.md` documents every field.
//!
//! Producers build a [`DefectMessage`] and convert it into a [`gst::Structure`]; consumers (tests, the
//! report aggregator, applications) parse it back with `DefectMessage::try_from(&structure)`.

use gst::glib;

/// Name of the structure of every vqmon defect message.
pub const DEFECT_STRUCTURE: &str = "vqmon-defect";

/// Where a message stands in the life of a defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The defect is confirmed. Its timestamps are those of its first frame.
    Start,
    /// Heartbeat of a defect that is still open; `duration` is the duration so far.
    Update,
    /// The defect is over; `end-*` fields and `end-reason` say when and why.
    End,
    /// A defect without duration, reported once.
    Point,
}

/// How grave a defect is, in the `severity` evidence field of the detectors that grade their
/// defects (vqfreeze's freeze and black: `major` once it has lasted `alarm-duration`), and in
/// what applications judge by. Ordered: `Minor < Major`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Minor,
    Major,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::Major => "major",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minor" => Ok(Severity::Minor),
            "major" => Ok(Severity::Major),
            other => Err(format!("a severity is minor or major, not '{other}'")),
        }
    }
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Update => "update",
            Phase::End => "end",
            Phase::Point => "point",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "start" => Phase::Start,
            "update" => Phase::Update,
            "end" => Phase::End,
            "point" => Phase::Point,
            _ => return None,
        })
    }
}

/// Why an interval defect ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The content recovered (the picture moved again, a frame arrived, ...).
    Recovered,
    /// End of stream.
    Eos,
    /// A flush (seek) reset the analysis.
    Flush,
    /// A new segment started.
    Segment,
    /// The stream changed format.
    Caps,
    /// A timestamp discontinuity made the interval meaningless past this point.
    Discont,
    /// The element was stopped (state change to READY or NULL) before the defect ended.
    Stopped,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Recovered => "recovered",
            EndReason::Eos => "eos",
            EndReason::Flush => "flush",
            EndReason::Segment => "segment",
            EndReason::Caps => "caps",
            EndReason::Discont => "discont",
            EndReason::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "recovered" => EndReason::Recovered,
            "eos" => EndReason::Eos,
            "flush" => EndReason::Flush,
            "segment" => EndReason::Segment,
            "caps" => EndReason::Caps,
            "discont" => EndReason::Discont,
            "stopped" => EndReason::Stopped,
            _ => return None,
        })
    }
}

/// The three times GStreamer gives a frame, all in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub pts: Option<gst::ClockTime>,
    pub running_time: Option<gst::ClockTime>,
    pub stream_time: Option<gst::ClockTime>,
}

/// One vqmon defect message, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct DefectMessage {
    /// Defect type: `freeze`, `black`, `stall`, `stutter`, ...
    pub defect: String,
    pub phase: Phase,
    /// Shared by the start, update and end messages of one defect; unique per element and run.
    pub id: u64,
    /// Name of the element that detected it.
    pub element: String,
    /// Times of the defect's first frame (not of the frame where it was confirmed).
    pub start: Stamp,
    /// Running time at which the element detected or posted this phase.
    pub detected_running_time: Option<gst::ClockTime>,
    /// Wall-clock (UTC, ISO 8601) time of the defect's first frame; live pipelines only.
    pub utc: Option<String>,
    /// Duration so far (update) or in total (end).
    pub duration: Option<gst::ClockTime>,
    /// Exclusive end: times of the first frame after the defect (end messages only).
    pub end: Option<Stamp>,
    /// Wall-clock (UTC, ISO 8601) time of the end; live pipelines only.
    pub end_utc: Option<String>,
    pub end_reason: Option<EndReason>,
    /// Detector-specific evidence; its structure name is the defect type.
    pub evidence: Option<gst::Structure>,
}

/// Error from parsing a structure that is not a valid vqmon defect message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a vqmon defect message: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

fn clock_time_field(
    s: &gst::StructureRef,
    name: &str,
) -> Result<Option<gst::ClockTime>, ParseError> {
    match s.get_optional::<u64>(name) {
        Ok(None) => Ok(None),
        Ok(Some(v)) if v == u64::MAX => Ok(None),
        Ok(Some(v)) => Ok(Some(gst::ClockTime::from_nseconds(v))),
        Err(e) => Err(ParseError(format!("field {name}: {e}"))),
    }
}

fn set_clock_time(s: &mut gst::StructureRef, name: &str, t: Option<gst::ClockTime>) {
    // GstClockTime is a guint64 in messages; NONE is u64::MAX (GST_CLOCK_TIME_NONE).
    s.set(name, t.map_or(u64::MAX, gst::ClockTime::nseconds));
}

impl From<&DefectMessage> for gst::Structure {
    fn from(m: &DefectMessage) -> gst::Structure {
        let mut s = gst::Structure::builder(DEFECT_STRUCTURE)
            .field("defect", m.defect.as_str())
            .field("phase", m.phase.as_str())
            .field("id", m.id)
            .field("element", m.element.as_str())
            .build();
        set_clock_time(&mut s, "pts", m.start.pts);
        set_clock_time(&mut s, "running-time", m.start.running_time);
        set_clock_time(&mut s, "stream-time", m.start.stream_time);
        set_clock_time(&mut s, "detected-running-time", m.detected_running_time);
        if let Some(utc) = &m.utc {
            s.set("utc", utc.as_str());
        }
        if let Some(d) = m.duration {
            s.set("duration", d.nseconds());
        }
        if let Some(end) = &m.end {
            set_clock_time(&mut s, "end-pts", end.pts);
            set_clock_time(&mut s, "end-running-time", end.running_time);
            set_clock_time(&mut s, "end-stream-time", end.stream_time);
        }
        if let Some(utc) = &m.end_utc {
            s.set("end-utc", utc.as_str());
        }
        if let Some(r) = m.end_reason {
            s.set("end-reason", r.as_str());
        }
        if let Some(ev) = &m.evidence {
            s.set("evidence", ev.clone());
        }
        s
    }
}

impl From<DefectMessage> for gst::Structure {
    fn from(m: DefectMessage) -> gst::Structure {
        (&m).into()
    }
}

impl TryFrom<&gst::StructureRef> for DefectMessage {
    type Error = ParseError;

    fn try_from(s: &gst::StructureRef) -> Result<Self, ParseError> {
        if s.name() != DEFECT_STRUCTURE {
            return Err(ParseError(format!("structure is named {}", s.name())));
        }
        let string = |name: &str| -> Result<String, ParseError> {
            s.get::<String>(name)
                .map_err(|e| ParseError(format!("field {name}: {e}")))
        };
        let opt_string = |name: &str| -> Result<Option<String>, ParseError> {
            s.get_optional::<String>(name)
                .map_err(|e| ParseError(format!("field {name}: {e}")))
        };
        let phase_str = string("phase")?;
        let phase = Phase::parse(&phase_str)
            .ok_or_else(|| ParseError(format!("unknown phase {phase_str}")))?;
        let end_reason = match opt_string("end-reason")? {
            None => None,
            Some(r) => Some(
                EndReason::parse(&r)
                    .ok_or_else(|| ParseError(format!("unknown end-reason {r}")))?,
            ),
        };
        let end = if s.has_field("end-pts") || s.has_field("end-running-time") {
            Some(Stamp {
                pts: clock_time_field(s, "end-pts")?,
                running_time: clock_time_field(s, "end-running-time")?,
                stream_time: clock_time_field(s, "end-stream-time")?,
            })
        } else {
            None
        };
        if phase == Phase::End && (end.is_none() || end_reason.is_none()) {
            return Err(ParseError(
                "end message without end times or end-reason".into(),
            ));
        }
        Ok(DefectMessage {
            defect: string("defect")?,
            phase,
            id: s
                .get::<u64>("id")
                .map_err(|e| ParseError(format!("field id: {e}")))?,
            element: string("element")?,
            start: Stamp {
                pts: clock_time_field(s, "pts")?,
                running_time: clock_time_field(s, "running-time")?,
                stream_time: clock_time_field(s, "stream-time")?,
            },
            detected_running_time: clock_time_field(s, "detected-running-time")?,
            utc: opt_string("utc")?,
            duration: clock_time_field(s, "duration")?,
            end,
            end_utc: opt_string("end-utc")?,
            end_reason,
            evidence: s
                .get_optional::<gst::Structure>("evidence")
                .map_err(|e| ParseError(format!("field evidence: {e}")))?,
        })
    }
}

impl TryFrom<&gst::Structure> for DefectMessage {
    type Error = ParseError;

    fn try_from(s: &gst::Structure) -> Result<Self, ParseError> {
        DefectMessage::try_from(s.as_ref())
    }
}

impl DefectMessage {
    /// Parses a bus message if it is a vqmon defect message.
    pub fn from_message(msg: &gst::Message) -> Option<Result<Self, ParseError>> {
        element_structure(msg, DEFECT_STRUCTURE).map(DefectMessage::try_from)
    }

    /// Builds the element message, with `src` as its source.
    pub fn to_message(&self, src: &impl glib::prelude::IsA<gst::Object>) -> gst::Message {
        gst::message::Element::builder(gst::Structure::from(self))
            .src(src)
            .build()
    }
}

/// The end and duration of a defect that started at `start` (running time `start_rt`) and ends
/// at `end` (`end_rt`). Timestamps that went back while it was open can place the end before the
/// start: it then ends where it began, lasting 0.
pub fn end_not_before_start(
    start: Stamp,
    start_rt: u64,
    end: Stamp,
    end_rt: u64,
) -> (Stamp, gst::ClockTime) {
    if end_rt < start_rt {
        (start, gst::ClockTime::ZERO)
    } else {
        (end, gst::ClockTime::from_nseconds(end_rt - start_rt))
    }
}

/// Name of the structure of the ground-truth messages of vqinject: the same fields as a
/// [`DEFECT_STRUCTURE`] message, describing a defect that was injected rather than detected.
pub const INJECTION_STRUCTURE: &str = "vqmon-injection";

impl DefectMessage {
    /// Builds the ground-truth element message of an injected defect.
    pub fn to_injection_message(&self, src: &impl glib::prelude::IsA<gst::Object>) -> gst::Message {
        let mut s = gst::Structure::from(self);
        s.set_name(INJECTION_STRUCTURE);
        gst::message::Element::builder(s).src(src).build()
    }

    /// Parses a bus message if it is a vqinject ground-truth message.
    pub fn from_injection_message(msg: &gst::Message) -> Option<Result<Self, ParseError>> {
        let mut s = element_structure(msg, INJECTION_STRUCTURE)?.to_owned();
        s.set_name(DEFECT_STRUCTURE);
        Some(DefectMessage::try_from(&s))
    }
}

/// Name of the structure of every vqmon measurement message.
pub const MEASUREMENT_STRUCTURE: &str = "vqmon-measurement";

/// A measurement for time series (not a defect): one value set at one instant, for example the A/V
/// offset measured each time a flash/beep pair completes. Posted as an element message whose
/// structure is named [`MEASUREMENT_STRUCTURE`].
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// What was measured: `av-offset`, ...
    pub measurement: String,
    /// Name of the element that measured it.
    pub element: String,
    /// Times of the frame or sample the measurement refers to.
    pub at: Stamp,
    /// Running time at which the element posted it.
    pub detected_running_time: Option<gst::ClockTime>,
    /// Wall-clock (UTC, ISO 8601) time of `at`; live pipelines only.
    pub utc: Option<String>,
    /// The measured values; its structure name is the measurement name.
    pub values: gst::Structure,
}

impl From<&Measurement> for gst::Structure {
    fn from(m: &Measurement) -> gst::Structure {
        let mut s = gst::Structure::builder(MEASUREMENT_STRUCTURE)
            .field("measurement", m.measurement.as_str())
            .field("element", m.element.as_str())
            .build();
        set_clock_time(&mut s, "pts", m.at.pts);
        set_clock_time(&mut s, "running-time", m.at.running_time);
        set_clock_time(&mut s, "stream-time", m.at.stream_time);
        set_clock_time(&mut s, "detected-running-time", m.detected_running_time);
        if let Some(utc) = &m.utc {
            s.set("utc", utc.as_str());
        }
        s.set("values", m.values.clone());
        s
    }
}

impl TryFrom<&gst::StructureRef> for Measurement {
    type Error = ParseError;

    fn try_from(s: &gst::StructureRef) -> Result<Self, ParseError> {
        if s.name() != MEASUREMENT_STRUCTURE {
            return Err(ParseError(format!("structure is named {}", s.name())));
        }
        let string = |name: &str| -> Result<String, ParseError> {
            s.get::<String>(name)
                .map_err(|e| ParseError(format!("field {name}: {e}")))
        };
        Ok(Measurement {
            measurement: string("measurement")?,
            element: string("element")?,
            at: Stamp {
                pts: clock_time_field(s, "pts")?,
                running_time: clock_time_field(s, "running-time")?,
                stream_time: clock_time_field(s, "stream-time")?,
            },
            detected_running_time: clock_time_field(s, "detected-running-time")?,
            utc: s
                .get_optional::<String>("utc")
                .map_err(|e| ParseError(format!("field utc: {e}")))?,
            values: s
                .get::<gst::Structure>("values")
                .map_err(|e| ParseError(format!("field values: {e}")))?,
        })
    }
}

impl Measurement {
    /// Parses a bus message if it is a vqmon measurement message.
    pub fn from_message(msg: &gst::Message) -> Option<Result<Self, ParseError>> {
        element_structure(msg, MEASUREMENT_STRUCTURE).map(Measurement::try_from)
    }

    /// Builds the element message, with `src` as its source.
    pub fn to_message(&self, src: &impl glib::prelude::IsA<gst::Object>) -> gst::Message {
        gst::message::Element::builder(gst::Structure::from(self))
            .src(src)
            .build()
    }
}

/// The structure of an element message, if it is named `name`.
fn element_structure<'a>(msg: &'a gst::Message, name: &str) -> Option<&'a gst::StructureRef> {
    match msg.view() {
        gst::MessageView::Element(e) => e.structure().filter(|s| s.name() == name),
        _ => None,
    }
}

impl Stamp {
    /// The times of running time `rt` in `segment` (PTS and stream time when `rt` lies in it).
    pub fn at_running_time(segment: &gst::FormattedSegment<gst::ClockTime>, rt: u64) -> Stamp {
        let rt = gst::ClockTime::from_nseconds(rt);
        let pts = segment.position_from_running_time(rt);
        Stamp {
            pts,
            running_time: Some(rt),
            stream_time: pts.and_then(|p| segment.to_stream_time(p)),
        }
    }
}

/// Formats a wall-clock time (microseconds since the Unix epoch) as ISO 8601 UTC with milliseconds.
pub fn utc_string(unix_usec: i64) -> Option<String> {
    let secs = unix_usec.div_euclid(1_000_000);
    let millis = unix_usec.rem_euclid(1_000_000) / 1000;
    let dt = glib::DateTime::from_unix_utc(secs).ok()?;
    let s = dt.format("%Y-%m-%dT%H:%M:%S").ok()?;
    Some(format!("{s}.{millis:03}Z"))
}

/// Current wall-clock time in microseconds since the Unix epoch.
pub fn now_unix_usec() -> i64 {
    glib::real_time()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_is_never_before_its_start() {
        let at = |ms: u64| Stamp {
            running_time: Some(gst::ClockTime::from_mseconds(ms)),
            ..Default::default()
        };
        let ms = |v: u64| v * 1_000_000;
        assert_eq!(
            end_not_before_start(at(100), ms(100), at(350), ms(350)),
            (at(350), gst::ClockTime::from_mseconds(250))
        );
        // Timestamps went back while it was open: it ends where it began.
        assert_eq!(
            end_not_before_start(at(100), ms(100), at(40), ms(40)),
            (at(100), gst::ClockTime::ZERO)
        );
    }

    fn sample() -> DefectMessage {
        DefectMessage {
            defect: "freeze".into(),
            phase: Phase::End,
            id: 7,
            element: "vqfreeze0".into(),
            start: Stamp {
                pts: Some(gst::ClockTime::from_mseconds(10_000)),
                running_time: Some(gst::ClockTime::from_mseconds(9_000)),
                stream_time: Some(gst::ClockTime::from_mseconds(10_000)),
            },
            detected_running_time: Some(gst::ClockTime::from_mseconds(11_000)),
            utc: Some("2026-11-22T10:00:00.000Z".into()),
            duration: Some(gst::ClockTime::from_mseconds(2_500)),
            end: Some(Stamp {
                pts: Some(gst::ClockTime::from_mseconds(12_500)),
                running_time: None,
                stream_time: Some(gst::ClockTime::from_mseconds(12_500)),
            }),
            end_utc: None,
            end_reason: Some(EndReason::Eos),
            evidence: Some(
                gst::Structure::builder("freeze")
                    .field("kind", "exact")
                    .field("frames", 62u64)
                    .build(),
            ),
        }
    }

    #[test]
    fn round_trip() {
        gst::init().unwrap();
        let m = sample();
        let s = gst::Structure::from(&m);
        assert_eq!(s.name(), DEFECT_STRUCTURE);
        assert_eq!(s.get::<u64>("running-time").unwrap(), 9_000_000_000);
        assert_eq!(s.get::<u64>("end-running-time").unwrap(), u64::MAX);
        assert_eq!(s.get::<&str>("end-reason").unwrap(), "eos");
        // Survives serialization to text and back, as gst-launch -m and Python see it.
        let text = s.to_string();
        let reparsed: gst::Structure = text.parse().unwrap();
        assert_eq!(DefectMessage::try_from(&reparsed).unwrap(), m);
        assert_eq!(DefectMessage::try_from(&s).unwrap(), m);
    }

    #[test]
    fn rejects_malformed() {
        gst::init().unwrap();
        let other = gst::Structure::builder("level").build();
        assert!(DefectMessage::try_from(&other).is_err());
        let mut s = gst::Structure::from(&sample());
        s.set("phase", "sideways");
        assert!(DefectMessage::try_from(&s).is_err());
        let mut s = gst::Structure::from(&sample());
        s.remove_field("end-reason");
        assert!(DefectMessage::try_from(&s).is_err());
        let mut s = gst::Structure::from(&sample());
        s.set("id", "seven");
        assert!(DefectMessage::try_from(&s).is_err());
    }

    #[test]
    fn measurement_round_trip() {
        gst::init().unwrap();
        let m = Measurement {
            measurement: "av-offset".into(),
            element: "avsyncmon0".into(),
            at: Stamp {
                pts: Some(gst::ClockTime::from_mseconds(3_000)),
                running_time: Some(gst::ClockTime::from_mseconds(3_000)),
                stream_time: None,
            },
            detected_running_time: Some(gst::ClockTime::from_mseconds(4_000)),
            utc: None,
            values: gst::Structure::builder("av-offset")
                .field("offset", -20_000_000i64)
                .build(),
        };
        let text = gst::Structure::from(&m).to_string();
        let reparsed: gst::Structure = text.parse().unwrap();
        assert_eq!(Measurement::try_from(reparsed.as_ref()).unwrap(), m);
        assert!(DefectMessage::try_from(&reparsed).is_err());
    }

    #[test]
    fn utc_format() {
        gst::init().unwrap();
        assert_eq!(
            utc_string(1_795_000_000_123_456).unwrap(),
            "2026-11-18T11:06:40.123Z"
        );
    }
}
