// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! What one monitored stream is now: its open defects, counters and last measurements, fed by
//! its defect and measurement messages and by the stream runner (source loss, frames, buffers).
//! Every defect also becomes an event line (vqreport's event-line format, with the stream's name
//! and labels) for the NDJSON file and the webhooks.

use std::collections::BTreeMap;
use std::time::Instant;

use gstvqmon::DefectMessage;
use gstvqmon::vqreport::report::Collector;
use serde_json::{Value, json};

/// Every defect type a gauge is exported for (0 when not active), so that a defect ending is
/// seen as a 0, not as a series that disappears.
pub const DEFECT_TYPES: [&str; 19] = [
    "freeze",
    "black",
    "stall",
    "stutter",
    "corruption",
    "blockiness",
    "av-offset",
    "ts-discont",
    "timeline-shift",
    "clock-drift",
    "stream-stall",
    "silence",
    "channel-loss",
    "clipping",
    "true-peak",
    "loudness",
    "phase",
    "mono",
    "source-loss",
];

/// The element name of the monitor's own defects (source loss).
pub const MONITOR: &str = "vqmon-monitor";

pub struct StreamState {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    collector: Collector,
    /// Open defects: (element, id) -> (type, since).
    open: BTreeMap<(String, u64), (String, Instant)>,
    started: BTreeMap<String, u64>,
    /// Seconds of ended defects, per type.
    closed_seconds: BTreeMap<String, f64>,
    pub av_offset: Option<(f64, f64)>,
    pub blockiness: Option<f64>,
    pub loudness_short_term: Option<f64>,
    pub loudness_integrated: Option<f64>,
    /// The source delivers (false from a loss until data flows again).
    pub source_up: bool,
    source_loss: Option<u64>,
    next_id: u64,
    pub reconnects: u64,
    pub frames: u64,
    pub detector_ns: u64,
    pub last_buffer: Option<Instant>,
    pub created: Instant,
}

/// A defect's numbers at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeFigures {
    pub active: u64,
    pub started: u64,
    pub seconds: f64,
}

impl StreamState {
    pub fn new(name: &str, labels: &BTreeMap<String, String>, now: Instant) -> Self {
        StreamState {
            name: name.to_string(),
            labels: labels.clone(),
            collector: Collector::default(),
            open: BTreeMap::new(),
            started: BTreeMap::new(),
            closed_seconds: BTreeMap::new(),
            av_offset: None,
            blockiness: None,
            loudness_short_term: None,
            loudness_integrated: None,
            source_up: false,
            source_loss: None,
            next_id: 1,
            reconnects: 0,
            frames: 0,
            detector_ns: 0,
            last_buffer: None,
            created: now,
        }
    }

    /// One defect message: the open set and counters change; returns its event line.
    pub fn defect(&mut self, m: &DefectMessage, now: Instant) -> Value {
        use gstvqmon::Phase;
        let key = (m.element.clone(), m.id);
        match m.phase {
            Phase::Start => {
                *self.started.entry(m.defect.clone()).or_default() += 1;
                self.open.insert(key, (m.defect.clone(), now));
            }
            Phase::Point => *self.started.entry(m.defect.clone()).or_default() += 1,
            Phase::End => {
                if let Some((d, since)) = self.open.remove(&key) {
                    *self.closed_seconds.entry(d).or_default() +=
                        now.duration_since(since).as_secs_f64();
                }
            }
            Phase::Update => (),
        }
        let i = self.collector.add_defect(m);
        json!({
            "kind": "event",
            "phase": m.phase.as_str(),
            "stream": self.name,
            "labels": self.labels,
            "event": self.collector.events()[i],
        })
    }

    /// One measurement message (`values` as JSON): the last A/V offset, blockiness, loudness.
    pub fn measurement(&mut self, name: &str, values: &Value) {
        let f = |k: &str| values.get(k).and_then(Value::as_f64);
        match name {
            "av-offset" if values.get("available") != Some(&Value::Bool(false)) => {
                if let Some(o) = f("offset") {
                    self.av_offset = Some((o / 1e9, f("confidence").unwrap_or(0.0)));
                }
            }
            "blockiness" => self.blockiness = f("smoothed").or(f("score")),
            "loudness" => {
                // -200 stands for "nothing measured yet".
                let real = |v: Option<f64>| v.filter(|v| *v > -199.0);
                self.loudness_short_term = real(f("short-term"));
                self.loudness_integrated = real(f("integrated"));
            }
            _ => (),
        }
    }

    /// The source stopped delivering (`why`): a `source-loss` defect starts, once. Returns its
    /// start message.
    pub fn source_lost(&mut self, why: &str) -> Option<DefectMessage> {
        self.source_up = false;
        if self.source_loss.is_some() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.source_loss = Some(id);
        Some(monitor_defect(id, gstvqmon::Phase::Start, why))
    }

    /// Data flows: an open `source-loss` ends. Returns its end message.
    pub fn source_back(&mut self) -> Option<DefectMessage> {
        self.source_up = true;
        let id = self.source_loss.take()?;
        Some(monitor_defect(id, gstvqmon::Phase::End, "recovered"))
    }

    /// Per defect type: active now, started, and seconds in defect (ended ones plus the open
    /// ones so far), for every type in [`DEFECT_TYPES`] and any other seen.
    pub fn figures(&self, now: Instant) -> BTreeMap<String, TypeFigures> {
        let mut out: BTreeMap<String, TypeFigures> = DEFECT_TYPES
            .iter()
            .map(|t| (t.to_string(), TypeFigures::default()))
            .collect();
        for (d, n) in &self.started {
            out.entry(d.clone()).or_default().started = *n;
        }
        for (d, s) in &self.closed_seconds {
            out.entry(d.clone()).or_default().seconds += s;
        }
        for (d, since) in self.open.values() {
            let f = out.entry(d.clone()).or_default();
            f.active = 1;
            f.seconds += now.duration_since(*since).as_secs_f64();
        }
        out
    }

    /// The stream's state as JSON, for `/streams`.
    pub fn to_json(&self, now: Instant) -> Value {
        let active: Vec<&str> = {
            let mut v: Vec<&str> = self.open.values().map(|(d, _)| d.as_str()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        json!({
            "name": self.name,
            "labels": self.labels,
            "source-up": self.source_up,
            "active-defects": active,
            "defects-started": self.started,
            "reconnects": self.reconnects,
            "frames": self.frames,
            "seconds-since-last-buffer": self.last_buffer.map(|t| now.duration_since(t).as_secs_f64()),
            "av-offset": self.av_offset.map(|(o, _)| o),
            "av-offset-confidence": self.av_offset.map(|(_, c)| c),
            "blockiness": self.blockiness,
            "loudness-short-term": self.loudness_short_term,
            "loudness-integrated": self.loudness_integrated,
        })
    }
}

/// A defect message of the monitor itself (source loss), timed by the wall clock.
fn monitor_defect(id: u64, phase: gstvqmon::Phase, why: &str) -> DefectMessage {
    let utc = gstvqmon::message::utc_string(gstvqmon::message::now_unix_usec());
    let end = (phase == gstvqmon::Phase::End).then(gstvqmon::Stamp::default);
    DefectMessage {
        defect: "source-loss".into(),
        phase,
        id,
        element: MONITOR.into(),
        start: gstvqmon::Stamp::default(),
        detected_running_time: None,
        utc: utc.clone().filter(|_| phase == gstvqmon::Phase::Start),
        duration: None,
        end,
        end_utc: utc.filter(|_| phase == gstvqmon::Phase::End),
        end_reason: (phase == gstvqmon::Phase::End).then_some(gstvqmon::EndReason::Recovered),
        evidence: Some(
            gst::Structure::builder("source-loss")
                .field("reason", why)
                .build(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msg(defect: &str, phase: gstvqmon::Phase, id: u64) -> DefectMessage {
        DefectMessage {
            defect: defect.into(),
            phase,
            id,
            element: "vqfreeze0".into(),
            start: gstvqmon::Stamp::default(),
            detected_running_time: None,
            utc: None,
            duration: None,
            end: (phase == gstvqmon::Phase::End).then(gstvqmon::Stamp::default),
            end_utc: None,
            end_reason: (phase == gstvqmon::Phase::End).then_some(gstvqmon::EndReason::Recovered),
            evidence: Some(gst::Structure::builder(defect).build()),
        }
    }

    #[test]
    fn defects_open_count_and_close() {
        crate::test_init();
        let t0 = Instant::now();
        let labels = BTreeMap::from([("region".to_string(), "eu".to_string())]);
        let mut s = StreamState::new("ch1", &labels, t0);
        let line = s.defect(&msg("freeze", gstvqmon::Phase::Start, 1), t0);
        assert_eq!(line["stream"], "ch1");
        assert_eq!(line["labels"]["region"], "eu");
        assert_eq!(line["event"]["defect"], "freeze");
        assert_eq!(line["phase"], "start");
        s.defect(&msg("ts-discont", gstvqmon::Phase::Point, 2), t0);
        let f = s.figures(t0 + Duration::from_secs(2));
        assert_eq!(
            f["freeze"],
            TypeFigures {
                active: 1,
                started: 1,
                seconds: 2.0
            }
        );
        assert_eq!(f["ts-discont"].started, 1);
        assert_eq!(f["ts-discont"].active, 0);
        assert_eq!(f["silence"], TypeFigures::default());
        s.defect(
            &msg("freeze", gstvqmon::Phase::End, 1),
            t0 + Duration::from_secs(3),
        );
        let f = s.figures(t0 + Duration::from_secs(10));
        assert_eq!(f["freeze"].active, 0);
        assert_eq!(f["freeze"].seconds, 3.0);
    }

    #[test]
    fn source_loss_is_a_defect_once() {
        crate::test_init();
        let t0 = Instant::now();
        let mut s = StreamState::new("ch1", &BTreeMap::new(), t0);
        let start = s.source_lost("no data for 3 s").unwrap();
        assert!(s.source_lost("error").is_none(), "one loss at a time");
        let line = s.defect(&start, t0);
        assert_eq!(line["event"]["defect"], "source-loss");
        assert_eq!(line["event"]["evidence"]["reason"], "no data for 3 s");
        assert_eq!(s.figures(t0)["source-loss"].active, 1);
        let end = s.source_back().unwrap();
        assert!(s.source_back().is_none());
        s.defect(&end, t0 + Duration::from_secs(5));
        let f = s.figures(t0 + Duration::from_secs(6));
        assert_eq!(
            (f["source-loss"].active, f["source-loss"].seconds),
            (0, 5.0)
        );
        assert!(s.source_up);
    }

    #[test]
    fn measurements_are_kept() {
        crate::test_init();
        let mut s = StreamState::new("ch1", &BTreeMap::new(), Instant::now());
        s.measurement(
            "av-offset",
            &json!({"source": "test-signal", "offset": -40_000_000, "confidence": 0.9}),
        );
        s.measurement(
            "av-offset",
            &json!({"source": "content", "available": false}),
        );
        assert_eq!(s.av_offset, Some((-0.04, 0.9)));
        s.measurement(
            "loudness",
            &json!({"short-term": -23.5, "integrated": -200.0}),
        );
        assert_eq!(s.loudness_short_term, Some(-23.5));
        assert_eq!(s.loudness_integrated, None);
        s.measurement("blockiness", &json!({"smoothed": 1.4, "score": 1.2}));
        assert_eq!(s.blockiness, Some(1.4));
    }
}
