// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `vqmon analyze` run as a user runs it, on files the tests make: H.264 + AAC in MP4 with
//! defects injected before encoding (vqinject), clean, audio-only, missing and corrupt files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gst::prelude::*;
use serde_json::Value;

mod common;

use common::{FPS, init, run_to_eos};

fn dir() -> PathBuf {
    common::dir("analyze")
}

/// Writes an MP4 of `seconds` s in the test directory (see [`common::make`]).
fn make(name: &str, seconds: u64, video: Option<&str>, audio: bool) -> PathBuf {
    common::make(&dir().join(name), seconds, video, audio)
}

fn vqmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vqmon"))
        .args(args)
        .env_remove("GST_PLUGIN_PATH")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn validate(report: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../../docs/vqreport.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// A detector's setting as the report lists it.
fn setting(report: &Value, factory: &str, property: &str) -> Value {
    report["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["factory"] == factory)
        .unwrap()["settings"][property]
        .clone()
}

/// (defect, start s) of the report's events.
fn defects(report: &Value) -> Vec<(String, f64)> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["defect"].as_str().unwrap().to_string(),
                e["start"]["stream-time"].as_u64().unwrap() as f64 / 1e9,
            )
        })
        .collect()
}

/// Injected freeze and black on video with sound: each found at its time, exit 1, a report valid
/// against the schema that says what was analysed; the summary names the defects.
#[test]
fn injected_defects_are_found_and_fail() {
    let f = make(
        "defects.mp4",
        12,
        Some("freeze@2s+3s; black@7s+2500ms"),
        true,
    );
    let r = dir().join("defects.json");
    let nd = dir().join("defects.ndjson");
    let _ = std::fs::remove_file(&nd);
    let o = vqmon(&[
        "analyze",
        f.to_str().unwrap(),
        "--report",
        r.to_str().unwrap(),
        "--ndjson",
        nd.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let rep = report(&r);
    validate(&rep);
    assert_eq!(rep["complete"], true);
    let found = defects(&rep);
    let major: Vec<&(String, f64)> = found
        .iter()
        .filter(|(d, _)| d == "freeze" || d == "black")
        .collect();
    assert_eq!(major.len(), 2, "{found:?}");
    assert_eq!(major[0].0, "freeze");
    assert!((major[0].1 - 2.0).abs() < 0.05, "{found:?}");
    assert_eq!(major[1].0, "black");
    assert!((major[1].1 - 7.0).abs() < 0.05, "{found:?}");
    // What ran on what.
    let streams = rep["analysis"]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    assert_eq!(
        streams[0]["detectors"],
        serde_json::json!(["vqfreeze0", "vqartifact0", "avsyncmon0"])
    );
    assert_eq!(
        streams[1]["detectors"],
        serde_json::json!(["vqaudio0", "avsyncmon0"])
    );
    // The summary: the table and the worst events with clock times; the defects as they happen.
    assert!(out.contains("freeze"), "{out}");
    assert!(out.contains("00:00:02.000 - 00:00:05.000"), "{out}");
    assert!(out.contains("verdict: fail"), "{out}");
    assert!(
        err.contains("freeze started at 00:00:02.000 (vqfreeze0)"),
        "{err}"
    );
    // Every event line of the NDJSON file is valid too.
    let lines = std::fs::read_to_string(&nd).unwrap();
    assert!(lines.lines().count() >= 4, "{lines}");
    for l in lines.lines() {
        validate(&serde_json::from_str(l).unwrap());
    }
}

/// The HTML report in a real browser (Debian's Chromium, headless): the timeline has a lane per
/// detector and defect type, the event table a row per event with its first frame, and the page
/// fetches nothing. A screenshot is left in target/vqmon-report.png.
#[test]
fn html_report_in_a_browser() {
    let f = make("html.mp4", 12, Some("freeze@2s+3s; black@7s+2500ms"), true);
    let page = dir().join("report.html");
    let o = vqmon(&[
        "analyze",
        "-q",
        f.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let chromium = |extra: &[&str]| {
        let mut args = vec![
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2200",
        ];
        args.extend_from_slice(extra);
        let uri = format!("file://{}", page.display());
        args.push(&uri);
        Command::new("chromium")
            .args(&args)
            .output()
            .expect("chromium (Debian package chromium, installed by scripts/install-deps.sh)")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The lanes, as the browser parsed the inline SVG (text on a line of its own).
    let words = dom.split_whitespace().collect::<Vec<_>>().join(" ");
    for lane in ["vqfreeze0 freeze", "vqfreeze0 black"] {
        assert!(
            words.contains(&format!("> {lane} </text>")),
            "lane {lane}: {dom}"
        );
    }
    let rows = dom.matches("<tr class=\"event ").count();
    assert!(rows >= 2, "{dom}");
    assert!(
        dom.contains("data-defect=\"freeze\" data-element=\"vqfreeze0\""),
        "{dom}"
    );
    assert!(dom.contains("data-defect=\"black\""), "{dom}");
    assert_eq!(
        dom.matches("src=\"data:image/png;base64,").count(),
        rows,
        "{dom}"
    );
    assert!(dom.contains("verdict: fail"), "{dom}");
    assert!(!dom.contains("src=\"http") && !dom.contains("href=\"http"));
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("vqmon-report.png");
    let s = chromium(&[&format!("--screenshot={}", shot.display())]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

/// A clean file passes; `--fail-on minor` fails on a short freeze that `major` lets pass.
#[test]
fn clean_passes_and_fail_on_sets_the_bar() {
    let clean = make("clean.mp4", 6, Some(""), true);
    let o = vqmon(&["analyze", clean.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("no defect found"), "{out}");
    assert!(out.contains("verdict: pass"), "{out}");

    let short = make("short-freeze.mp4", 6, Some("freeze@2s+1s"), false);
    let o = vqmon(&["analyze", "-q", short.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("minor freeze"), "{out}");
    assert!(err.is_empty(), "quiet: {err}");
    let o = vqmon(&[
        "analyze",
        "-q",
        "--fail-on",
        "minor",
        short.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}

/// Profiles: `broadcast` reports freezes from 2 s (FFmpeg's default), so a 1 s freeze is not
/// one (vqfreeze calls its repeated frames stutter, minor); `strict` fails on minor defects; a user's file is read, the command line wins over it,
/// a bad one is refused; the report records the profile and the overrides.
#[test]
fn profiles_set_thresholds_and_the_bar() {
    let short = make("profile-freeze.mp4", 6, Some("freeze@2s+1s"), false);
    let short = short.to_str().unwrap();
    let status = |extra: &[&str]| {
        let mut a = vec!["analyze", "-q", short];
        a.extend_from_slice(extra);
        let o = vqmon(&a);
        (o.status.code(), text(&o).0, text(&o).1)
    };
    let (code, out, _) = status(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("minor freeze"), "{out}");
    let (code, out, _) = status(&["--profile", "broadcast"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("freeze "), "{out}");
    let (code, out, _) = status(&["--profile", "strict"]);
    assert_eq!(code, Some(1), "{out}");

    let mine = dir().join("mine.toml");
    std::fs::write(
        &mine,
        "description = \"mine\"\nfail-on = \"minor\"\n[vqartifact]\nedge-step = 30\n",
    )
    .unwrap();
    let r = dir().join("profile.json");
    let (code, out, _) = status(&[
        "--profile",
        mine.to_str().unwrap(),
        "--report",
        r.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{out}");
    let rep = report(&r);
    validate(&rep);
    assert_eq!(rep["analysis"]["profile"]["name"], "mine");
    assert_eq!(
        rep["analysis"]["profile"]["settings"],
        serde_json::json!(["vqartifact.edge-step=30"])
    );
    assert_eq!(setting(&rep, "vqartifact", "edge-step"), 30.0);
    // The command line wins: --fail-on and --set after the profile.
    let (code, out, _) = status(&[
        "--profile",
        mine.to_str().unwrap(),
        "--fail-on",
        "major",
        "--set",
        "vqartifact.edge-step=25",
        "--report",
        r.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    let rep = report(&r);
    assert_eq!(
        rep["analysis"]["overrides"],
        serde_json::json!(["vqartifact.edge-step=25"])
    );
    assert_eq!(setting(&rep, "vqartifact", "edge-step"), 25.0);

    std::fs::write(&mine, "[vqfreeze]\nmin-duration = \"soon\"\n").unwrap();
    let (code, _, err) = status(&["--profile", mine.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("'soon' is not a valid guint64"), "{err}");
    let (code, _, err) = status(&["--profile", "nosuch"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no profile 'nosuch'"), "{err}");
    let o = vqmon(&["profiles"]);
    assert!(
        text(&o)
            .0
            .contains("--set vqfreeze.min-duration=2000000000"),
        "{:?}",
        text(&o)
    );
}

/// A live MPEG-TS stream over UDP: discovered while playing, watched with a running status until
/// `--duration`, or until Ctrl-C (SIGINT), then reported on what was analysed (complete: EOS was
/// sent through the pipeline). The injected freeze is found.
#[test]
fn live_udp_until_duration_or_ctrl_c() {
    init();
    let port = 20_000 + std::process::id() % 20_000;
    let sender = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=zone-plate kt=2 kx2=20 ky2=20 ! \
         video/x-raw,width=320,height=240,framerate={FPS}/1 ! vqinject schedule=\"freeze@3s+3s\" ! \
         videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast \
         key-int-max=25 ! h264parse ! mpegtsmux ! udpsink host=127.0.0.1 port={port}"
    ))
    .unwrap();
    sender.set_state(gst::State::Playing).unwrap();
    let uri = format!("udp://127.0.0.1:{port}");
    let r = dir().join("live.json");
    let o = vqmon(&[
        "analyze",
        &uri,
        "--duration",
        "8",
        "--report",
        r.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains(&format!("== {uri} (live)")), "{out}");
    assert!(err.contains("--duration reached at 00:00:08"), "{err}");
    assert!(err.contains("freeze started at"), "{err}");
    let rep = report(&r);
    validate(&rep);
    assert_eq!(rep["complete"], true);
    assert_eq!(rep["analysis"]["live"], true);
    assert_eq!(defects(&rep)[0].0, "freeze");

    // Ctrl-C: the same, stopped by the user.
    let child = Command::new(env!("CARGO_BIN_EXE_vqmon"))
        .args(["analyze", "-q", &uri, "--report", r.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    sender.set_state(gst::State::Null).unwrap();
    let (out, err) = text(&o);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{out}\n{err}");
    assert!(out.contains("verdict: "), "{out}");
    let rep = report(&r);
    validate(&rep);
    assert_eq!(rep["complete"], true);
    let frames = rep["detectors"][0]["frames"].as_u64().unwrap();
    assert!(frames > 25, "{frames}");
}

/// Audio only: vqaudio analyses it, and the missing video is said. A clean tone passes with
/// the element defaults; the broadcast profile judges its loudness against EBU R128 and fails it.
#[test]
fn audio_only_is_analysed_and_judged() {
    let f = make("audio-only.m4a", 4, None, true);
    let r = dir().join("audio-only.json");
    let o = vqmon(&[
        "analyze",
        f.to_str().unwrap(),
        "--report",
        r.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("[vqaudio0]"), "{out}");
    assert!(
        out.contains("not analysed: video detectors (vqfreeze, vqartifact) (no video stream)"),
        "{out}"
    );
    assert!(out.contains("verdict: pass"), "{out}");
    let rep = report(&r);
    validate(&rep);
    let reasons: Vec<&str> = rep["analysis"]["not-analysed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"no video stream"), "{reasons:?}");
    let detectors = rep["detectors"].as_array().unwrap();
    assert_eq!(detectors.len(), 1, "{detectors:?}");
    assert_eq!(detectors[0]["factory"], "vqaudio");
    // 4 s of samples, analysed.
    assert_eq!(
        detectors[0]["stats"]["samples"].as_u64().unwrap() / 48_000,
        4
    );

    // The tone is about -11 LUFS: far above EBU R128's -23 +/- 1.
    let o = vqmon(&[
        "analyze",
        f.to_str().unwrap(),
        "--profile",
        "broadcast",
        "--report",
        r.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let rep = report(&r);
    validate(&rep);
    let found = defects(&rep);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "loudness");
    assert!(out.contains("verdict: fail"), "{out}");
    assert!(out.contains("loudness vqaudio0: integrated -"), "{out}");
    assert!(out.contains("LUFS, LRA 0.0 LU, true peak"), "{out}");
    assert!(out.contains(": fail (ebu-r128)"), "{out}");
}

/// A missing file, a file that is no media, a bad --set: exit 2 and a message naming the cause.
#[test]
fn what_cannot_be_analysed_says_why() {
    let o = vqmon(&["analyze", "/nonexistent/clip.mp4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("/nonexistent/clip.mp4: no such file"),
        "{:?}",
        text(&o)
    );

    let junk = dir().join("junk.mp4");
    std::fs::write(
        &junk,
        (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let o = vqmon(&["analyze", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("unsupported format"), "{:?}", text(&o));

    let clean = make("for-set.mp4", 2, Some(""), false);
    let o = vqmon(&[
        "analyze",
        "--set",
        "vqfreeze.min-durat=1",
        clean.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("bad --set 'vqfreeze.min-durat=1': vqfreeze has no property 'min-durat'"),
        "{:?}",
        text(&o)
    );
    // A good --set reaches the element: the report lists the setting.
    let r = dir().join("for-set.json");
    let o = vqmon(&[
        "analyze",
        "-q",
        "--set",
        "vqartifact.edge-step=25",
        "--report",
        r.to_str().unwrap(),
        clean.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let rep = report(&r);
    assert_eq!(setting(&rep, "vqartifact", "edge-step"), 25.0);
}

/// MPEG-TS with a KLV metadata stream no decoder reads: beside video, the summary and the report
/// name it as not analysed; alone, the input cannot be analysed (exit 2) and the message says
/// which decoder is missing.
#[test]
fn streams_without_a_decoder_are_named() {
    init();
    let klv = "fakesrc num-buffers=10 sizetype=fixed sizemax=16 filltype=zero format=time \
               datarate=400 ! identity datarate=400 ! meta/x-klv,parsed=true ! m.";
    let write = |name: &str, video: bool| {
        let path = dir().join(name);
        let v = if video {
            "videotestsrc num-buffers=50 ! video/x-raw,width=320,height=240,format=I420,\
             framerate=25/1 ! x264enc speed-preset=ultrafast ! h264parse ! m."
        } else {
            ""
        };
        run_to_eos(&format!(
            "mpegtsmux name=m ! filesink location=\"{}\" {v} {klv}",
            path.display()
        ));
        path
    };
    let both = write("klv-video.ts", true);
    let r = dir().join("klv.json");
    let o = vqmon(&[
        "analyze",
        "-q",
        both.to_str().unwrap(),
        "--report",
        r.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("not analysed: meta/x-klv (no decoder installed for it)"),
        "{out}"
    );
    let rep = report(&r);
    assert!(
        rep["analysis"]["not-analysed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["what"] == "meta/x-klv" && n["reason"] == "no decoder installed for it"),
        "{rep:#}"
    );
    let alone = write("klv-only.ts", false);
    let o = vqmon(&["analyze", "-q", alone.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("no decoder installed for KLV Metadata"),
        "{err}"
    );
}

/// Two inputs, two jobs: a report each, numbered in the order given, and one verdict per input;
/// the exit status is the worst.
#[test]
fn several_inputs_in_parallel() {
    let a = make("multi-a.mp4", 5, Some(""), false);
    let b = make("multi-b.mp4", 5, Some("freeze@1s+3s"), false);
    let r = dir().join("multi.json");
    let o = vqmon(&[
        "analyze",
        "--jobs",
        "2",
        "-q",
        "--report",
        r.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let ra = report(&dir().join("multi-1.json"));
    let rb = report(&dir().join("multi-2.json"));
    assert!(
        ra["analysis"]["input"]
            .as_str()
            .unwrap()
            .ends_with("multi-a.mp4")
    );
    assert!(defects(&ra).is_empty(), "{:?}", defects(&ra));
    assert_eq!(defects(&rb)[0].0, "freeze");
    assert!(out.contains(&format!("pass     {}", a.display())), "{out}");
    assert!(out.contains(&format!("fail     {}", b.display())), "{out}");
}
