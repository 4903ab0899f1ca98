// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The verdict and the human summary of a final report (vqreport's JSON). No GStreamer types.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::Severity;
use crate::plan::Plan;

/// `HH:MM:SS.mmm` of a time in nanoseconds; `-` when unknown.
pub fn hms(ns: Option<u64>) -> String {
    let Some(ns) = ns else {
        return "-".into();
    };
    let ms = ns / 1_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// How grave one defect is. Detectors that grade their defects say so in the evidence
/// (`severity`: `minor`/`major` for freeze and black, `warning`/`alarm` for blockiness); the
/// others are graded by type.
pub fn severity(defect: &str, evidence: &Value) -> Severity {
    match evidence.get("severity").and_then(Value::as_str) {
        Some("major" | "alarm") => Severity::Major,
        Some("minor" | "warning") => Severity::Minor,
        _ => match defect {
            "freeze" | "black" | "stall" | "corruption" | "av-offset" | "stream-stall"
            | "silence" | "channel-loss" | "clipping" | "phase" => Severity::Major,
            // A programme that fails its loudness standard; short-term excursions are minor.
            "loudness" if evidence.get("scope").and_then(Value::as_str) == Some("integrated") => {
                Severity::Major
            }
            // stutter, ts-discont, timeline-shift, clock-drift, true-peak, mono, short-term
            // loudness, and anything new
            _ => Severity::Minor,
        },
    }
}

/// One event of the report, as the summary needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub defect: String,
    pub element: String,
    pub id: u64,
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub duration: Option<u64>,
    pub severity: Severity,
    pub open: bool,
    pub evidence: Value,
}

/// The events of a report, in their order there (start time).
pub fn events(report: &Value) -> Vec<Event> {
    let Some(list) = report.get("events").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let defect = e["defect"].as_str().unwrap_or("?").to_string();
            let t = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
            Event {
                severity: severity(&defect, &e["evidence"]),
                element: e["element"].as_str().unwrap_or("?").to_string(),
                id: e["id"].as_u64().unwrap_or(0),
                start: t(&e["start"], "stream-time").or(t(&e["start"], "running-time")),
                end: t(&e["end"], "stream-time").or(t(&e["end"], "running-time")),
                duration: t(e, "duration"),
                open: e["open"].as_bool().unwrap_or(false),
                evidence: e["evidence"].clone(),
                defect,
            }
        })
        .collect()
}

/// The verdict: how many defects are at or above `fail_on`.
pub fn failing(events: &[Event], fail_on: Severity) -> usize {
    events.iter().filter(|e| e.severity >= fail_on).count()
}

/// Events listed as the worst, at most.
pub const WORST: usize = 5;

/// One line per vqaudio of the report: the programme's loudness figures and verdict.
pub fn loudness(report: &Value) -> Vec<String> {
    let Some(detectors) = report["detectors"].as_array() else {
        return Vec::new();
    };
    detectors
        .iter()
        .filter(|d| d["factory"] == "vqaudio")
        .filter_map(|d| {
            let s = &d["stats"];
            let i = s["integrated-loudness"].as_f64()?;
            let verdict = match (
                s["verdict"].as_str(),
                d["settings"]["loudness-standard"].as_str(),
            ) {
                (Some("pass" | "fail"), Some(std)) => {
                    format!(": {} ({std})", s["verdict"].as_str().unwrap_or_default())
                }
                _ => String::new(),
            };
            let integrated = if i <= -199.0 {
                "no loudness (silent)".to_string()
            } else {
                format!("integrated {i:.1} LUFS")
            };
            Some(format!(
                "loudness {}: {integrated}, LRA {:.1} LU, true peak {:.1} dBTP{verdict}",
                d["element"].as_str().unwrap_or("vqaudio"),
                s["loudness-range"].as_f64().unwrap_or(0.0),
                s["max-true-peak"].as_f64().unwrap_or(f64::NEG_INFINITY),
            ))
        })
        .collect()
}

/// The summary text of one input.
pub fn render(plan: &Plan, report: Option<&Value>, cost: &Cost, fail_on: Severity) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n== {}{}",
        plan.input,
        if plan.live { " (live)" } else { "" }
    );
    for s in &plan.streams {
        let by = if s.detectors.is_empty() {
            "not analysed".to_string()
        } else {
            s.detectors.join(", ")
        };
        let _ = writeln!(o, "  {} {}: {}  [{}]", s.media, s.index, s.description, by);
    }
    for n in &plan.not_analysed {
        let _ = writeln!(o, "  not analysed: {} ({})", n.what, n.reason);
    }
    let _ = writeln!(
        o,
        "  duration {}, {} video frames; {} wall, {:.1}x real time; CPU {} of which vqmon detectors {}{}",
        hms(cost.media_ns),
        cost.frames,
        secs(cost.wall_ns),
        cost.speed().unwrap_or(0.0),
        secs(cost.cpu_ns),
        secs(cost.detectors_ns),
        match cost.detectors_per_frame_us() {
            Some(us) => format!(" ({us:.0} us per frame)"),
            None => String::new(),
        }
    );
    let Some(report) = report else {
        let _ = writeln!(o, "  no report: the analysis did not finish");
        return o;
    };
    for line in loudness(report) {
        let _ = writeln!(o, "  {line}");
    }
    let evs = events(report);
    if evs.is_empty() {
        let _ = writeln!(o, "  no defect found");
        return o;
    }
    // Per type: count, total and longest duration.
    let mut types: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
    for e in &evs {
        let t = types.entry(&e.defect).or_default();
        t.0 += 1;
        t.1 += e.duration.unwrap_or(0);
        t.2 = t.2.max(e.duration.unwrap_or(0));
    }
    let _ = writeln!(
        o,
        "\n  {:<14}{:>6}  {:<14}longest",
        "defect", "count", "total"
    );
    for (d, (n, total, longest)) in &types {
        let _ = writeln!(
            o,
            "  {:<14}{:>6}  {:<14}{}",
            d,
            n,
            hms(Some(*total)),
            hms(Some(*longest))
        );
    }
    let mut worst: Vec<&Event> = evs.iter().collect();
    worst.sort_by(|a, b| {
        (b.severity, b.duration.unwrap_or(0)).cmp(&(a.severity, a.duration.unwrap_or(0)))
    });
    let _ = writeln!(o, "\n  worst defects:");
    for e in worst.iter().take(WORST) {
        let _ = writeln!(
            o,
            "  {:<6}{:<14}{} - {}  {}{}",
            e.severity.as_str(),
            e.defect,
            hms(e.start),
            if e.open { "(open)".into() } else { hms(e.end) },
            e.element,
            match e.duration {
                Some(d) if d > 0 => format!("  {}", secs(Some(d))),
                _ => String::new(),
            }
        );
    }
    let n = failing(&evs, fail_on);
    let _ = writeln!(
        o,
        "\n  {} defects, {} at or above {}",
        evs.len(),
        n,
        fail_on.as_str()
    );
    o
}

fn secs(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => format!("{:.3} s", ns as f64 / 1e9),
        None => "-".into(),
    }
}

/// What analysing one input cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    /// Media time analysed.
    pub media_ns: Option<u64>,
    pub wall_ns: Option<u64>,
    /// Process CPU time (all threads) during the run.
    pub cpu_ns: Option<u64>,
    /// Time spent in the detectors' chain functions, summed over buffers.
    pub detectors_ns: Option<u64>,
    pub frames: u64,
}

impl Cost {
    pub fn speed(&self) -> Option<f64> {
        match (self.media_ns, self.wall_ns) {
            (Some(m), Some(w)) if w > 0 => Some(m as f64 / w as f64),
            _ => None,
        }
    }

    pub fn detectors_per_frame_us(&self) -> Option<f64> {
        match self.detectors_ns {
            Some(d) if self.frames > 0 => Some(d as f64 / self.frames as f64 / 1000.0),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_read_as_clock_times() {
        assert_eq!(hms(Some(0)), "00:00:00.000");
        assert_eq!(hms(Some(3_723_004_000_000)), "01:02:03.004");
        assert_eq!(hms(None), "-");
    }

    #[test]
    fn severity_follows_the_evidence_then_the_type() {
        assert_eq!(
            severity("freeze", &json!({"severity": "minor"})),
            Severity::Minor
        );
        assert_eq!(
            severity("blockiness", &json!({"severity": "alarm"})),
            Severity::Major
        );
        assert_eq!(severity("corruption", &json!({})), Severity::Major);
        assert_eq!(severity("ts-discont", &json!({})), Severity::Minor);
        assert_eq!(severity("silence", &json!({})), Severity::Major);
        assert_eq!(
            severity("loudness", &json!({"scope": "integrated"})),
            Severity::Major
        );
        assert_eq!(
            severity("loudness", &json!({"scope": "short-term"})),
            Severity::Minor
        );
    }

    #[test]
    fn verdict_counts_what_is_at_or_above_the_level() {
        let report = json!({"events": [
            {"defect": "freeze", "element": "vqfreeze0", "open": false, "duration": 3_000_000_000u64,
             "start": {"stream-time": 1_000_000_000u64}, "end": {"stream-time": 4_000_000_000u64},
             "evidence": {"severity": "major"}},
            {"defect": "stutter", "element": "vqfreeze0", "open": false, "duration": 80_000_000u64,
             "start": {"stream-time": 5_000_000_000u64}, "end": {"stream-time": 5_080_000_000u64},
             "evidence": {}}
        ]});
        let evs = events(&report);
        assert_eq!(evs[0].start, Some(1_000_000_000));
        assert_eq!(failing(&evs, Severity::Major), 1);
        assert_eq!(failing(&evs, Severity::Minor), 2);
    }
}
