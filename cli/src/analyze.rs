// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `vqmon analyze`: one pipeline per input (uridecodebin, the detectors that apply to each
//! stream, vqreport), run to EOS with a progress bar and the defects printed as they open and
//! close, then the summary and the verdict.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::html::{self, Series, Thumbnails};
use crate::input::{self, Media};
use crate::plan::Plan;
use crate::profile::{self, Profile, Used};
use crate::set::{self, Setting};
use crate::summary::{self, Cost};
use crate::{AnalyzeArgs, Severity};

/// Exit statuses.
pub const CLEAN: u8 = 0;
pub const DEFECTS: u8 = 1;
pub const NOT_ANALYSED: u8 = 2;

/// How often the progress is refreshed.
const TICK: Duration = Duration::from_millis(250);
/// How long the pipeline may take to reach EOS once it was sent.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Set by Ctrl-C: every running input stops (EOS) and is reported on what it analysed.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What became of one input.
struct Outcome {
    input: String,
    plan: Option<Plan>,
    report: Option<Value>,
    cost: Cost,
    error: Option<String>,
}

impl Outcome {
    fn status(&self, fail_on: Severity) -> u8 {
        if self.error.is_some() {
            return NOT_ANALYSED;
        }
        match &self.report {
            Some(r) if summary::failing(&summary::events(r), fail_on) > 0 => DEFECTS,
            Some(_) => CLEAN,
            None => NOT_ANALYSED,
        }
    }
}

pub fn run(args: &AnalyzeArgs) -> u8 {
    let profile = match args.profile.as_deref().map(profile::load).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vqmon: {e}");
            return NOT_ANALYSED;
        }
    };
    // The profile first, the command line after it: the last value set wins.
    let mut settings = profile.as_ref().map_or(Vec::new(), |p| p.settings.clone());
    for s in &args.sets {
        match set::parse(s) {
            Ok(s) => settings.push(s),
            Err(e) => {
                eprintln!("vqmon: {e}");
                return NOT_ANALYSED;
            }
        }
    }
    let fail_on = args
        .fail_on
        .or(profile.as_ref().and_then(|p| p.fail_on))
        .unwrap_or(Severity::Major);
    // A second Ctrl-C is not caught: the first has the inputs stop cleanly.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
    });
    let multi = MultiProgress::new();
    if args.quiet {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    let n = args.inputs.len();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..n).map(|_| None).collect());
    let jobs = usize::from(args.jobs).min(n);
    let job = Job {
        args,
        settings: &settings,
        profile: profile.as_ref().map(Profile::used),
        fail_on,
        multi: &multi,
        n,
        jobs,
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let o = analyse(&args.inputs[i], i, &job);
                    outcomes.lock().unwrap()[i] = Some(o);
                }
            });
        }
    });
    let outcomes: Vec<Outcome> = outcomes
        .into_inner()
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let mut status = CLEAN;
    for o in &outcomes {
        if let Some(plan) = &o.plan {
            print!(
                "{}",
                summary::render(plan, o.report.as_ref(), &o.cost, fail_on)
            );
        }
        if let Some(e) = &o.error {
            if o.plan.is_none() {
                println!("\n== {}", o.input);
            }
            println!("  not analysed: {e}");
            eprintln!("vqmon: {}: {e}", o.input);
        }
        status = status.max(o.status(fail_on));
    }
    if n > 1 {
        println!("\n{:<8} input", "verdict");
        for o in &outcomes {
            println!("{:<8} {}", verdict(o.status(fail_on)), o.input);
        }
    }
    println!("\nverdict: {}", verdict(status));
    status
}

fn verdict(status: u8) -> &'static str {
    match status {
        CLEAN => "pass",
        DEFECTS => "fail",
        _ => "not analysed",
    }
}

/// `path` for input `i` of `n`: REPORT-1.json, REPORT-2.json, ... when there are several.
fn numbered(path: &Path, i: usize, n: usize) -> PathBuf {
    if n == 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{}.{}", i + 1, ext.to_string_lossy()),
        None => format!("{stem}-{}", i + 1),
    };
    path.with_file_name(name)
}

/// What every input of a run shares.
struct Job<'a> {
    args: &'a AnalyzeArgs,
    /// The profile's settings, then the command line's.
    settings: &'a [Setting],
    profile: Option<Used>,
    fail_on: Severity,
    multi: &'a MultiProgress,
    /// Inputs, and inputs analysed at once.
    n: usize,
    jobs: usize,
}

fn analyse(input: &str, i: usize, job: &Job) -> Outcome {
    let Job {
        args,
        settings,
        multi,
        n,
        jobs,
        ..
    } = *job;
    let mut out = Outcome {
        input: input.to_string(),
        plan: None,
        report: None,
        cost: Cost::default(),
        error: None,
    };
    let discovered = match input::to_uri(input).and_then(|uri| input::discover(&uri)) {
        Ok(d) => d,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let mut plan = Plan::new(&discovered);
    plan.profile = job.profile.clone();
    plan.overrides = args.sets.clone();
    out.plan = Some(plan.clone());
    let report_path = args.report.as_deref().map(|p| numbered(p, i, n));
    let ndjson_path = args.ndjson.as_deref().map(|p| numbered(p, i, n));
    let run = Run::build(&discovered.uri, &plan, settings, report_path, ndjson_path);
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let name = Path::new(input)
        .file_name()
        .map_or(input.to_string(), |f| f.to_string_lossy().to_string());
    let bar = multi.add(match discovered.duration {
        Some(d) => ProgressBar::new(d.mseconds()).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
                .unwrap()
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{prefix} {spinner} {msg}").unwrap()),
    });
    bar.set_prefix(name.clone());
    let print = |line: String| {
        if args.quiet {
        } else if multi.is_hidden() {
            eprintln!("{line}");
        } else {
            multi.println(line).ok();
        }
    };
    let cpu0 = (jobs == 1).then(process_cpu_ns).flatten();
    let t0 = Instant::now();
    let mut series = Series::default();
    let stop = args.duration.map(|s| (s * 1e9) as u64);
    let result = run.play(&bar, discovered.duration, stop, &mut series, |line| {
        print(format!("{name}: {line}"))
    });
    let wall = t0.elapsed().as_nanos() as u64;
    bar.finish_and_clear();
    multi.remove(&bar);
    out.cost = Cost {
        media_ns: run.position().or(discovered.duration.map(|d| d.nseconds())),
        wall_ns: Some(wall),
        cpu_ns: cpu0.and_then(|c0| process_cpu_ns().map(|c| c.saturating_sub(c0))),
        detectors_ns: Some(run.taps.cost.busy.load(Ordering::Relaxed)),
        frames: run.taps.cost.frames.load(Ordering::Relaxed),
    };
    out.report = run.finish();
    match result {
        Err(e) => out.error = Some(e),
        Ok(()) if !plan.analyses_something() => {
            let why: Vec<String> = plan
                .not_analysed
                .iter()
                .map(|n| format!("{}: {}", n.what, n.reason))
                .collect();
            out.error = Some(format!(
                "nothing in it could be analysed ({})",
                why.join("; ")
            ));
        }
        Ok(()) if out.report.is_none() => {
            out.error = Some("vqreport wrote no final report".into());
        }
        Ok(()) => (),
    }
    if let (Some(path), Some(report)) = (args.html.as_deref(), out.report.as_ref()) {
        let path = numbered(path, i, n);
        let written = html::render(
            &plan,
            &summary::events(report),
            &out.cost,
            &series,
            &run.thumbnails(),
            job.fail_on,
        )
        .and_then(|text| std::fs::write(&path, text).map_err(|e| e.to_string()));
        if let Err(e) = written {
            out.error.get_or_insert(format!(
                "the HTML report {} cannot be written: {e}",
                path.display()
            ));
        }
    }
    out
}

/// The time the detectors take, measured between a probe where a buffer enters the first
/// detector of a branch and one where it leaves the last (same streaming thread).
#[derive(Default)]
pub(crate) struct BusyTime {
    pub(crate) busy: AtomicU64,
    /// Video frames that reached the end of the first video branch.
    pub(crate) frames: AtomicU64,
    /// Monotonic time (us, glib) a buffer last left the detectors of any branch; 0 before.
    pub(crate) last_buffer_us: std::sync::atomic::AtomicI64,
}

/// The frame each video branch is analysing now (a reference, no copy), and the defects'
/// first frames taken from it when they start.
#[derive(Default)]
pub(crate) struct Frames {
    pub(crate) current: Mutex<Vec<(gst::glib::WeakRef<gst::Pad>, Option<gst::Buffer>)>>,
    taken: Mutex<Vec<(String, u64, gst::Sample)>>,
}

/// Thumbnails taken at most per input.
const MAX_THUMBNAILS: usize = 64;
/// Their width in pixels.
const THUMBNAIL_WIDTH: i32 = 192;

/// What the branches' probes feed.
#[derive(Default)]
pub(crate) struct Taps {
    pub(crate) cost: BusyTime,
    pub(crate) frames: Frames,
    /// The branches end in sinks that follow the clock (vqmon monitor: files play in real
    /// time); vqmon analyze runs as fast as it can.
    pub(crate) realtime: bool,
}

struct Run {
    pipeline: gst::Pipeline,
    taps: Arc<Taps>,
}

impl Run {
    fn build(
        uri: &str,
        plan: &Plan,
        settings: &[Setting],
        report: Option<PathBuf>,
        ndjson: Option<PathBuf>,
    ) -> Result<Run, String> {
        let make = |factory: &str, name: Option<String>| element(factory, name, settings);
        let pipeline = gst::Pipeline::with_name("vqmon-analyze");
        let src = make("uridecodebin", None)?;
        src.set_property("uri", uri);
        let vqreport = make("vqreport", Some("vqreport0".into()))?;
        vqreport.set_property(
            "analysis",
            serde_json::to_string(plan).map_err(|e| e.to_string())?,
        );
        if let Some(p) = report {
            vqreport.set_property("location", p.to_string_lossy().to_string());
        }
        if let Some(p) = ndjson {
            vqreport.set_property("ndjson-location", p.to_string_lossy().to_string());
            vqreport.set_property("event-lines", true);
        }
        pipeline
            .add_many([&src, &vqreport])
            .map_err(|e| e.to_string())?;
        let avsync = match plan.avsync {
            Some(_) => {
                let a = make("avsyncmon", Some("avsyncmon0".into()))?;
                pipeline.add(&a).map_err(|e| e.to_string())?;
                Some(a)
            }
            None => None,
        };
        let taps = Arc::new(Taps::default());
        let videos = plan.streams.iter().filter(|s| s.media == "video").count();
        taps.frames
            .current
            .lock()
            .unwrap()
            .resize_with(videos, || (gst::glib::WeakRef::new(), None));
        let counts = Mutex::new([0usize; 3]);
        let weak = pipeline.downgrade();
        let settings = settings.to_vec();
        let branch_taps = taps.clone();
        let avsync_at = plan.avsync;
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let media = input::media_of(&caps);
            let index = {
                let mut c = counts.lock().unwrap();
                let i = c[media as usize];
                c[media as usize] += 1;
                i
            };
            if let Err(e) = link_branch(
                &pipeline,
                pad,
                media,
                index,
                avsync.as_ref().filter(|_| {
                    avsync_at.is_some_and(|(v, a)| match media {
                        Media::Video => v == index,
                        Media::Audio => a == index,
                        Media::Other => false,
                    })
                }),
                &settings,
                &branch_taps,
            ) {
                gst::element_error!(
                    pipeline,
                    gst::CoreError::Negotiation,
                    ("cannot analyse {} stream {index}: {e}", media.as_str())
                );
            }
        });
        // A defect's first frame: taken in the thread that posts its start, while the branch
        // is on that frame.
        let bus = pipeline.bus().unwrap();
        bus.enable_sync_message_emission();
        let taker = taps.clone();
        bus.connect_sync_message(Some("element"), move |_, msg| {
            take_frame(&taker.frames, msg);
        });
        Ok(Run { pipeline, taps })
    }

    /// Runs to EOS, refreshing `bar` and passing each defect's start and end to `line`. At
    /// `stop` (media time, ns) or on Ctrl-C it sends EOS, so that the detectors close what is open
    /// and vqreport writes a complete report of what was analysed.
    fn play(
        &self,
        bar: &ProgressBar,
        duration: Option<gst::ClockTime>,
        stop: Option<u64>,
        series: &mut Series,
        line: impl Fn(String),
    ) -> Result<(), String> {
        let bus = self.pipeline.bus().unwrap();
        if self.pipeline.set_state(gst::State::Playing).is_err() {
            return Err(first_error(&bus).unwrap_or_else(|| "the pipeline cannot start".into()));
        }
        let started = Instant::now();
        let mut stopping: Option<Instant> = None;
        let (mut started_defects, mut open) = (0u64, 0i64);
        loop {
            if let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(TICK.as_nanos() as u64))
            {
                match msg.view() {
                    gst::MessageView::Eos(_) => return Ok(()),
                    gst::MessageView::Error(e) => return Err(input::explain(e)),
                    gst::MessageView::Element(m) => match m.structure() {
                        Some(s) if s.name() == "vqmon-defect" => {
                            match s.get::<&str>("phase") {
                                Ok("start") => {
                                    (started_defects, open) = (started_defects + 1, open + 1)
                                }
                                Ok("point") => started_defects += 1,
                                Ok("end") => open -= 1,
                                _ => (),
                            }
                            if let Some(text) = defect_line(s) {
                                line(text);
                            }
                        }
                        Some(s) if s.name() == "vqmon-measurement" => measurement(s, series),
                        _ => (),
                    },
                    _ => (),
                }
            }
            let pos = self.position();
            let interrupted = INTERRUPTED.load(Ordering::Relaxed);
            if stopping.is_none() && (interrupted || stop.zip(pos).is_some_and(|(s, p)| p >= s)) {
                line(format!(
                    "{} at {}: stopping",
                    if interrupted {
                        "interrupted"
                    } else {
                        "--duration reached"
                    },
                    summary::hms(pos)
                ));
                self.pipeline.send_event(gst::event::Eos::new());
                stopping = Some(Instant::now());
            }
            if stopping.is_some_and(|t| t.elapsed() > STOP_TIMEOUT) {
                return Err(format!(
                    "the pipeline did not stop within {} s of EOS",
                    STOP_TIMEOUT.as_secs()
                ));
            }
            let elapsed = started.elapsed().as_nanos() as u64;
            let speed = pos
                .filter(|_| elapsed > 0)
                .map(|p| p as f64 / elapsed as f64);
            match duration {
                // A file: where, how fast, how long still.
                Some(d) => {
                    if let Some(p) = pos {
                        bar.set_position(p / 1_000_000);
                    }
                    let eta = match (pos, speed) {
                        (Some(p), Some(s)) if s > 0.0 => {
                            Some((d.nseconds().saturating_sub(p) as f64 / s) as u64)
                        }
                        _ => None,
                    };
                    bar.set_message(format!(
                        "{} / {}  {}  ETA {}",
                        summary::hms(pos),
                        summary::hms(Some(d.nseconds())),
                        speed.map_or("-".into(), |s| format!("{s:.1}x")),
                        summary::hms(eta)
                    ));
                }
                // A live stream (or one of unknown length): a running status line.
                None => {
                    bar.tick();
                    bar.set_message(format!(
                        "{} analysed, {started_defects} defects, {open} open{}",
                        summary::hms(pos),
                        if stopping.is_some() { ", stopping" } else { "" }
                    ));
                }
            }
        }
    }

    fn position(&self) -> Option<u64> {
        self.pipeline
            .query_position::<gst::ClockTime>()
            .map(|p| p.nseconds())
    }

    /// The first frames of the defects, as PNG thumbnails.
    fn thumbnails(&self) -> Thumbnails {
        let taken = std::mem::take(&mut *self.taps.frames.taken.lock().unwrap());
        let mut out = Thumbnails::new();
        for (element, id, sample) in taken {
            let Some(info) = sample
                .caps()
                .and_then(|c| gst_video::VideoInfo::from_caps(c).ok())
            else {
                continue;
            };
            let h = (i64::from(THUMBNAIL_WIDTH) * i64::from(info.height())
                / i64::from(info.width().max(1))) as i32
                & !1;
            let caps = gst::Caps::builder("image/png")
                .field("width", THUMBNAIL_WIDTH)
                .field("height", h.max(2))
                .build();
            if let Ok(png) =
                gst_video::convert_sample(&sample, &caps, Some(gst::ClockTime::from_seconds(5)))
                && let Some(buf) = png.buffer()
                && let Ok(map) = buf.map_readable()
            {
                out.insert((element, id), map.to_vec());
            }
        }
        out
    }

    /// Stops the pipeline and returns vqreport's final report (written at EOS, or when the
    /// pipeline stops before it).
    fn finish(&self) -> Option<Value> {
        let _ = self.pipeline.set_state(gst::State::Null);
        let v = self.pipeline.by_name("vqreport0")?;
        let text = v.property::<Option<String>>("report")?;
        let report: Value = serde_json::from_str(&text).ok()?;
        (report["kind"] == "final").then_some(report)
    }
}

fn first_error(bus: &gst::Bus) -> Option<String> {
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(input::explain(e));
        }
    }
    None
}

/// Keeps the frame a defect starts on (sync handler, in the posting thread): the frame of the
/// video branch of the posting element (a second video stream's detectors end in `1`; avsyncmon
/// watches the first).
fn take_frame(frames: &Frames, msg: &gst::MessageRef) {
    let Some(s) = msg.structure() else { return };
    if s.name() != "vqmon-defect" || !matches!(s.get::<&str>("phase"), Ok("start" | "point")) {
        return;
    }
    let (Ok(element), Ok(id)) = (s.get::<&str>("element"), s.get::<u64>("id")) else {
        return;
    };
    let branch = element
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse::<usize>()
        .unwrap_or(0);
    let (pad, buffer) = {
        let current = frames.current.lock().unwrap();
        match current.get(branch) {
            Some((pad, Some(buf))) => (pad.upgrade(), buf.clone()),
            _ => return,
        }
    };
    let mut taken = frames.taken.lock().unwrap();
    if taken.len() >= MAX_THUMBNAILS {
        return;
    }
    if let Some(caps) = pad.and_then(|p| p.current_caps()) {
        let sample = gst::Sample::builder().buffer(&buffer).caps(&caps).build();
        taken.push((element.to_string(), id, sample));
    }
}

/// Keeps the values the HTML report plots: blockiness and A/V offsets.
fn measurement(s: &gst::StructureRef, series: &mut Series) {
    let (Ok(name), Ok(element), Ok(values)) = (
        s.get::<&str>("measurement"),
        s.get::<&str>("element"),
        s.get::<gst::Structure>("values"),
    ) else {
        return;
    };
    let Some(t) = s
        .get::<u64>("stream-time")
        .ok()
        .filter(|&t| t != u64::MAX)
        .or_else(|| s.get::<u64>("running-time").ok())
        .map(|ns| ns as f64 / 1e9)
    else {
        return;
    };
    match name {
        "blockiness" => {
            if let Ok(mean) = values.get::<f64>("mean") {
                series.blockiness.push((element.to_string(), t, mean));
            }
        }
        "av-offset" if values.get::<bool>("available").unwrap_or(false) => {
            if let Ok(offset) = values.get::<i64>("offset") {
                let source = values.get::<&str>("source").unwrap_or("?").to_string();
                series.av_offset.push((t, offset as f64 / 1e6, source));
            }
        }
        _ => (),
    }
}

/// A defect message as a progress line: starts and ends (and points), not updates.
fn defect_line(s: &gst::StructureRef) -> Option<String> {
    let phase = s.get::<&str>("phase").ok()?;
    let defect = s.get::<&str>("defect").ok()?;
    let element = s.get::<&str>("element").unwrap_or("?");
    let time = |k: &str| s.get::<u64>(k).ok().filter(|&t| t != u64::MAX);
    let start = time("stream-time").or(time("running-time"));
    Some(match phase {
        "start" => format!("{defect} started at {} ({element})", summary::hms(start)),
        "point" => format!("{defect} at {} ({element})", summary::hms(start)),
        "end" => format!(
            "{defect} from {} ended at {} ({element}, {})",
            summary::hms(start),
            summary::hms(time("end-stream-time").or(time("end-running-time"))),
            s.get::<&str>("end-reason").unwrap_or("-")
        ),
        _ => return None,
    })
}

/// A new element of `factory`, named `name`, with the `--set` settings that concern it. vqartifact
/// posts its blockiness every second unless told otherwise (the HTML report plots it).
pub(crate) fn element(
    factory: &str,
    name: Option<String>,
    settings: &[Setting],
) -> Result<gst::Element, String> {
    let mut b = gst::ElementFactory::make(factory);
    if let Some(n) = name {
        b = b.name(n);
    }
    if factory == "vqartifact" {
        b = b.property("measurement-interval", 1_000_000_000u64);
    }
    let e = b
        .build()
        .map_err(|e| format!("the element {factory} is missing: {e}"))?;
    set::apply(&e, settings);
    Ok(e)
}

/// Links a decoded stream to its detectors and a sink.
pub(crate) fn link_branch(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    media: Media,
    index: usize,
    avsync: Option<&gst::Element>,
    settings: &[Setting],
    taps: &Arc<Taps>,
) -> Result<(), String> {
    let make = |factory: &str, name: Option<String>| element(factory, name, settings);
    let mut chain = vec![make("queue", None)?];
    // Where the detectors begin and end.
    let mut detectors: Vec<gst::Element> = Vec::new();
    match media {
        Media::Video => {
            chain.push(make("videoconvert", None)?);
            detectors.push(make("vqfreeze", Some(format!("vqfreeze{index}")))?);
            detectors.push(make("vqartifact", Some(format!("vqartifact{index}")))?);
        }
        Media::Audio => {
            chain.push(make("audioconvert", None)?);
            detectors.push(make("vqaudio", Some(format!("vqaudio{index}")))?);
        }
        Media::Other => (),
    }
    let sink = make("fakesink", None)?;
    sink.set_property("sync", taps.realtime);
    let all: Vec<&gst::Element> = chain.iter().chain(&detectors).chain([&sink]).collect();
    pipeline
        .add_many(all.iter().copied())
        .map_err(|e| e.to_string())?;
    let before_sink: Vec<&gst::Element> = chain.iter().chain(&detectors).collect();
    gst::Element::link_many(before_sink.iter().copied()).map_err(|e| e.to_string())?;
    let last = *before_sink.last().unwrap();
    let (entry, exit) = match avsync {
        Some(a) => {
            let (sink_pad, src_pad) = match media {
                Media::Video => ("video_sink", "video_src"),
                _ => ("audio_sink", "audio_src"),
            };
            last.link_pads(Some("src"), a, Some(sink_pad))
                .map_err(|e| e.to_string())?;
            a.link_pads(Some(src_pad), &sink, Some("sink"))
                .map_err(|e| e.to_string())?;
            (
                detectors
                    .first()
                    .and_then(|d| d.static_pad("sink"))
                    .or_else(|| a.static_pad(sink_pad)),
                sink.static_pad("sink"),
            )
        }
        None => {
            last.link(&sink).map_err(|e| e.to_string())?;
            (
                detectors.first().and_then(|d| d.static_pad("sink")),
                sink.static_pad("sink"),
            )
        }
    };
    if let (Some(entry), Some(exit)) = (entry, exit) {
        let since: Arc<Mutex<Option<Instant>>> = Arc::default();
        let s = since.clone();
        // The video branch's current frame, for the thumbnail of a defect that starts on it;
        // kept until the next one, since a stall starts while no frame flows and shows the last.
        let slot = (media == Media::Video).then(|| {
            if let Some(c) = taps.frames.current.lock().unwrap().get_mut(index) {
                c.0 = entry.downgrade();
            }
            (taps.clone(), index)
        });
        entry.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            *s.lock().unwrap() = Some(Instant::now());
            if let (Some((taps, i)), Some(buf)) = (&slot, info.buffer())
                && let Some(c) = taps.frames.current.lock().unwrap().get_mut(*i)
            {
                c.1 = Some(buf.to_owned());
            }
            gst::PadProbeReturn::Ok
        });
        let taps = taps.clone();
        let count_frames = media == Media::Video && index == 0;
        exit.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if let Some(t) = since.lock().unwrap().take() {
                taps.cost
                    .busy
                    .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            if count_frames {
                taps.cost.frames.fetch_add(1, Ordering::Relaxed);
            }
            taps.cost
                .last_buffer_us
                .store(gst::glib::monotonic_time(), Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    for e in all {
        e.sync_state_with_parent().map_err(|e| e.to_string())?;
    }
    let queue_sink = chain[0].static_pad("sink").unwrap();
    pad.link(&queue_sink).map_err(|e| e.to_string())?;
    Ok(())
}

/// CPU time of the whole process (user and system, all threads) in ns, from /proc.
fn process_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 in the /proc ABI on every Linux architecture.
    Some(ticks * 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_numbered_with_several_inputs() {
        let p = Path::new("/tmp/out.json");
        assert_eq!(numbered(p, 0, 1), PathBuf::from("/tmp/out.json"));
        assert_eq!(numbered(p, 1, 3), PathBuf::from("/tmp/out-2.json"));
        assert_eq!(numbered(Path::new("r"), 0, 2), PathBuf::from("r-1"));
    }

    #[test]
    fn cpu_time_is_read() {
        assert!(process_cpu_ns().is_some());
    }
}
