// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

mod common;

use common::*;
use gst::prelude::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vqmon-report-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Runs `pipeline` to EOS (or error), then to NULL; returns the vqreport bus messages' JSON.
fn run_to_eos(pipeline: &gst::Pipeline) -> Vec<(String, bool, String)> {
    run_to_eos_counting(pipeline).0
}

/// The same, also counting the vqmon defect messages the application received.
fn run_to_eos_counting(pipeline: &gst::Pipeline) -> (Vec<(String, bool, String)>, usize) {
    let mut defects = 0;
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut reports = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "vqreport" {
                    reports.push((
                        s.get::<String>("kind").unwrap(),
                        s.get::<bool>("complete").unwrap(),
                        s.get::<String>("json").unwrap(),
                    ));
                } else if s.name() == "vqmon-defect" {
                    defects += 1;
                }
            }
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // The final report may be posted just after EOS reached the application.
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Element]) {
        let s = msg.structure().unwrap();
        if s.name() == "vqreport" {
            reports.push((
                s.get::<String>("kind").unwrap(),
                s.get::<bool>("complete").unwrap(),
                s.get::<String>("json").unwrap(),
            ));
        }
    }
    (reports, defects)
}

/// Runs the pipeline `desc` to EOS and returns its final report at `location`, validated.
fn report_of(desc: &str, location: &Path) -> Value {
    let pipeline = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    run_to_eos(&pipeline);
    validated(&std::fs::read_to_string(location).unwrap())
}

fn events<'a>(report: &'a Value, element: &str, defect: &str) -> Vec<&'a Value> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["element"] == element && e["defect"] == defect)
        .collect()
}

#[test]
fn one_report_collects_every_branch_bin_and_late_element() {
    init();
    const FPS: u64 = 25;
    let location = tmp("two-branches.json");
    // Branch a: generated frames with a 3 s freeze at 2 s and 3 s of black at 8 s.
    // Branch b: inside a bin, a still test pattern (one freeze, open until EOS).
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{caps}\" ! vqfreeze name=a ! fakesink \
         bin. ( videotestsrc num-buffers=75 pattern=smpte100 ! video/x-raw,format=I420,width=160,height=120,framerate=25/1 ! vqfreeze name=b min-duration=1000000000 ! fakesink ) \
         vqreport name=report location={loc}",
        caps = i420_info(160, 120, FPS as i32).to_caps().unwrap(),
        loc = location.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // Branch c, added while the pipeline runs: 3 s of a still pattern.
    let late = gst::parse::bin_from_description(
        "videotestsrc num-buffers=75 pattern=colors ! video/x-raw,format=NV12,width=96,height=64,framerate=25/1 ! vqfreeze name=c min-duration=1000000000 ! fakesink",
        false,
    )
    .unwrap();

    let info = i420_info(160, 120, FPS as i32);
    let scene = Scene::new(160, 120);
    let src = appsrc(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    pipeline.add(&late).unwrap();
    late.sync_state_with_parent().unwrap();
    for i in 0..12 * FPS {
        let content = if (2 * FPS..5 * FPS).contains(&i) {
            2 * FPS
        } else {
            i
        };
        let shot = Shot {
            content,
            black: (8 * FPS..11 * FPS).contains(&i),
            ..Shot::moving(i)
        };
        let mut b = scene.buffer(&shot, &info);
        stamp(&mut b, i, FPS);
        if (60..63).contains(&i) {
            // A decoder would flag these; vqreport records them next to the freeze they are in.
            b.get_mut().unwrap().set_flags(gst::BufferFlags::CORRUPTED);
        }
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let (reports, app_defects) = run_to_eos_counting(&pipeline);

    // The file, the bus message and the property carry the same final report.
    let text = std::fs::read_to_string(&location).expect("report written");
    let report = validated(&text);
    let finals: Vec<_> = reports.iter().filter(|r| r.0 == "final").collect();
    assert_eq!(finals.len(), 1, "one final report message");
    assert!(finals[0].1, "complete");
    assert_eq!(validated(&finals[0].2), report);
    let prop = pipeline
        .by_name("report")
        .unwrap()
        .property::<Option<String>>("report")
        .unwrap();
    assert_eq!(validated(&prop), report);

    assert_eq!(report["kind"], "final");
    assert_eq!(report["complete"], true);
    assert_eq!(report["element"], "report");
    let names: Vec<_> = report["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["element"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let a = &report["detectors"][0];
    assert_eq!(a["frames"], 12 * FPS);
    assert_eq!(a["duration"], 12 * SECOND);
    assert!(a["caps"].as_str().unwrap().contains("I420"));
    assert_eq!(a["settings"]["min-duration"], 3 * SECOND / 10);
    assert_eq!(a["settings"]["alarm-duration"], 2 * SECOND);

    let f = events(&report, "a", "freeze");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["start"]["running-time"], 2 * SECOND);
    assert_eq!(f[0]["end"]["running-time"], 5 * SECOND);
    assert_eq!(f[0]["duration"], 3 * SECOND);
    assert_eq!(f[0]["end-reason"], "recovered");
    assert_eq!(f[0]["open"], false);
    assert_eq!(f[0]["evidence"]["kind"], "exact");
    assert_eq!(
        f[0]["evidence"]["severity"], "major",
        "3 s: past alarm-duration"
    );
    let b = events(&report, "a", "black");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["start"]["pts"], 8 * SECOND);
    assert_eq!(b[0]["duration"], 3 * SECOND);
    let fb = events(&report, "b", "freeze");
    assert_eq!(fb.len(), 1, "the detector inside the bin");
    assert_eq!(fb[0]["start"]["pts"], 0);
    assert_eq!(fb[0]["end-reason"], "eos");
    assert_eq!(fb[0]["duration"], 3 * SECOND);
    assert_eq!(
        events(&report, "c", "freeze").len(),
        1,
        "the detector added while playing"
    );

    let corrupted: Vec<usize> = report["pipeline-messages"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, m)| m["kind"] == "corrupted")
        .map(|(i, m)| {
            assert_eq!(m["element"], "a");
            assert_eq!(m["details"]["pad"], "sink");
            i
        })
        .collect();
    assert_eq!(corrupted.len(), 3, "{:#}", report["pipeline-messages"]);
    assert_eq!(
        report["pipeline-messages"][corrupted[0]]["running-time"],
        t(60, FPS)
    );
    let related: Vec<usize> = f[0]["related-messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    for c in &corrupted {
        assert!(
            related.contains(c),
            "the corrupted buffers are related to the freeze"
        );
    }
    assert!(
        b[0]["related-messages"].as_array().unwrap().is_empty(),
        "nothing happened near the black"
    );

    // vqreport took nothing from the application: it saw every start and end message too.
    let phases: usize = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| 2 + e["updates"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(app_defects, phases);

    let s = &report["summary"];
    assert_eq!(s["freeze"]["count"], 3);
    assert_eq!(s["freeze"]["open"], 0);
    assert_eq!(s["freeze"]["total-duration"], 9 * SECOND);
    assert_eq!(s["freeze"]["longest-duration"], 3 * SECOND);
    assert_eq!(s["black"]["count"], 1);
    assert_eq!(s["black"]["first-running-time"], 8 * SECOND);
    assert!(s.get("stall").is_none());
}

#[test]
fn a_stopped_pipeline_leaves_an_incomplete_valid_report() {
    init();
    let location = tmp("stopped.json");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc pattern=smpte100 ! video/x-raw,width=160,height=120,framerate=25/1 ! \
         vqfreeze name=detector min-duration=200000000 ! fakesink sync=true vqreport location={}",
        location.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    pipeline.set_state(gst::State::Null).unwrap();
    let report = validated(&std::fs::read_to_string(&location).expect("report written on stop"));
    assert_eq!(report["complete"], false);
    assert_eq!(report["kind"], "final");
    let f = events(&report, "detector", "freeze");
    assert_eq!(f.len(), 1, "{report:#}");
    // vqreport may stop before or after vqfreeze closes its defect: open, or ended as stopped.
    assert!(
        f[0]["open"] == true || f[0]["end-reason"] == "stopped",
        "{:#}",
        f[0]
    );
    assert!(
        std::fs::read_dir(location.parent().unwrap())
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")),
        "no temporary file left"
    );
}

#[test]
fn live_ndjson_summaries_and_event_lines() {
    init();
    let lines_path = tmp("live.ndjson");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=smpte100 ! video/x-raw,width=160,height=120,framerate=25/1 ! \
         vqfreeze min-duration=300000000 update-interval=500000000 ! fakesink \
         vqreport interval=250000000 event-lines=true ndjson-location={}",
        lines_path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1600));
    pipeline.send_event(gst::event::Eos::new());
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos])
        .expect("EOS");
    pipeline.set_state(gst::State::Null).unwrap();

    let text = std::fs::read_to_string(&lines_path).unwrap();
    let lines: Vec<Value> = text.lines().map(validated).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    let summaries = kinds.iter().filter(|k| **k == "summary").count();
    assert!(
        summaries >= 4,
        "a summary every 250 ms for 1.6 s: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"final"), "{kinds:?}");
    let phases: Vec<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "event")
        .map(|l| l["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases.first(), Some(&"start"), "{phases:?}");
    assert!(
        phases.contains(&"update"),
        "heartbeats are lines too: {phases:?}"
    );
    assert_eq!(phases.last(), Some(&"end"), "{phases:?}");
    let last = lines.last().unwrap();
    assert_eq!(last["complete"], true);
    let ev = &last["events"][0];
    assert!(
        ev["start-utc"].is_string(),
        "live pipelines have UTC: {ev:#}"
    );
    assert!(ev["end-utc"].is_string());
    // Every summary lists only what changed since the previous one.
    for l in lines.iter().filter(|l| l["kind"] == "summary") {
        assert!(l["events"].as_array().unwrap().len() <= 1);
    }
}

/// Point events (avsyncmon's `ts-discont` and `timeline-shift`) are closed where they happened:
/// the report, its NDJSON lines and the event lines all validate against the schema.
#[test]
fn point_events_are_valid_closed_events() {
    init();
    let location = tmp("points.json");
    let lines_path = tmp("points.ndjson");
    let report = report_of(
        &format!(
            "videotestsrc num-buffers=75 ! video/x-raw,width=64,height=48,framerate=25/1 ! \
             avsyncmon name=m ! fakesink \
             audiotestsrc num-buffers=150 samplesperbuffer=960 ! \
             audio/x-raw,rate=48000,channels=1 ! vqinject schedule=gap@1s+300ms ! \
             m.audio_sink m.audio_src ! fakesink \
             vqreport location={} event-lines=true ndjson-location={}",
            location.display(),
            lines_path.display()
        ),
        &location,
    );
    // What was watched: no source with a URI here, the host, no label.
    assert_eq!(report["watched"]["sources"], serde_json::json!([]));
    assert!(!report["watched"]["host"].as_str().unwrap().is_empty());
    assert_eq!(report["watched"]["label"], Value::Null);
    let d = events(&report, "m", "ts-discont");
    assert_eq!(d.len(), 1, "{report:#}");
    let d = d[0];
    assert_eq!(d["open"], false);
    assert_eq!(d["end"], d["start"]);
    assert_eq!(d["duration"], 0);
    assert_eq!(d["end-reason"], Value::Null);
    assert_eq!(d["start"]["running-time"], 1_300_000_000u64);
    assert_eq!(d["start-seconds"], 1.3);
    assert_eq!(d["end-seconds"], 1.3);
    assert_eq!(d["duration-seconds"], 0.0);
    let text = std::fs::read_to_string(&lines_path).unwrap();
    let lines: Vec<Value> = text.lines().map(validated).collect();
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "event" && l["phase"] == "point"),
        "{text}"
    );
}

/// Asserts that `path` holds whole NDJSON lines only, each valid against the schema; returns
/// how many.
fn whole_lines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last line: {text}"
    );
    text.lines().map(validated).count()
}

/// NDJSON lines are written whole: under a file size limit (as on a full disk) the line that
/// does not fit is cut back off, a killed process leaves whole lines, and a later run starts on
/// a new line after a torn one.
#[test]
fn ndjson_lines_stay_whole_under_a_size_limit_and_a_kill() {
    init();
    let path = tmp("limited.ndjson");
    let schedule: Vec<String> = (0..16)
        .map(|k| format!("freeze@{}ms+400ms", 200 + 500 * k))
        .collect();
    let launch = format!(
        "gst-launch-1.0 videotestsrc num-buffers=220 pattern=ball ! \
         video/x-raw,width=64,height=48,framerate=25/1 ! vqinject schedule=\"{}\" ! \
         vqfreeze min-duration=200000000 ! fakesink vqreport event-lines=true ndjson-location={}",
        schedule.join(";"),
        path.display()
    );
    // 8 KiB: a few event lines fit, then a write crosses the limit part-way.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -f 8; trap '' XFSZ; exec {launch}"))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Cannot write NDJSON lines"), "{said}");
    let n = whole_lines(&path);
    assert!(n >= 2, "{n} lines");
    assert!(std::fs::metadata(&path).unwrap().len() <= 8192);

    // Killed while writing lines (event updates every 20 ms): whole lines only.
    let path = tmp("killed.ndjson");
    let mut child = std::process::Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "is-live=true",
            "pattern=smpte100",
            "!",
        ])
        .args(["video/x-raw,width=64,height=48,framerate=25/1", "!"])
        .args([
            "vqfreeze",
            "update-interval=20000000",
            "!",
            "fakesink",
            "vqreport",
        ])
        .args(["interval=100000000", "event-lines=true"])
        .arg(format!("ndjson-location={}", path.display()))
        .env("GST_PLUGIN_PATH", plugin_dir())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let before = whole_lines(&path);
    assert!(before >= 20, "{before} lines");
    // A torn line, as a crash in the middle of another writer's line would leave; the next run
    // starts a new line after it.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"kind\":\"eve")
        .unwrap();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=10 ! vqfreeze ! fakesink vqreport ndjson-location={}",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    run_to_eos(&pipeline);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[before], "{\"kind\":\"eve");
    assert_eq!(validated(lines[before + 1])["kind"], "final");
    assert_eq!(lines.len(), before + 2);
}

/// The main text of the error message waiting on the bus of `pipeline`.
fn error_text(pipeline: &gst::Element) -> String {
    let msg = pipeline
        .bus()
        .unwrap()
        .pop_filtered(&[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    e.error().to_string()
}

#[test]
fn an_unwritable_location_fails_at_ready() {
    init();
    for bad in ["/nonexistent-dir/report.json", "/"] {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=5 ! vqfreeze ! fakesink vqreport location={bad}"
        ))
        .unwrap();
        assert!(pipeline.set_state(gst::State::Ready).is_err(), "{bad}");
        let text = error_text(&pipeline);
        assert!(text.contains(bad), "{text}");
        pipeline.set_state(gst::State::Null).unwrap();
    }
    // Outside a pipeline there is no bus to listen to.
    let lone = gst::ElementFactory::make("vqreport").build().unwrap();
    assert!(lone.set_state(gst::State::Ready).is_err());
}

/// A report says what it watched: the label, the host, and each source as a URI (a file
/// location made absolute).
#[test]
fn a_report_says_what_it_watched() {
    init();
    let clip = media_clip("watched", false);
    let location = tmp("watched.json");
    let report = report_of(
        &format!(
            "filesrc name=src location={} ! decodebin ! videoconvert ! vqfreeze ! fakesink \
             vqreport label=\"channel 7\" location={}",
            clip.display(),
            location.display()
        ),
        &location,
    );
    let w = &report["watched"];
    assert_eq!(w["label"], "channel 7");
    assert_eq!(w["host"], gst::glib::host_name().as_str());
    let uri = gst::glib::filename_to_uri(&clip, None).unwrap();
    assert_eq!(
        w["sources"],
        serde_json::json!([{ "element": "src", "uri": uri.as_str() }])
    );
    let e = &report["events"][0];
    assert_eq!(
        e["start-seconds"].as_f64().unwrap(),
        e["start"]["running-time"].as_u64().unwrap() as f64 / 1e9
    );
}

/// The application's `analysis` (a JSON object) is written into the report as it was given;
/// anything else fails at READY with the reason, and without it the report has no `analysis`.
#[test]
fn an_application_says_what_it_analysed() {
    init();
    let launch = |analysis: Option<&str>, location: &Path| {
        let p = gst::parse::launch(&format!(
            "videotestsrc num-buffers=5 ! vqfreeze ! fakesink vqreport name=r location={}",
            location.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        if let Some(a) = analysis {
            p.by_name("r").unwrap().set_property("analysis", a);
        }
        p
    };
    let location = tmp("analysis.json");
    let given = r#"{"tool": "test", "not-analysed": [{"what": "audio", "reason": "none"}]}"#;
    let p = launch(Some(given), &location);
    run_to_eos(&p);
    let report = validated(&std::fs::read_to_string(&location).unwrap());
    assert_eq!(
        report["analysis"],
        serde_json::from_str::<Value>(given).unwrap()
    );
    let p = launch(None, &location);
    run_to_eos(&p);
    let report = validated(&std::fs::read_to_string(&location).unwrap());
    assert!(report.get("analysis").is_none(), "{report:#}");
    for bad in ["[1, 2]", "{\"unclosed\": ", "plain text"] {
        let p = launch(Some(bad), &location);
        assert!(p.set_state(gst::State::Ready).is_err(), "{bad}");
        let text = error_text(p.upcast_ref());
        assert!(
            text.contains("analysis must be a JSON object"),
            "{bad}: {text}"
        );
        p.set_state(gst::State::Null).unwrap();
    }
}

/// A summary interval under 100 ms (1 ns wrote 18 MB/s) is refused at READY with the reason.
#[test]
fn a_flooding_interval_fails_at_ready() {
    init();
    for (interval, ok) in [
        (1u64, false),
        (99_999_999, false),
        (100_000_000, true),
        (0, true),
    ] {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=5 ! vqfreeze ! fakesink vqreport interval={interval}"
        ))
        .unwrap();
        assert_eq!(
            pipeline.set_state(gst::State::Ready).is_ok(),
            ok,
            "{interval}"
        );
        if !ok {
            let text = error_text(&pipeline);
            assert!(text.contains("at least 100 ms"), "{text}");
        }
        pipeline.set_state(gst::State::Null).unwrap();
    }
}

/// The temporary file of a writer killed mid-write is removed by the next run; a live
/// writer's is left alone.
#[test]
fn stale_temporary_reports_are_removed() {
    init();
    let location = tmp("stale.json");
    let dir = location.parent().unwrap();
    // A pid above the kernel's pid_max cannot be running.
    let dead = dir.join("stale.json.99999999.tmp");
    // pid 1 always runs.
    let alive = dir.join("stale.json.1.tmp");
    let other = dir.join("stale.json.notes.tmp");
    for f in [&dead, &alive, &other] {
        std::fs::write(f, "{\"partial").unwrap();
    }
    report_of(
        &format!(
            "videotestsrc num-buffers=5 ! vqfreeze ! fakesink vqreport location={}",
            location.display()
        ),
        &location,
    );
    assert!(!dead.exists());
    assert!(alive.exists() && other.exists());
    std::fs::remove_file(&alive).unwrap();
    std::fs::remove_file(&other).unwrap();
}

/// Replaces what changes from run to run (wall-clock times, version) so layouts can be compared.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "created-utc" | "version" | "host" => *x = Value::String(format!("<{k}>")),
                    _ => normalize(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => (),
    }
}

#[test]
fn golden_report_layout() {
    init();
    const FPS: u64 = 25;
    let location = tmp("golden.json");
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{caps}\" ! vqfreeze name=detector min-duration=1000000000 ! fakesink \
         vqreport name=golden location={loc}",
        caps = i420_info(64, 48, FPS as i32).to_caps().unwrap(),
        loc = location.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // Default names count per process; tests run in parallel in one.
    pipeline.set_property("name", "golden-pipeline");
    let info = i420_info(64, 48, FPS as i32);
    let scene = Scene::new(64, 48);
    let src = appsrc(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    // Motion, a 2 s freeze at 1 s, 1.2 s of black (too short), a 1 s gap (no stall), a 3 s stall.
    let frames = (0..5 * FPS)
        .chain(6 * FPS..7 * FPS)
        .chain(10 * FPS..12 * FPS);
    for i in frames {
        let content = if (FPS..3 * FPS).contains(&i) { FPS } else { i };
        let shot = Shot {
            content,
            black: (3 * FPS..4 * FPS + 5).contains(&i),
            ..Shot::moving(i)
        };
        let mut b = scene.buffer(&shot, &info);
        stamp(&mut b, i, FPS);
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    run_to_eos(&pipeline);
    let mut report = validated(&std::fs::read_to_string(&location).unwrap());
    normalize(&mut report);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vqreport-final.json");
    if std::env::var_os("VQMON_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(
            &golden,
            serde_json::to_string_pretty(&report).unwrap() + "\n",
        )
        .unwrap();
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(&golden)
            .expect("tests/golden/vqreport-final.json (VQMON_BLESS=1 writes it)"),
    )
    .unwrap();
    assert_eq!(
        report,
        expected,
        "the report layout changed; if on purpose, bump the schema version if needed and run with VQMON_BLESS=1:\n{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
}

#[test]
fn warnings_and_qos_drops_are_recorded() {
    init();
    let location = tmp("qos.json");
    // Buffers without timestamps make vqfreeze warn; a sink that cannot keep up drops late frames
    // and says so with QoS messages.
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{caps}\" ! vqfreeze name=detector ! fakesink \
         videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48,framerate=50/1 ! \
         identity sleep-time=40000 ! fakesink name=slow sync=true qos=true max-lateness=1000000 \
         vqreport location={loc}",
        caps = i420_info(64, 48, 25).to_caps().unwrap(),
        loc = location.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let info = i420_info(64, 48, 25);
    let scene = Scene::new(64, 48);
    let src = appsrc(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..10 {
        let mut b = scene.buffer(&Shot::moving(i), &info);
        b.get_mut()
            .unwrap()
            .set_duration(gst::ClockTime::from_mseconds(40));
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    run_to_eos(&pipeline);
    let report = validated(&std::fs::read_to_string(&location).unwrap());
    let msgs = report["pipeline-messages"].as_array().unwrap();
    let warning = msgs
        .iter()
        .find(|m| m["kind"] == "warning")
        .expect("vqfreeze's warning");
    assert!(
        warning["element"].as_str().unwrap().ends_with("detector"),
        "{warning:#}"
    );
    assert!(
        warning["text"].as_str().unwrap().contains("timestamps"),
        "{warning:#}"
    );
    let qos: Vec<_> = msgs.iter().filter(|m| m["kind"] == "qos").collect();
    assert!(!qos.is_empty(), "QoS drops recorded: {msgs:#?}");
    assert!(qos[0]["element"].as_str().unwrap().ends_with("slow"));
    assert!(qos[0]["running-time"].is_u64());
}
