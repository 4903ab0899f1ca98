// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! A Rust application monitoring a media file or URI with vqmon: it reacts to each defect the
//! moment it is posted (typed, through `gstvqmon::DefectMessage`) and reads vqreport's final
//! report from its bus message.
//!
//!   cargo run --example monitor -- FILE|URI [REPORT.json]

use gst::prelude::*;
use gstvqmon::{DefectMessage, Phase};
use std::io::Write;

/// What a monitoring run saw.
#[allow(dead_code)]
pub struct Outcome {
    /// Defect messages, in the order they were posted.
    pub defects: Vec<DefectMessage>,
    /// vqreport's final report.
    pub report: serde_json::Value,
}

/// Runs `media` through every vqmon detector, writing one line per defect message to `out`.
pub fn run(
    media: &str,
    report: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    gst::init()?;
    // Register the linked-in plugin unless GStreamer already knows it (from GST_PLUGIN_PATH, or
    // an earlier registration): registering twice leaves element classes with a dropped factory.
    if gst::ElementFactory::find("vqreport").is_none() {
        gstvqmon::plugin_register_static()?;
    }
    let uri = if media.contains("://") {
        media.to_string()
    } else {
        gst::glib::filename_to_uri(std::fs::canonicalize(media)?, None)?.to_string()
    };
    let pipeline = gst::Pipeline::with_name("monitor");
    let src = gst::ElementFactory::make("uridecodebin")
        .property("uri", &uri)
        .build()?;
    let reporter = gst::ElementFactory::make("vqreport")
        .name("report")
        .build()?;
    if let Some(path) = report {
        reporter.set_property("location", path.to_str().ok_or("non UTF-8 report path")?);
    }
    pipeline.add_many([&src, &reporter])?;
    let weak = pipeline.downgrade();
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let video = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"));
        let desc = if video {
            "queue ! videoconvert ! vqfreeze ! vqartifact ! fakesink"
        } else {
            // Audio and anything else is consumed, so that the pipeline reaches EOS.
            "queue ! fakesink"
        };
        let branch = gst::parse::bin_from_description(desc, true).expect("valid description");
        pipeline.add(&branch).expect("branch added");
        branch.sync_state_with_parent().expect("branch started");
        pad.link(&branch.static_pad("sink").expect("ghost sink pad"))
            .expect("decoder output linked");
    });

    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut defects = Vec::new();
    let mut final_report = None;
    let mut failure = None;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                failure = Some(format!(
                    "{}: {} ({:?})",
                    msg.src().map(|s| s.path_string()).unwrap_or_default(),
                    e.error(),
                    e.debug()
                ));
                break;
            }
            gst::MessageView::Element(e) => {
                if let Some(d) = DefectMessage::from_message(&msg) {
                    let d = d?;
                    let at = |t: Option<gst::ClockTime>| {
                        t.map_or(f64::NAN, |t| t.nseconds() as f64 / 1e9)
                    };
                    match d.phase {
                        Phase::End => writeln!(
                            out,
                            "[{}] {} end, started at {:.3} s, lasted {:.3} s ({})",
                            d.element,
                            d.defect,
                            at(d.start.running_time),
                            at(d.duration),
                            d.end_reason.map_or("?", |r| r.as_str())
                        )?,
                        Phase::Update => writeln!(
                            out,
                            "[{}] {} update, started at {:.3} s, {:.3} s so far{}",
                            d.element,
                            d.defect,
                            at(d.start.running_time),
                            at(d.duration),
                            d.evidence
                                .as_ref()
                                .and_then(|e| e.get::<&str>("severity").ok())
                                .map_or(String::new(), |s| format!(", {s}"))
                        )?,
                        phase => writeln!(
                            out,
                            "[{}] {} {} at {:.3} s",
                            d.element,
                            d.defect,
                            phase.as_str(),
                            at(d.start.running_time)
                        )?,
                    }
                    defects.push(d);
                } else if let Some(s) = e.structure()
                    && s.name() == gstvqmon::vqreport::REPORT_STRUCTURE
                    && s.get::<&str>("kind")? == "final"
                {
                    final_report = Some(serde_json::from_str(s.get::<&str>("json")?)?);
                }
            }
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null)?;
    if let Some(f) = failure {
        return Err(f.into());
    }
    let report: serde_json::Value = final_report.ok_or("no final report")?;
    writeln!(
        out,
        "vqmon report: {} defects, complete: {}",
        report["events"].as_array().map_or(0, Vec::len),
        report["complete"]
    )?;
    if let Some(summary) = report["summary"].as_object() {
        for (defect, s) in summary {
            writeln!(
                out,
                "{defect:<10}{:>4} x, {:>8.3} s in total, longest {:.3} s",
                s["count"],
                s["total-duration"].as_u64().unwrap_or(0) as f64 / 1e9,
                s["longest-duration"].as_u64().unwrap_or(0) as f64 / 1e9
            )?;
        }
    }
    Ok(Outcome { defects, report })
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if !(2..=3).contains(&args.len()) {
        return Err("usage: monitor FILE|URI [REPORT.json]".into());
    }
    let report = args.get(2).map(std::path::PathBuf::from);
    run(&args[1], report.as_deref(), &mut std::io::stdout())?;
    Ok(())
}
