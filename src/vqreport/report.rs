// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The JSON report: what vqreport collected, as serde types (schema: docs/vqreport.schema.json).

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::message::{DefectMessage, Phase, Stamp};

/// Version of the report layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// Pipeline messages within this distance (ns of running time) of a defect are related to it.
pub const CORRELATION_WINDOW: u64 = 1_000_000_000;

/// Ended events kept in full. Beyond, the oldest half is folded into the per-type summary and
/// counted in `events-omitted`, so a 24/7 run keeps a bounded memory.
pub const MAX_ENDED_EVENTS: usize = 2000;
/// Pipeline messages kept; beyond, the oldest half is counted in `pipeline-messages-omitted`.
pub const MAX_MESSAGES: usize = 2000;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Generator {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReportKind {
    /// Written at EOS, or when the pipeline stops (then `complete` is false).
    Final,
    /// Written every `interval` while the pipeline runs.
    Summary,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    pub schema_version: u32,
    pub generator: Generator,
    pub kind: ReportKind,
    /// False when the pipeline stopped before EOS, and for summaries.
    pub complete: bool,
    pub pipeline: String,
    pub element: String,
    pub created_utc: String,
    pub watched: Watched,
    pub detectors: Vec<Detector>,
    /// Every defect of the run, omitted ones included.
    pub summary: BTreeMap<String, TypeSummary>,
    pub events: Vec<EventRecord>,
    /// Ended events left out of `events` to bound memory (the oldest first); `summary` counts
    /// them.
    pub events_omitted: u64,
    pub pipeline_messages: Vec<PipelineMessage>,
    pub pipeline_messages_omitted: u64,
    /// The application's account of what it analysed (vqreport's `analysis` property).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Value>,
}

/// What the pipeline watched, and where.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Watched {
    /// vqreport's `label` property: the stream's name for the operator.
    pub label: Option<String>,
    /// The machine that ran the pipeline.
    pub host: String,
    /// Every source of the pipeline with a URI or a file location, as URIs.
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Source {
    pub element: String,
    pub uri: String,
}

/// One vqmon detector of the pipeline and what it watched.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Detector {
    pub element: String,
    pub factory: String,
    pub caps: Option<String>,
    pub frames: Option<u64>,
    /// Running time analysed (ns).
    pub duration: Option<u64>,
    /// Every readable property, as set when the report was made.
    pub settings: Map<String, Value>,
    /// The detector's own `stats` property.
    pub stats: Value,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct TypeSummary {
    pub count: u64,
    /// Defects still open when the report was made.
    pub open: u64,
    /// Sum of the durations of ended defects (ns).
    pub total_duration: u64,
    /// The worst defect of the type: the longest (ns), and which it is.
    pub longest_duration: u64,
    pub longest: Option<EventRef>,
    /// Running time of the first and last defect starts (ns).
    pub first_running_time: Option<u64>,
    pub last_running_time: Option<u64>,
}

impl TypeSummary {
    /// Counts one event in.
    fn add(&mut self, e: &EventRecord) {
        self.count += 1;
        if e.open {
            self.open += 1;
        } else {
            self.total_duration += e.duration.unwrap_or(0);
        }
        let d = e.duration.unwrap_or(0);
        if self.longest.is_none() || d > self.longest_duration {
            self.longest_duration = d;
            self.longest = Some(EventRef {
                element: e.element.clone(),
                id: e.id,
            });
        }
        if let Some(rt) = e.start.running_time {
            self.first_running_time = Some(self.first_running_time.map_or(rt, |f| f.min(rt)));
            self.last_running_time = Some(self.last_running_time.map_or(rt, |l| l.max(rt)));
        }
    }

    /// Adds the counts of `o` (events folded away earlier).
    fn merge(&mut self, o: &TypeSummary) {
        self.count += o.count;
        self.open += o.open;
        self.total_duration += o.total_duration;
        if self.longest.is_none() || o.longest_duration > self.longest_duration {
            self.longest_duration = o.longest_duration;
            self.longest.clone_from(&o.longest);
        }
        if let Some(t) = o.first_running_time {
            self.first_running_time = Some(self.first_running_time.map_or(t, |m| m.min(t)));
        }
        if let Some(t) = o.last_running_time {
            self.last_running_time = Some(self.last_running_time.map_or(t, |m| m.max(t)));
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct EventRef {
    pub element: String,
    pub id: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Times {
    pub pts: Option<u64>,
    pub running_time: Option<u64>,
    pub stream_time: Option<u64>,
}

impl From<Stamp> for Times {
    fn from(s: Stamp) -> Self {
        Times {
            pts: s.pts.map(gst::ClockTime::nseconds),
            running_time: s.running_time.map(gst::ClockTime::nseconds),
            stream_time: s.stream_time.map(gst::ClockTime::nseconds),
        }
    }
}

/// One defect, its start, updates and end merged.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct EventRecord {
    pub defect: String,
    pub element: String,
    pub id: u64,
    pub start: Times,
    pub start_utc: Option<String>,
    pub detected_running_time: Option<u64>,
    /// Still going when the report was made.
    pub open: bool,
    pub end: Option<Times>,
    pub end_utc: Option<String>,
    /// Duration (ns): in total once ended, so far while open.
    pub duration: Option<u64>,
    /// The running times of the start and end, and the duration, in seconds (for reading).
    pub start_seconds: Option<f64>,
    pub end_seconds: Option<f64>,
    pub duration_seconds: Option<f64>,
    pub end_reason: Option<String>,
    pub updates: u64,
    pub evidence: Value,
    /// Indices into `pipeline-messages` within 1 s of this defect.
    pub related_messages: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct PipelineMessage {
    /// `warning`, `error`, `qos` or `corrupted`.
    pub kind: String,
    pub element: String,
    pub running_time: Option<u64>,
    pub text: String,
    pub details: Value,
}

/// A source's `location` as a URI: kept when it is one already (`http://...`, as souphttpsrc
/// takes), else a file path made absolute (`file:///...`).
pub fn location_uri(location: &str) -> String {
    let scheme = location.split_once("://").map(|(s, _)| s);
    let is_uri = scheme.is_some_and(|s| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if is_uri {
        return location.to_string();
    }
    let path = std::path::absolute(location).unwrap_or_else(|_| location.into());
    gst::glib::filename_to_uri(path, None).map_or_else(|_| location.to_string(), |u| u.to_string())
}

/// A GStreamer structure as a JSON object (nested structures become objects).
pub fn structure_to_json(s: &gst::StructureRef) -> Value {
    let mut map = Map::new();
    for (name, value) in s.iter() {
        map.insert(name.to_string(), value_to_json(value));
    }
    Value::Object(map)
}

/// A GValue as JSON: numbers, booleans, strings and structures natively, anything else as its
/// serialized text.
pub fn value_to_json(v: &gst::glib::Value) -> Value {
    use gst::glib::Type;
    let t = v.type_();
    let num = |f: Option<f64>| {
        f.and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number)
    };
    match t {
        Type::BOOL => Value::Bool(v.get::<bool>().unwrap_or(false)),
        Type::U64 => v.get::<u64>().map_or(Value::Null, |x| {
            // GST_CLOCK_TIME_NONE in time fields is "unknown".
            if x == u64::MAX {
                Value::Null
            } else {
                Value::from(x)
            }
        }),
        Type::I64 => v.get::<i64>().map_or(Value::Null, Value::from),
        Type::U32 => v.get::<u32>().map_or(Value::Null, Value::from),
        Type::I32 => v.get::<i32>().map_or(Value::Null, Value::from),
        Type::F64 => num(v.get::<f64>().ok()),
        Type::F32 => num(v.get::<f32>().ok().map(f64::from)),
        Type::STRING => v
            .get::<Option<String>>()
            .ok()
            .flatten()
            .map_or(Value::Null, Value::String),
        _ if t == gst::Structure::static_type() => v
            .get::<gst::Structure>()
            .map_or(Value::Null, |s| structure_to_json(&s)),
        _ => v
            .serialize()
            .map_or(Value::Null, |s| Value::String(s.to_string())),
    }
}

use gst::prelude::{GstValueExt, StaticType};

/// Everything vqreport has seen, merged into events.
#[derive(Debug, Default)]
pub struct Collector {
    events: Vec<EventRecord>,
    index: BTreeMap<(String, u64), usize>,
    messages: Vec<PipelineMessage>,
    /// Ended events among `events`.
    ended: usize,
    /// Per type, the events folded away, and how many.
    omitted: BTreeMap<String, TypeSummary>,
    events_omitted: u64,
    messages_omitted: u64,
}

impl Collector {
    /// Merges one defect message into its event; returns the event's index in [`Self::events`].
    pub fn add_defect(&mut self, m: &DefectMessage) -> usize {
        if self.ended >= MAX_ENDED_EVENTS {
            self.fold_oldest_ended();
        }
        let was_open = self
            .index
            .get(&(m.element.clone(), m.id))
            .is_none_or(|&i| self.events[i].open);
        let i = self.merge(m);
        if was_open && !self.events[i].open {
            self.ended += 1;
        }
        let e = &mut self.events[i];
        let seconds = |ns: u64| ns as f64 / 1e9;
        e.start_seconds = e.start.running_time.map(seconds);
        e.end_seconds = e.end.and_then(|t| t.running_time).map(seconds);
        e.duration_seconds = e.duration.map(seconds);
        i
    }

    fn merge(&mut self, m: &DefectMessage) -> usize {
        let key = (m.element.clone(), m.id);
        let evidence = m
            .evidence
            .as_ref()
            .map_or(Value::Null, |e| structure_to_json(e));
        match self.index.get(&key) {
            Some(&i) => {
                let e = &mut self.events[i];
                let index = i;
                e.evidence = evidence;
                match m.phase {
                    Phase::Update => {
                        e.updates += 1;
                        e.duration = m.duration.map(gst::ClockTime::nseconds);
                    }
                    Phase::End => {
                        e.open = false;
                        e.end = m.end.map(Times::from);
                        e.end_utc = m.end_utc.clone();
                        e.duration = m.duration.map(gst::ClockTime::nseconds);
                        e.end_reason = m.end_reason.map(|r| r.as_str().to_string());
                    }
                    Phase::Start | Phase::Point => (),
                }
                index
            }
            None => {
                // A defect first seen at its end (vqreport joined late) is recorded all the same.
                // A point event is closed where it happened: it ends at its start, lasting 0,
                // with no end reason (nothing ended it).
                let ended = m.phase == Phase::End;
                let point = m.phase == Phase::Point;
                self.index.insert(key, self.events.len());
                self.events.push(EventRecord {
                    defect: m.defect.clone(),
                    element: m.element.clone(),
                    id: m.id,
                    start: m.start.into(),
                    start_utc: m.utc.clone(),
                    detected_running_time: m.detected_running_time.map(gst::ClockTime::nseconds),
                    open: matches!(m.phase, Phase::Start | Phase::Update),
                    end: match (ended, point) {
                        (true, _) => m.end.map(Times::from),
                        (_, true) => Some(m.start.into()),
                        _ => None,
                    },
                    end_utc: match (ended, point) {
                        (true, _) => m.end_utc.clone(),
                        (_, true) => m.utc.clone(),
                        _ => None,
                    },
                    duration: if point {
                        Some(0)
                    } else {
                        m.duration.map(gst::ClockTime::nseconds)
                    },
                    start_seconds: None,
                    end_seconds: None,
                    duration_seconds: None,
                    end_reason: m.end_reason.map(|r| r.as_str().to_string()),
                    updates: u64::from(m.phase == Phase::Update),
                    evidence,
                    related_messages: Vec::new(),
                });
                self.events.len() - 1
            }
        }
    }

    pub fn add_pipeline_message(&mut self, m: PipelineMessage) {
        if self.messages.len() >= MAX_MESSAGES {
            let n = MAX_MESSAGES / 2;
            self.messages.drain(..n);
            self.messages_omitted += n as u64;
        }
        self.messages.push(m);
    }

    /// Folds the oldest half of the ended events into `omitted`.
    fn fold_oldest_ended(&mut self) {
        let mut n = MAX_ENDED_EVENTS / 2;
        let (omitted, events_omitted) = (&mut self.omitted, &mut self.events_omitted);
        self.events.retain(|e| {
            if n == 0 || e.open {
                return true;
            }
            n -= 1;
            omitted.entry(e.defect.clone()).or_default().add(e);
            *events_omitted += 1;
            false
        });
        self.ended -= MAX_ENDED_EVENTS / 2 - n;
        self.index = self
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| ((e.element.clone(), e.id), i))
            .collect();
    }

    pub fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// Builds the report of everything collected so far.
    #[allow(clippy::too_many_arguments)]
    pub fn report(
        &self,
        kind: ReportKind,
        complete: bool,
        generator: Generator,
        pipeline: &str,
        element: &str,
        created_utc: String,
        watched: Watched,
        detectors: Vec<Detector>,
    ) -> Report {
        let mut events = self.events.clone();
        events.sort_by(|a, b| {
            (a.start.running_time, &a.element, a.id).cmp(&(b.start.running_time, &b.element, b.id))
        });
        // Message times sorted once; each event's window is then two binary searches.
        let mut times: Vec<(u64, usize)> = self
            .messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.running_time.map(|t| (t, i)))
            .collect();
        times.sort_unstable();
        let mut summary: BTreeMap<String, TypeSummary> = BTreeMap::new();
        for e in &mut events {
            // Related pipeline messages: within the correlation window of the defect.
            if let Some(start) = e.start.running_time {
                let end = e
                    .end
                    .and_then(|t| t.running_time)
                    .or(e.duration.map(|d| start + d))
                    .unwrap_or(start);
                let lo = times.partition_point(|&(t, _)| t + CORRELATION_WINDOW < start);
                let hi = times.partition_point(|&(t, _)| t <= end + CORRELATION_WINDOW);
                let mut related: Vec<usize> =
                    times[lo..hi.max(lo)].iter().map(|&(_, i)| i).collect();
                related.sort_unstable();
                e.related_messages = related;
            }
            summary.entry(e.defect.clone()).or_default().add(e);
        }
        for (defect, o) in &self.omitted {
            summary.entry(defect.clone()).or_default().merge(o);
        }
        Report {
            schema_version: SCHEMA_VERSION,
            generator,
            kind,
            complete,
            pipeline: pipeline.to_string(),
            element: element.to_string(),
            created_utc,
            watched,
            detectors,
            summary,
            events,
            events_omitted: self.events_omitted,
            pipeline_messages: self.messages.clone(),
            pipeline_messages_omitted: self.messages_omitted,
            analysis: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::EndReason;

    fn msg(id: u64, phase: Phase, start_s: u64, dur_s: u64) -> DefectMessage {
        let at = |s: u64| Stamp {
            running_time: Some(gst::ClockTime::from_seconds(s)),
            ..Default::default()
        };
        DefectMessage {
            defect: "freeze".into(),
            phase,
            id,
            element: "f".into(),
            start: at(start_s),
            detected_running_time: None,
            utc: None,
            duration: (phase == Phase::End).then(|| gst::ClockTime::from_seconds(dur_s)),
            end: (phase == Phase::End).then(|| at(start_s + dur_s)),
            end_utc: None,
            end_reason: (phase == Phase::End).then_some(EndReason::Recovered),
            evidence: None,
        }
    }

    #[test]
    fn locations_become_uris() {
        assert_eq!(
            location_uri("http://127.0.0.1:8080/live.ts"),
            "http://127.0.0.1:8080/live.ts"
        );
        assert_eq!(location_uri("/tmp/a b.mp4"), "file:///tmp/a%20b.mp4");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            location_uri("clip.ts"),
            gst::glib::filename_to_uri(cwd.join("clip.ts"), None).unwrap()
        );
        // Not a scheme: a path that happens to hold "://".
        assert!(location_uri("/x/1a://b").starts_with("file:///x/1a:"));
    }

    /// A long run keeps at most MAX_ENDED_EVENTS events in full; the summary still counts
    /// every one, and the report says how many it left out.
    #[test]
    fn memory_stays_bounded_and_the_summary_complete() {
        let mut c = Collector::default();
        let n = 5 * MAX_ENDED_EVENTS as u64 + 7;
        // One event open from the start, which must survive every fold.
        c.add_defect(&msg(1_000_000, Phase::Start, 0, 0));
        for id in 1..=n {
            c.add_defect(&msg(id, Phase::Start, 2 * id, 0));
            // The longest is an early one, folded away long before the report.
            c.add_defect(&msg(id, Phase::End, 2 * id, if id == 3 { 9 } else { 1 }));
            assert!(c.events().len() <= MAX_ENDED_EVENTS + 1);
        }
        for i in 0..3 * MAX_MESSAGES {
            c.add_pipeline_message(PipelineMessage {
                kind: "warning".into(),
                element: "e".into(),
                running_time: Some(i as u64),
                text: String::new(),
                details: Value::Null,
            });
        }
        let r = c.report(
            ReportKind::Final,
            true,
            Generator {
                name: "t".into(),
                version: "0".into(),
            },
            "p",
            "r",
            String::new(),
            Watched::default(),
            Vec::new(),
        );
        let s = &r.summary["freeze"];
        assert_eq!(s.count, n + 1);
        assert_eq!(s.open, 1);
        assert_eq!(s.total_duration, (n - 1 + 9) * 1_000_000_000);
        assert_eq!(s.longest_duration, 9_000_000_000);
        assert_eq!(s.longest.as_ref().unwrap().id, 3);
        assert_eq!(s.first_running_time, Some(0));
        assert_eq!(s.last_running_time, Some(2 * n * 1_000_000_000));
        assert_eq!(r.events_omitted + r.events.len() as u64, n + 1);
        assert!(r.events.iter().any(|e| e.open && e.id == 1_000_000));
        // The newest events are the ones kept.
        assert_eq!(r.events.last().unwrap().id, n);
        assert!(r.pipeline_messages.len() <= MAX_MESSAGES);
        assert_eq!(
            r.pipeline_messages_omitted + r.pipeline_messages.len() as u64,
            3 * MAX_MESSAGES as u64
        );
    }
}
