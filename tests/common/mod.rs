// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Test media made by the tests themselves: a textured, moving scene with defects at known frames.
#![allow(dead_code)]

use gst::prelude::*;
use gst_video::prelude::*;
use gstvqmon::{DefectMessage, Measurement, Phase};
use std::sync::Once;

pub mod avsignal;
pub mod h264;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstvqmon::plugin_register_static().expect("vqmon plugin registers");
    });
}

pub const SECOND: u64 = 1_000_000_000;

/// Small deterministic generator (LCG), so every run sees the same media.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u32) -> bool {
        self.next_u32().is_multiple_of(n)
    }
    pub fn unit(&mut self) -> f64 {
        self.next_u32() as f64 / (1u64 << 31) as f64
    }
    /// Approximately Gaussian, unit variance.
    pub fn gauss(&mut self) -> f64 {
        (0..4).map(|_| self.unit()).sum::<f64>() * 1.732 - 3.464
    }
}

/// What one output frame shows.
#[derive(Clone, Copy, Debug)]
pub struct Shot {
    /// Content index: frames with the same index show the same picture (before grain).
    pub content: u64,
    /// Horizontal pan in pixels per content step.
    pub pan: f64,
    /// Number of moving objects.
    pub objects: u32,
    /// Grain standard deviation in code values (fresh grain every frame), 0 for none.
    pub grain: f64,
    /// Seed of the grain of this frame.
    pub grain_seed: u64,
    /// Fade factor applied around mid grey (1.0 = none, 0.0 = flat grey).
    pub fade: f64,
    /// A black picture (limited-range black).
    pub black: bool,
    /// On a black picture: a small textured logo (1 % of the picture), placed by `content`.
    pub logo: bool,
    /// Small distant motion only: a static background and one small object moving.
    pub quiet: bool,
    /// A ticker (moving stripes) in the top-right 25% x 10% of the picture.
    pub ticker: bool,
    /// A dash two rows high (on odd rows) moving 4 pixels per frame across the middle.
    pub thin_dash: bool,
}

impl Shot {
    pub fn moving(i: u64) -> Self {
        Shot {
            content: i,
            pan: 3.0,
            objects: 3,
            grain: 0.0,
            grain_seed: i,
            fade: 1.0,
            black: false,
            logo: false,
            quiet: false,
            ticker: false,
            thin_dash: false,
        }
    }
}

/// A textured scene, larger than the picture so that it can pan.
pub struct Scene {
    pub width: usize,
    pub height: usize,
    canvas_w: usize,
    canvas: Vec<u8>,
}

impl Scene {
    pub fn new(width: usize, height: usize) -> Self {
        let canvas_w = width + 4096;
        let mut rng = Rng::new(7);
        // Value noise on an 8-pixel lattice, bilinear, plus fine detail: looks like natural texture.
        let gw = canvas_w / 8 + 2;
        let gh = height / 8 + 2;
        let lattice: Vec<f64> = (0..gw * gh).map(|_| 40.0 + 160.0 * rng.unit()).collect();
        let mut canvas = vec![0u8; canvas_w * height];
        for y in 0..height {
            for x in 0..canvas_w {
                let (gx, gy) = (x / 8, y / 8);
                let (fx, fy) = ((x % 8) as f64 / 8.0, (y % 8) as f64 / 8.0);
                let l = |a: usize, b: usize| lattice[b * gw + a];
                let v = l(gx, gy) * (1.0 - fx) * (1.0 - fy)
                    + l(gx + 1, gy) * fx * (1.0 - fy)
                    + l(gx, gy + 1) * (1.0 - fx) * fy
                    + l(gx + 1, gy + 1) * fx * fy
                    + 12.0 * (rng.unit() - 0.5);
                canvas[y * canvas_w + x] = v.clamp(16.0, 235.0) as u8;
            }
        }
        Scene {
            width,
            height,
            canvas_w,
            canvas,
        }
    }

    /// Renders the luma of `shot` into `out` (`stride` bytes per row).
    pub fn render_luma(&self, shot: &Shot, out: &mut [u8], stride: usize) {
        let (w, h) = (self.width, self.height);
        if shot.black {
            for y in 0..h {
                out[y * stride..y * stride + w].fill(16);
            }
            if shot.logo {
                // A 10 % x 10 % corner of the scene's texture, brightened, wandering with content.
                let (lw, lh) = ((w / 10).max(2), (h / 10).max(2));
                let x0 = (shot.content as usize * 3) % (w - lw);
                let y0 = (shot.content as usize * 2) % (h - lh);
                for y in 0..lh {
                    for x in 0..lw {
                        let v = self.canvas[y * self.canvas_w + x].saturating_add(40);
                        out[(y0 + y) * stride + x0 + x] = v;
                    }
                }
            }
            return;
        }
        let c = shot.content as f64;
        let span = (self.canvas_w - w) as f64;
        let off = if shot.quiet {
            0
        } else {
            ((c * shot.pan) % span) as usize
        };
        for y in 0..h {
            let src = &self.canvas[y * self.canvas_w + off..y * self.canvas_w + off + w];
            out[y * stride..y * stride + w].copy_from_slice(src);
        }
        let mut draw_box = |bx: i64, by: i64, size: i64, val: u8| {
            for y in by.max(0)..(by + size).min(h as i64) {
                for x in bx.max(0)..(bx + size).min(w as i64) {
                    out[y as usize * stride + x as usize] = val;
                }
            }
        };
        if shot.quiet {
            // One 8x8 object, far away, walking 2 pixels per frame.
            let x = (20.0 + (c * 2.0) % (w as f64 - 40.0)) as i64;
            draw_box(x, h as i64 / 3, 8, 220);
        } else {
            for k in 0..shot.objects as i64 {
                let size = (w.min(h) as i64 / 8).max(2);
                let x = ((c * (4.0 + 3.0 * k as f64) + 50.0 * k as f64) % (w as f64)) as i64;
                let y = ((c * (2.0 + k as f64) + 30.0 * k as f64) % (h as f64)) as i64;
                draw_box(x, y, size, if k % 2 == 0 { 230 } else { 25 });
            }
        }
        if shot.ticker {
            // Stripes scrolling 4 pixels per frame in the top-right corner.
            let (x0, y1) = (w * 3 / 4, (h / 10).max(1));
            for y in 0..y1 {
                for x in x0..w {
                    let phase = (x + (shot.grain_seed as usize) * 4) / 6;
                    out[y * stride + x] = if phase.is_multiple_of(2) { 220 } else { 30 };
                }
            }
        }
        if shot.thin_dash {
            let y = (h / 2) | 1;
            let x0 = (shot.grain_seed as usize * 4) % w.max(1);
            for yy in y..(y + 2).min(h) {
                for x in x0..(x0 + 24).min(w) {
                    out[yy * stride + x] = 235;
                }
            }
        }
        if shot.fade != 1.0 {
            for y in 0..h {
                for v in &mut out[y * stride..y * stride + w] {
                    *v = (128.0 + (*v as f64 - 128.0) * shot.fade).round() as u8;
                }
            }
        }
        if shot.grain > 0.0 {
            let mut rng = Rng::new(shot.grain_seed.wrapping_add(1_000_003));
            for y in 0..h {
                for v in &mut out[y * stride..y * stride + w] {
                    *v = (*v as f64 + shot.grain * rng.gauss())
                        .round()
                        .clamp(0.0, 255.0) as u8;
                }
            }
        }
    }

    /// An I420 buffer of `shot` (chroma flat), laid out as GStreamer lays out I420 of this size.
    pub fn buffer(&self, shot: &Shot, info: &gst_video::VideoInfo) -> gst::Buffer {
        let mut buf = gst::Buffer::with_size(info.size()).unwrap();
        {
            let bref = buf.get_mut().unwrap();
            let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(bref, info).unwrap();
            let stride = frame.plane_stride()[0] as usize;
            self.render_luma(shot, frame.plane_data_mut(0).unwrap(), stride);
            for p in 1..frame.n_planes() {
                frame.plane_data_mut(p).unwrap().fill(128);
            }
        }
        buf
    }
}

pub fn i420_info(w: u32, h: u32, fps: i32) -> gst_video::VideoInfo {
    init();
    gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, w, h)
        .fps(gst::Fraction::new(fps, 1))
        .build()
        .unwrap()
}

/// Timestamps buffer `i` of a `fps` stream.
pub fn stamp(buf: &mut gst::Buffer, i: u64, fps: u64) {
    let b = buf.get_mut().unwrap();
    b.set_pts(gst::ClockTime::from_nseconds(i * SECOND / fps));
    b.set_duration(gst::ClockTime::from_nseconds(
        (i + 1) * SECOND / fps - i * SECOND / fps,
    ));
}

/// Frame times of frame `i` at `fps`, in ns.
pub fn t(i: u64, fps: u64) -> u64 {
    i * SECOND / fps
}

/// Pulls every vqmon defect message from a bus.
pub fn drain_defects(bus: &gst::Bus) -> Vec<DefectMessage> {
    let mut out = Vec::new();
    while let Some(msg) = bus.pop() {
        if let Some(parsed) = DefectMessage::from_message(&msg) {
            out.push(parsed.expect("every vqmon message parses"));
        }
    }
    out
}

/// A playing harness around `element` with `props`, caps from `info` and its own bus.
pub fn harness_on_bus(
    element: &str,
    props: &[(&str, glib::Value)],
    info: &gst_video::VideoInfo,
) -> (gst_check::Harness, gst::Bus) {
    init();
    let mut h = gst_check::Harness::new(element);
    let elem = h.element().unwrap();
    for (k, v) in props {
        elem.set_property_from_value(k, v);
    }
    let bus = gst::Bus::new();
    elem.set_bus(Some(&bus));
    h.set_src_caps(info.to_caps().unwrap());
    h.play();
    (h, bus)
}

/// Runs `frames` through a harnessed `vqfreeze` with `props`, then EOS. Returns the defect
/// messages and the buffers that came out.
pub fn run_harness(
    props: &[(&str, glib::Value)],
    info: &gst_video::VideoInfo,
    frames: impl IntoIterator<Item = gst::Buffer>,
) -> (Vec<DefectMessage>, Vec<gst::Buffer>) {
    let (mut h, bus) = harness_on_bus("vqfreeze", props, info);
    let mut out = Vec::new();
    for b in frames {
        assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok));
        while let Some(o) = h.try_pull() {
            out.push(o);
        }
    }
    assert!(h.push_event(gst::event::Eos::new()));
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    (drain_defects(&bus), out)
}

use gst::glib;

/// The (start, end) messages of each defect of type `defect`, paired by id, in order.
pub fn intervals<'a>(
    msgs: &'a [DefectMessage],
    defect: &str,
) -> Vec<(&'a DefectMessage, &'a DefectMessage)> {
    let mut res = Vec::new();
    for s in msgs
        .iter()
        .filter(|m| m.defect == defect && m.phase == Phase::Start)
    {
        let e = msgs
            .iter()
            .find(|m| m.defect == defect && m.phase == Phase::End && m.id == s.id)
            .unwrap_or_else(|| panic!("{defect} {} has no end message: {msgs:#?}", s.id));
        res.push((s, e));
    }
    // Every end has a start.
    for e in msgs
        .iter()
        .filter(|m| m.defect == defect && m.phase == Phase::End)
    {
        assert!(
            res.iter().any(|(s, _)| s.id == e.id),
            "end without start: {e:?}"
        );
    }
    res
}

/// One line per message, for assertion output.
pub fn summary(msgs: &[DefectMessage]) -> String {
    let f = |t: Option<gst::ClockTime>| {
        t.map_or("-".to_string(), |t| {
            format!("{:.3}", t.nseconds() as f64 / 1e9)
        })
    };
    msgs.iter()
        .map(|m| {
            format!(
                "{} {} #{} rt {} .. {} dur {} {:?} {}\n",
                m.defect,
                m.phase.as_str(),
                m.id,
                f(m.start.running_time),
                f(m.end.and_then(|e| e.running_time)),
                f(m.duration),
                m.end_reason,
                m.evidence.as_ref().map_or(String::new(), |e| e.to_string())
            )
        })
        .collect()
}

pub fn ns(t: Option<gst::ClockTime>) -> u64 {
    t.expect("time is set").nseconds()
}

/// Evidence field as a string.
pub fn evidence_str(m: &DefectMessage, field: &str) -> String {
    m.evidence.as_ref().unwrap().get::<String>(field).unwrap()
}

pub fn evidence_u64(m: &DefectMessage, field: &str) -> u64 {
    m.evidence.as_ref().unwrap().get::<u64>(field).unwrap()
}

pub fn evidence_i64(m: &DefectMessage, field: &str) -> i64 {
    m.evidence.as_ref().unwrap().get::<i64>(field).unwrap()
}

/// Everything vqmon elements post on a bus, parsed: ground truth (vqinject), defects,
/// measurements, warnings and errors.
#[derive(Default, Debug)]
pub struct BusLog {
    pub truth: Vec<DefectMessage>,
    pub defects: Vec<DefectMessage>,
    pub measurements: Vec<Measurement>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

impl BusLog {
    pub fn add(&mut self, msg: &gst::Message) {
        if let Some(d) = DefectMessage::from_injection_message(msg) {
            self.truth.push(d.expect("every injection message parses"));
        } else if let Some(d) = DefectMessage::from_message(msg) {
            self.defects.push(d.expect("every vqmon message parses"));
        } else if let Some(m) = Measurement::from_message(msg) {
            self.measurements.push(m.expect("every measurement parses"));
        } else if let gst::MessageView::Warning(w) = msg.view() {
            self.warnings.push(w.error().to_string());
        } else if let gst::MessageView::Error(e) = msg.view() {
            self.errors.push(format!("{} ({:?})", e.error(), e.debug()));
        }
    }

    /// Adds every message waiting on `bus`.
    pub fn drain(&mut self, bus: &gst::Bus) {
        while let Some(msg) = bus.pop() {
            self.add(&msg);
        }
    }

    /// Measurements of `source` (`test-signal` or `content`).
    pub fn measurements_from(&self, source: &str) -> impl Iterator<Item = &Measurement> {
        self.measurements
            .iter()
            .filter(move |m| m.values.get::<String>("source").unwrap() == source)
    }
}

/// Plays `p`, calls `feed` (appsrc pushing), collects the bus until EOS or an error and stops the
/// pipeline. Fails on any error message.
pub fn run_to_eos(p: &gst::Pipeline, feed: impl FnOnce(&gst::Pipeline)) -> BusLog {
    p.set_state(gst::State::Playing).unwrap();
    feed(p);
    let mut log = BusLog::default();
    for msg in p
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(180))
    {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(_) => {
                log.add(&msg);
                break;
            }
            _ => log.add(&msg),
        }
    }
    p.set_state(gst::State::Null).unwrap();
    assert!(log.errors.is_empty(), "{:?}", log.errors);
    log
}

/// The element named `src` of `pipeline` as an unbounded AppSrc (tests push whole streams at once).
pub fn appsrc(pipeline: &gst::Pipeline) -> gst_app::AppSrc {
    let src = pipeline
        .by_name("src")
        .expect("an element named src")
        .downcast::<gst_app::AppSrc>()
        .expect("src is an appsrc");
    src.set_max_bytes(0);
    src
}

/// Runs a pipeline `appsrc name=src ! <rest>` fed with `frames`; returns defects and errors.
pub fn run_appsrc_pipeline(
    rest: &str,
    info: &gst_video::VideoInfo,
    frames: impl IntoIterator<Item = gst::Buffer>,
) -> (Vec<DefectMessage>, Vec<String>) {
    init();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{}\" ! {rest}",
        info.to_caps().unwrap()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = appsrc(&pipeline);
    src.set_block(false);
    pipeline.set_state(gst::State::Playing).unwrap();
    for b in frames {
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    let mut defects = Vec::new();
    let mut errors = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                errors.push(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            _ => {
                if let Some(d) = DefectMessage::from_message(&msg) {
                    defects.push(d.unwrap());
                }
            }
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (defects, errors)
}

/// A small H.264/MP4 clip in the temporary directory: 1 s of the moving textured scene, then 3 s
/// of one held picture (so one freeze from 1 s, open at EOS), with 4 s of AAC audio when `audio`.
pub fn media_clip(tag: &str, audio: bool) -> std::path::PathBuf {
    init();
    const FPS: u64 = 25;
    let path = std::env::temp_dir().join(format!("vqmon-{tag}-{}.mp4", std::process::id()));
    let info = i420_info(320, 240, FPS as i32);
    let audio_branch = if audio {
        "audiotestsrc num-buffers=172 ! audio/x-raw,rate=44100 ! audioconvert ! avenc_aac ! mux."
    } else {
        ""
    };
    let desc = format!(
        "appsrc name=src format=time caps=\"{}\" ! x264enc threads=1 bitrate=4000 key-int-max=25 ! mux. \
         {audio_branch} mp4mux name=mux ! filesink location={}",
        info.to_caps().unwrap(),
        path.display()
    );
    let p = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = appsrc(&p);
    p.set_state(gst::State::Playing).unwrap();
    let scene = Scene::new(320, 240);
    for i in 0..4 * FPS {
        let mut b = scene.buffer(
            &Shot {
                content: i.min(FPS),
                ..Shot::moving(i)
            },
            &info,
        );
        stamp(&mut b, i, FPS);
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    wait_eos(&p);
    p.set_state(gst::State::Null).unwrap();
    path
}

/// Waits up to 60 s for the pipeline's EOS; an error or a timeout fails the test.
pub fn wait_eos(p: &gst::Pipeline) {
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS within 60 s");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
}

static REPORT_SCHEMA: std::sync::LazyLock<jsonschema::Validator> = std::sync::LazyLock::new(|| {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/vqreport.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema compiles")
});

/// Parses one vqreport report or NDJSON line and validates it against docs/vqreport.schema.json.
pub fn validated(text: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let errors: Vec<String> = REPORT_SCHEMA
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}\n{text}");
    v
}

/// The folder holding the libgstvqmon.so that cargo built with these tests.
pub fn plugin_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libgstvqmon.so").exists(),
        "no plugin in {}: build it first (cargo build --lib; make test does)",
        dir.display()
    );
    dir
}

/// Runs `desc` to the end and returns the text of its first error, if any.
pub fn first_error(desc: &str) -> Option<String> {
    init();
    let p = gst::parse::launch(desc).unwrap();
    let bus = p.bus().unwrap();
    let _ = p.set_state(gst::State::Playing);
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Eos(_) => break,
            _ => (),
        }
    }
    p.set_state(gst::State::Null).unwrap();
    error
}

/// Runs `desc`, which must fail with an error whose text contains `part`.
pub fn assert_fails_with(desc: &str, part: &str) {
    let e = first_error(desc).unwrap_or_else(|| panic!("{desc}: ran without an error"));
    assert!(e.contains(part), "{desc}: {e}");
}
