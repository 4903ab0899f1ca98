// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The HTML report: one self-contained file (inline SVG charts drawn with plotters, thumbnails as
//! data URIs, no script, nothing fetched). No GStreamer types.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine;
use plotters::prelude::*;
use serde_json::Value;

use crate::Severity;
use crate::plan::Plan;
use crate::summary::{self, Cost, Event};

/// Values over time collected while the pipeline ran.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// (element, stream time s, mean blockiness over the interval).
    pub blockiness: Vec<(String, f64, f64)>,
    /// (stream time s, offset ms, source: test-signal or content).
    pub av_offset: Vec<(f64, f64, String)>,
}

/// A defect's first frame as PNG, keyed by (element, defect id).
pub type Thumbnails = BTreeMap<(String, u64), Vec<u8>>;

const WIDTH: u32 = 1100;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The lanes of the timeline: each detector element and defect type that has an event.
fn lanes(events: &[Event]) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.element.as_str(), e.defect.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The timeline as SVG: one lane per element and defect type, intervals as bars, points as
/// marks.
fn timeline(events: &[Event], duration: f64) -> Result<String, String> {
    let lanes = lanes(events);
    let mut svg = String::new();
    if lanes.is_empty() {
        return Ok(svg);
    }
    let height = 60 + 34 * lanes.len() as u32;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = lanes.len();
        let names: Vec<String> = lanes.iter().map(|(e, d)| format!("{e} {d}")).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..duration.max(0.001), -0.5..(n as f64 - 0.5))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .y_labels(n)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("time (s)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .disable_y_mesh()
            .draw()
            .map_err(|e| e.to_string())?;
        let seconds = |ns: u64| ns as f64 / 1e9;
        for e in events {
            let lane = (e.element.as_str(), e.defect.as_str());
            let y = lanes.iter().position(|l| *l == lane).unwrap_or(0) as f64;
            let start = e.start.map_or(0.0, seconds);
            let end = e.end.map_or(duration, seconds);
            let colour = match e.severity {
                Severity::Major => RGBColor(200, 40, 40),
                Severity::Minor => RGBColor(230, 150, 30),
            };
            if end > start {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(start, y - 0.3), (end, y + 0.3)],
                        colour.filled(),
                    )))
                    .map_err(|e| e.to_string())?;
            } else {
                chart
                    .draw_series(std::iter::once(TriangleMarker::new(
                        (start, y),
                        7,
                        colour.filled(),
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A line plot of values over time (one series per name).
fn plot(
    title: &str,
    unit: &str,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
    duration: f64,
) -> Result<String, String> {
    let mut svg = String::new();
    let all: Vec<f64> = series.values().flatten().map(|p| p.1).collect();
    if all.is_empty() {
        return Ok(svg);
    }
    let (lo, hi) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.1).max(0.05);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .caption(title, ("sans-serif", 16))
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..duration.max(0.001), (lo - pad)..(hi + pad))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .x_desc("time (s)")
            .y_desc(unit)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, points)) in series.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 2, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Evidence as `key=value` pairs, the nested structures flattened one level.
fn evidence_text(ev: &Value) -> String {
    let Some(map) = ev.as_object() else {
        return String::new();
    };
    map.iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| match v {
            Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() => format!("{k}={f:.3}"),
                _ => format!("{k}={n}"),
            },
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole report.
pub fn render(
    plan: &Plan,
    events: &[Event],
    cost: &Cost,
    series: &Series,
    thumbnails: &Thumbnails,
    fail_on: Severity,
) -> Result<String, String> {
    let duration = cost.media_ns.map_or(0.0, |ns| ns as f64 / 1e9);
    let failing = summary::failing(events, fail_on);
    let mut o = String::new();
    let title = format!("vqmon report: {}", plan.input);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(o, "<h1>vqmon report</h1>");
    let _ = writeln!(o, "<p class=\"input\">{}</p>", esc(&plan.input));
    let (class, verdict) = if failing > 0 {
        ("fail", "fail")
    } else {
        ("pass", "pass")
    };
    let _ = writeln!(
        o,
        "<p id=\"verdict\" class=\"{class}\">verdict: {verdict} &mdash; {} defects, {failing} at or above {}</p>",
        events.len(),
        fail_on.as_str()
    );
    let _ = writeln!(
        o,
        "<p>duration {}, {} video frames, analysed at {:.1}x real time; the vqmon detectors took {}.</p>",
        summary::hms(cost.media_ns),
        cost.frames,
        cost.speed().unwrap_or(0.0),
        cost.detectors_per_frame_us()
            .map_or("-".into(), |us| format!("{us:.0} us per frame"))
    );
    let _ = writeln!(
        o,
        "<h2>Streams</h2>\n<table id=\"streams\"><tr><th>stream</th><th>what</th><th>analysed by</th></tr>"
    );
    for s in &plan.streams {
        let _ = writeln!(
            o,
            "<tr class=\"stream\"><td>{} {}</td><td>{}</td><td>{}</td></tr>",
            s.media,
            s.index,
            esc(&s.description),
            if s.detectors.is_empty() {
                "<em>not analysed</em>".to_string()
            } else {
                esc(&s.detectors.join(", "))
            }
        );
    }
    let _ = writeln!(o, "</table>");
    if !plan.not_analysed.is_empty() {
        let _ = writeln!(o, "<ul id=\"not-analysed\">");
        for n in &plan.not_analysed {
            let _ = writeln!(
                o,
                "<li>not analysed: {} ({})</li>",
                esc(&n.what),
                esc(&n.reason)
            );
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(o, "<h2>Timeline</h2>\n<div id=\"timeline\">");
    let svg = timeline(events, duration)?;
    if svg.is_empty() {
        let _ = writeln!(o, "<p>No defect.</p>");
    } else {
        o.push_str(&svg);
    }
    let _ = writeln!(o, "</div>\n<h2>Measurements</h2>");
    let mut block: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (e, t, v) in &series.blockiness {
        block.entry(e.clone()).or_default().push((*t, *v));
    }
    let mut offsets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (t, ms, source) in &series.av_offset {
        offsets.entry(source.clone()).or_default().push((*t, *ms));
    }
    let _ = writeln!(o, "<div id=\"blockiness\">");
    o.push_str(&plot(
        "blockiness (grid ratio, mean per second; 1.0 = no grid)",
        "ratio",
        &block,
        duration,
    )?);
    let _ = writeln!(o, "</div>\n<div id=\"av-offset\">");
    if offsets.is_empty() {
        let _ = writeln!(o, "<p>No A/V offset was measured.</p>");
    } else {
        o.push_str(&plot(
            "A/V offset (audio minus video; positive: audio late)",
            "ms",
            &offsets,
            duration,
        )?);
    }
    let _ = writeln!(o, "</div>\n<h2>Events</h2>");
    let _ = writeln!(
        o,
        "<table id=\"events\"><tr><th>first frame</th><th>defect</th><th>severity</th>\
         <th>element</th><th>start</th><th>end</th><th>duration (s)</th><th>evidence</th></tr>"
    );
    let engine = base64::engine::general_purpose::STANDARD;
    for e in events {
        let sev = e.severity.as_str();
        let thumb = thumbnails
            .get(&(e.element.clone(), e.id))
            .map_or(String::new(), |png| {
                format!(
                    "<img alt=\"first frame\" src=\"data:image/png;base64,{}\">",
                    engine.encode(png)
                )
            });
        let _ = writeln!(
            o,
            "<tr class=\"event {sev}\" data-defect=\"{}\" data-element=\"{}\"><td>{thumb}</td>\
             <td>{}</td><td>{sev}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"evidence\">{}</td></tr>",
            esc(&e.defect),
            esc(&e.element),
            esc(&e.defect),
            esc(&e.element),
            summary::hms(e.start),
            if e.open {
                "open".into()
            } else {
                summary::hms(e.end)
            },
            e.duration
                .map_or("-".into(), |d| format!("{:.3}", d as f64 / 1e9)),
            esc(&evidence_text(&e.evidence))
        );
    }
    let _ = writeln!(o, "</table>\n</body></html>");
    Ok(o)
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;\
vertical-align:top;font-size:13px;text-align:left}\
#verdict{font-size:1.3em;font-weight:bold}#verdict.fail{color:#b02020}#verdict.pass{color:#207020}\
tr.major td:nth-child(3){color:#b02020;font-weight:bold}tr.minor td:nth-child(3){color:#b07000}\
td.evidence{max-width:480px;font-family:monospace;font-size:11px}img{width:160px}\
.input{font-family:monospace}";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_with_its_lanes_events_and_plots() {
        let report = json!({"events": [
            {"defect": "freeze", "element": "vqfreeze0", "id": 1, "open": false,
             "duration": 3_000_000_000u64, "start": {"stream-time": 2_000_000_000u64},
             "end": {"stream-time": 5_000_000_000u64}, "evidence": {"severity": "major"}},
            {"defect": "ts-discont", "element": "avsyncmon0", "id": 2, "open": false,
             "duration": 0, "start": {"stream-time": 7_000_000_000u64},
             "end": {"stream-time": 7_000_000_000u64}, "evidence": {"stream": "audio"}}
        ]});
        let plan = Plan {
            tool: "vqmon analyze",
            input: "file:///a<b>.mp4".into(),
            live: false,
            streams: Vec::new(),
            not_analysed: Vec::new(),
            profile: None,
            overrides: Vec::new(),
            avsync: None,
        };
        let cost = Cost {
            media_ns: Some(10_000_000_000),
            ..Default::default()
        };
        let series = Series {
            blockiness: (0..10)
                .map(|i| ("vqartifact0".into(), i as f64, 1.1))
                .collect(),
            av_offset: Vec::new(),
        };
        let mut thumbs = Thumbnails::new();
        thumbs.insert(("vqfreeze0".into(), 1), vec![0x89, b'P', b'N', b'G']);
        let events = summary::events(&report);
        let html = render(&plan, &events, &cost, &series, &thumbs, Severity::Major).unwrap();
        assert!(html.contains("file:///a&lt;b&gt;.mp4"));
        // The lanes: SVG text (plotters puts it on a line of its own).
        let words = html.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains("> avsyncmon0 ts-discont </text>"), "{html}");
        assert!(words.contains("> vqfreeze0 freeze </text>"));
        assert_eq!(html.matches("<tr class=\"event ").count(), 2);
        assert!(html.contains("data:image/png;base64,iVBORw=="));
        assert!(html.contains("No A/V offset was measured."));
        assert!(html.contains("verdict: fail"));
        // Self-contained: nothing to fetch.
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    }
}
