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
    pub summary: BTreeMap<String, TypeSummary>,
    pub events: Vec<EventRecord>,
    pub pipeline_messages: Vec<PipelineMessage>,
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
}

impl Collector {
    /// Merges one defect message into its event; returns the event's index in [`Self::events`].
    pub fn add_defect(&mut self, m: &DefectMessage) -> usize {
        let i = self.merge(m);
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
        self.messages.push(m);
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
            let s = summary.entry(e.defect.clone()).or_default();
            s.count += 1;
            if e.open {
                s.open += 1;
            } else {
                s.total_duration += e.duration.unwrap_or(0);
            }
            let d = e.duration.unwrap_or(0);
            if s.longest.is_none() || d > s.longest_duration {
                s.longest_duration = d;
                s.longest = Some(EventRef {
                    element: e.element.clone(),
                    id: e.id,
                });
            }
            if let Some(rt) = e.start.running_time {
                s.first_running_time = Some(s.first_running_time.map_or(rt, |f| f.min(rt)));
                s.last_running_time = Some(s.last_running_time.map_or(rt, |l| l.max(rt)));
            }
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
            pipeline_messages: self.messages.clone(),
        }
    }
}
