// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

// Lock order: `settings` is only copied out; `state` is held while a buffer is changed, never
// while a message is posted.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;

use std::sync::{LazyLock, Mutex};

use super::picture::{self, Plane, Rect, Rng};
use super::schedule::{self, Entry, Kind, Media};
use crate::luma::LumaLayout;
use crate::message::{self, DefectMessage, EndReason, Phase, Stamp};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "vqinject",
        gst::DebugColorFlags::empty(),
        Some("vqmon defect injector"),
    )
});

#[derive(Debug, Clone, Default)]
struct Settings {
    schedule: String,
    location: Option<String>,
    seed: u64,
}

enum Format {
    Video {
        info: gst_video::VideoInfo,
        layout: Option<LumaLayout>,
    },
    Audio {
        info: gst_audio::AudioInfo,
    },
}

/// One injection in progress.
struct Active {
    entry: Entry,
    id: u64,
    start: Stamp,
    start_rt: u64,
    end_rt: u64,
    rng: Rng,
    region: Option<Rect>,
    /// Freeze: the held picture; stutter: the previous picture; offset: the delay line.
    held: Vec<u8>,
    pos: usize,
    next_repeat: u64,
    /// Stutter: frames of the current hitch still to show the held picture.
    repeats_left: u64,
    /// Stutter: hitches made.
    holds: u64,
    buffers: u64,
    changed: u64,
    warned: bool,
}

struct State {
    format: Option<Format>,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    pending: Vec<Entry>,
    active: Vec<Active>,
    next_id: u64,
    count: u64,
    /// Audio timestamp shift accumulated by drift injections (ns).
    shift: i64,
    /// Running time where the last buffer ended, for injections still open at EOS.
    last_end_rt: u64,
}

impl State {
    fn new(entries: Vec<Entry>) -> Self {
        State {
            format: None,
            segment: None,
            pending: entries,
            active: Vec::new(),
            next_id: 0,
            count: 0,
            shift: 0,
            last_end_rt: 0,
        }
    }

    fn media(&self) -> Option<Media> {
        match self.format {
            Some(Format::Video { .. }) => Some(Media::Video),
            Some(Format::Audio { .. }) => Some(Media::Audio),
            None => None,
        }
    }
}

/// What to post once the lock is released.
enum Post {
    Start(Injected),
    End(Injected, Stamp, u64, EndReason),
    Warning(String),
}

/// The part of an injection its ground-truth message needs.
#[derive(Clone)]
struct Injected {
    entry: Entry,
    id: u64,
    start: Stamp,
    start_rt: u64,
    region: Option<Rect>,
    buffers: u64,
    changed: u64,
    /// Stutter: hitches made.
    holds: u64,
    seed: u64,
}

impl Active {
    fn summary(&self, seed: u64) -> Injected {
        Injected {
            entry: self.entry.clone(),
            id: self.id,
            start: self.start,
            start_rt: self.start_rt,
            region: self.region,
            buffers: self.buffers,
            changed: self.changed,
            holds: self.holds,
            seed,
        }
    }
}

#[derive(Default)]
pub struct VqInject {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

/// Largest schedule file read: a schedule is text of a few lines; a device or a huge file is a
/// mistake that must not hang the state change or fill memory.
const MAX_SCHEDULE_FILE: u64 = 1 << 20;

fn read_schedule_file(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_SCHEDULE_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SCHEDULE_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            MAX_SCHEDULE_FILE / 1024
        )));
    }
    Ok(text)
}

impl VqInject {
    fn load_schedule(&self, s: &Settings) -> Result<Vec<Entry>, String> {
        let mut text = s.schedule.clone();
        if let Some(path) = &s.location {
            let file = read_schedule_file(path)
                .map_err(|e| format!("cannot read schedule file {path}: {e}"))?;
            text.push('\n');
            text.push_str(&file);
        }
        schedule::parse(&text).map_err(|e| format!("invalid schedule: {e}"))
    }

    fn times(&self, state: &State, buf: &gst::BufferRef) -> Option<(u64, Stamp)> {
        let seg = state.segment.as_ref()?;
        let pts = buf.pts()?;
        let rt = seg.to_running_time(pts)?;
        Some((
            rt.nseconds(),
            Stamp {
                pts: Some(pts),
                running_time: Some(rt),
                stream_time: seg.to_stream_time(pts),
            },
        ))
    }

    /// Starts and ends injections at this buffer; returns whether it must be changed.
    fn plan(&self, buf: &gst::BufferRef, posts: &mut Vec<Post>) -> bool {
        let seed = self.settings.lock().unwrap().seed;
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            return false;
        };
        let Some(media) = state.media() else {
            return false;
        };
        let Some((rt, stamp)) = self.times(state, buf) else {
            return state.shift != 0;
        };
        // End what is over: the exclusive end is this buffer.
        let mut k = 0;
        while k < state.active.len() {
            if rt >= state.active[k].end_rt {
                let a = state.active.remove(k);
                posts.push(Post::End(a.summary(seed), stamp, rt, EndReason::Recovered));
            } else {
                k += 1;
            }
        }
        // Start what is due.
        let mut k = 0;
        while k < state.pending.len() {
            let e = &state.pending[k];
            if e.kind.media() != media {
                k += 1;
                continue;
            }
            let start = e.start.unwrap_or(rt);
            if start > rt {
                k += 1;
                continue;
            }
            let mut entry = state.pending.remove(k);
            entry.start = Some(start);
            let end_rt = start + entry.duration;
            if rt >= end_rt {
                posts.push(Post::Warning(format!(
                    "injection '{}' was due before the stream reached it; skipped",
                    entry.text
                )));
                continue;
            }
            state.next_id += 1;
            state.count += 1;
            let id = state.next_id;
            let mut rng = Rng::new(seed ^ (id.wrapping_mul(0x2545_F491_4F6C_DD1D)));
            let region = match (&state.format, entry.kind) {
                (Some(Format::Video { info, .. }), Kind::Corrupt { area }) => {
                    Some(picture::region(
                        info.width() as usize,
                        info.height() as usize,
                        area,
                        &mut rng,
                    ))
                }
                _ => None,
            };
            let held = match (&state.format, entry.kind) {
                (Some(Format::Audio { info }), Kind::Offset { ns }) => {
                    let frames = (ns as u128 * info.rate() as u128 / 1_000_000_000) as usize;
                    let mut v = vec![0u8; frames * info.bpf() as usize];
                    info.format_info().fill_silence(&mut v);
                    v
                }
                _ => Vec::new(),
            };
            let every = match entry.kind {
                Kind::Stutter { every, .. } => every as u64,
                _ => 0,
            };
            let a = Active {
                entry,
                id,
                start: stamp,
                start_rt: rt,
                end_rt,
                next_repeat: if every > 0 {
                    every / 2 + rng.below(every / 2)
                } else {
                    0
                },
                rng,
                region,
                held,
                pos: 0,
                repeats_left: 0,
                holds: 0,
                buffers: 0,
                changed: 0,
                warned: false,
            };
            posts.push(Post::Start(a.summary(seed)));
            state.active.push(a);
        }
        !state.active.is_empty() || state.shift != 0
    }

    fn apply_video(
        &self,
        state: &mut State,
        buf: &mut gst::BufferRef,
        posts: &mut Vec<Post>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(Format::Video { info, layout }) = state.format.as_ref() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let (info, layout) = (info.clone(), *layout);
        for a in state.active.iter_mut() {
            a.buffers += 1;
            match a.entry.kind {
                Kind::Drop => {
                    a.changed += 1;
                    return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
                }
                Kind::Freeze { noise } => {
                    let Ok(mut map) = buf.map_writable() else {
                        continue;
                    };
                    if a.held.is_empty() {
                        a.held.extend_from_slice(&map);
                        continue;
                    }
                    if a.held.len() == map.len() {
                        map.copy_from_slice(&a.held);
                        a.changed += 1;
                    }
                    drop(map);
                    if noise > 0 {
                        with_luma(buf, &info, layout, |p| {
                            picture::add_noise(p, noise, &mut a.rng)
                        });
                    }
                }
                Kind::Stutter { every, hold_ns } => {
                    let buf_duration = buf.duration().map(gst::ClockTime::nseconds);
                    let Ok(mut map) = buf.map_writable() else {
                        continue;
                    };
                    let n = a.buffers - 1;
                    if n == a.next_repeat && a.held.len() == map.len() {
                        // A hitch: the previous picture stays for `hold` (at least two more
                        // frames), then the next one comes after an irregular interval.
                        let fd = match buf_duration {
                            Some(d) if d > 0 => d,
                            _ => match crate::event::nominal_duration(&info) {
                                0 => 40_000_000,
                                d => d,
                            },
                        };
                        a.repeats_left = hold_ns.div_ceil(fd).saturating_sub(1).max(2);
                        a.holds += 1;
                        let e = every as u64;
                        a.next_repeat = n + a.repeats_left + e / 2 + a.rng.below(e);
                    }
                    if a.repeats_left > 0 && a.held.len() == map.len() {
                        map.copy_from_slice(&a.held);
                        a.changed += 1;
                        a.repeats_left -= 1;
                    } else {
                        a.held.clear();
                        a.held.extend_from_slice(&map);
                    }
                }
                Kind::Black => {
                    let full = info.colorimetry().range() == gst_video::VideoColorRange::Range0_255;
                    let ok = with_luma(buf, &info, layout, |p| {
                        picture::black(p, if full { 0 } else { 16 })
                    });
                    neutral_chroma(buf, &info);
                    if !ok && let Ok(mut map) = buf.map_writable() {
                        // RGB: black is all zero.
                        map.fill(0);
                    }
                    a.changed += 1;
                }
                Kind::Corrupt { .. } | Kind::Blocky { .. } => {
                    let kind = a.entry.kind;
                    let region = a.region;
                    let rng = &mut a.rng;
                    let ok = with_luma(buf, &info, layout, |p| match kind {
                        Kind::Corrupt { .. } => picture::corrupt(p, region.unwrap(), rng),
                        Kind::Blocky { q } => picture::blocky(p, q),
                        _ => (),
                    });
                    if ok {
                        a.changed += 1;
                    } else if !a.warned {
                        a.warned = true;
                        posts.push(Post::Warning(format!(
                            "'{}': format {} has no writable luma plane; not injected",
                            a.entry.text,
                            info.format().to_str()
                        )));
                    }
                }
                _ => (),
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn apply_audio(
        &self,
        state: &mut State,
        buf: &mut gst::BufferRef,
        posts: &mut Vec<Post>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(Format::Audio { info }) = state.format.as_ref() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let info = info.clone();
        let bpf = info.bpf() as usize;
        let rt = self.times(state, buf).map(|t| t.0);
        let mut shift = state.shift;
        for a in state.active.iter_mut() {
            a.buffers += 1;
            match a.entry.kind {
                Kind::Gap => {
                    a.changed += 1;
                    return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
                }
                Kind::Silence => {
                    if let Ok(mut map) = buf.map_writable() {
                        info.format_info().fill_silence(&mut map);
                        a.changed += 1;
                    }
                }
                Kind::Offset { .. } => {
                    if info.layout() != gst_audio::AudioLayout::Interleaved {
                        if !a.warned {
                            a.warned = true;
                            posts.push(Post::Warning(format!(
                                "'{}': non-interleaved audio cannot be delayed yet; not injected",
                                a.entry.text
                            )));
                        }
                        continue;
                    }
                    if a.held.is_empty() || bpf == 0 {
                        continue;
                    }
                    let Ok(mut map) = buf.map_writable() else {
                        continue;
                    };
                    // Delay line: each sample frame out is the one that went in `ns` earlier.
                    let frames = a.held.len() / bpf;
                    for chunk in map.chunks_exact_mut(bpf) {
                        let r = &mut a.held[a.pos * bpf..(a.pos + 1) * bpf];
                        chunk.swap_with_slice(r);
                        a.pos = (a.pos + 1) % frames;
                    }
                    a.changed += 1;
                }
                Kind::Clip { .. } | Kind::Gain { .. } | Kind::Mute { .. } | Kind::Invert { .. } => {
                    let kind = a.entry.kind;
                    if let Err(why) = edit_samples(buf, &info, &mut a.held, |c, x| match kind {
                        Kind::Clip { db } => (x * 10f64.powf(db / 20.0)).clamp(-1.0, 1.0),
                        Kind::Gain { db } => x * 10f64.powf(db / 20.0),
                        Kind::Mute { channel } if c == channel as usize => 0.0,
                        Kind::Invert { channel } if c == channel as usize => -x,
                        _ => x,
                    }) {
                        if !a.warned {
                            a.warned = true;
                            posts.push(Post::Warning(format!(
                                "'{}': {why}; not injected",
                                a.entry.text
                            )));
                        }
                        continue;
                    }
                    a.changed += 1;
                }
                Kind::Drift { ppm } => {
                    if let Some(rt) = rt {
                        shift = ((rt - a.start_rt) as f64 * ppm * 1e-6) as i64;
                        a.changed += 1;
                    }
                }
                _ => (),
            }
        }
        state.shift = shift;
        if shift != 0
            && let Some(pts) = buf.pts()
        {
            let p = (pts.nseconds() as i64 + shift).max(0) as u64;
            buf.set_pts(gst::ClockTime::from_nseconds(p));
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn end_all(&self, reason: EndReason) {
        let seed = self.settings.lock().unwrap().seed;
        let mut posts = Vec::new();
        {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else {
                return;
            };
            let end_rt = state.last_end_rt;
            let end = state
                .segment
                .as_ref()
                .map_or_else(Stamp::default, |seg| Stamp::at_running_time(seg, end_rt));
            for a in state.active.drain(..) {
                posts.push(Post::End(a.summary(seed), end, end_rt, reason));
            }
            if reason == EndReason::Flush {
                state.shift = 0;
            }
        }
        self.post(posts);
    }

    fn post(&self, posts: Vec<Post>) {
        if posts.is_empty() {
            return;
        }
        let obj = self.obj();
        let name = obj.name().to_string();
        for p in posts {
            let (a, phase, end) = match p {
                Post::Warning(w) => {
                    gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", w));
                    continue;
                }
                Post::Start(a) => (a, Phase::Start, None),
                Post::End(a, e, rt, r) => (a, Phase::End, Some((e, rt, r))),
            };
            gst::debug!(
                CAT,
                imp = self,
                "{} {} ({})",
                a.entry.text,
                phase.as_str(),
                a.id
            );
            let mut ev = gst::Structure::builder("injection")
                .field("kind", a.entry.kind.name())
                .field("spec", a.entry.text.as_str())
                .field("seed", a.seed)
                .field("buffers", a.buffers)
                .field("changed", a.changed)
                .build();
            match a.entry.kind {
                Kind::Freeze { noise } => ev.set("noise", noise as u32),
                Kind::Stutter { every, hold_ns } => {
                    ev.set("every", every);
                    ev.set("hold", hold_ns);
                    ev.set("holds", a.holds);
                }
                Kind::Corrupt { area } => ev.set("area", area),
                Kind::Blocky { q } => ev.set("q", q),
                Kind::Offset { ns } => ev.set("offset", ns),
                Kind::Drift { ppm } => ev.set("ppm", ppm),
                Kind::Clip { db } | Kind::Gain { db } => ev.set("gain", db),
                Kind::Mute { channel } | Kind::Invert { channel } => ev.set("channel", channel),
                _ => (),
            }
            if let Some(r) = a.region {
                ev.set("x", r.x as u32);
                ev.set("y", r.y as u32);
                ev.set("width", r.w as u32);
                ev.set("height", r.h as u32);
            }
            let closed =
                end.map(|(e, rt, _)| message::end_not_before_start(a.start, a.start_rt, e, rt));
            let msg = DefectMessage {
                defect: a.entry.kind.defect().to_string(),
                phase,
                id: a.id,
                element: name.clone(),
                start: a.start,
                detected_running_time: a.start.running_time,
                utc: None,
                duration: closed.map(|(_, d)| d),
                end: closed.map(|(e, _)| e),
                end_utc: None,
                end_reason: end.map(|(_, _, r)| r),
                evidence: Some(ev),
            };
            let _ = obj.post_message(msg.to_injection_message(&*obj));
        }
    }

    fn inject(&self, spec: &str) -> bool {
        match schedule::parse_one(spec) {
            Ok(e) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.pending.push(e);
                    state.pending.sort_by_key(|e| e.start.unwrap_or(0));
                    true
                } else {
                    gst::element_imp_warning!(
                        self,
                        gst::LibraryError::Settings,
                        ("inject '{}': the element is not running", spec)
                    );
                    false
                }
            }
            Err(e) => {
                gst::element_imp_warning!(self, gst::LibraryError::Settings, ("inject: {}", e));
                false
            }
        }
    }
}

/// Runs `f` on the luma plane of a writable frame; false if the layout cannot be written.
fn with_luma(
    buf: &mut gst::BufferRef,
    info: &gst_video::VideoInfo,
    layout: Option<LumaLayout>,
    f: impl FnOnce(&mut Plane),
) -> bool {
    let Some(layout) = layout.filter(Plane::writable) else {
        return false;
    };
    let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info) else {
        return false;
    };
    let stride = frame.plane_stride()[layout.plane].max(0) as usize;
    let Ok(data) = frame.plane_data_mut(layout.plane as u32) else {
        return false;
    };
    let (w, h) = (info.width() as usize, info.height() as usize);
    if h == 0 || (h - 1) * stride + layout.row_bytes(w) > data.len() {
        return false;
    }
    f(&mut Plane {
        data,
        stride,
        width: w,
        height: h,
        layout,
    });
    true
}

/// Neutral chroma on the chroma planes of planar and semi-planar YUV.
fn neutral_chroma(buf: &mut gst::BufferRef, info: &gst_video::VideoInfo) {
    let finfo = info.format_info();
    if !finfo.is_yuv() || info.n_planes() < 2 {
        return;
    }
    let depth = finfo.depth()[1];
    let le = finfo.is_le();
    let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info) else {
        return;
    };
    for p in 1..info.n_planes().min(3) {
        let Ok(data) = frame.plane_data_mut(p) else {
            continue;
        };
        if depth <= 8 {
            data.fill(128);
        } else {
            let shift = finfo.shift()[1];
            let w = ((1u16 << (depth - 1)) << shift).to_le_bytes();
            let w = if le { w } else { [w[1], w[0]] };
            for c in data.chunks_exact_mut(2) {
                c.copy_from_slice(&w);
            }
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for VqInject {
    const NAME: &'static str = "GstVqInject";
    type Type = super::VqInject;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for VqInject {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("schedule")
                    .nick("Schedule")
                    .blurb("Injections, like 'freeze@10s+2s; black@20s+1s; offset@30s+10s:200ms' (see the element docs)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("location")
                    .nick("Schedule file")
                    .blurb("File with more injections, one per line or ';'-separated ('#' comments)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Seed of every random choice (damage layout, stutter jitter, noise)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("injections")
                    .nick("Injections")
                    .blurb("Injections started so far")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("inject")
                    .param_types([String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let obj = args[0].get::<super::VqInject>().unwrap();
                        let spec = args[1].get::<String>().unwrap_or_default();
                        Some(obj.imp().inject(&spec).to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "schedule" => {
                s.schedule = value.get::<Option<String>>().unwrap().unwrap_or_default();
                // While running: entries not yet started are replaced.
                let text = s.schedule.clone();
                drop(s);
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    match schedule::parse(&text) {
                        Ok(entries) => state.pending = entries,
                        Err(e) => gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Settings,
                            ("invalid schedule, keeping the previous one: {}", e)
                        ),
                    }
                }
            }
            "location" => s.location = value.get::<Option<String>>().unwrap(),
            "seed" => s.seed = value.get::<u64>().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "schedule" => s.schedule.to_value(),
            "location" => s.location.to_value(),
            "seed" => s.seed.to_value(),
            "injections" => self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .map_or(0u64, |st| st.count)
                .to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for VqInject {}

impl ElementImpl for VqInject {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Defect injector",
                "Filter/Effect/Audio/Video",
                "Injects freezes, black, drops, stutter, block damage, blockiness, A/V offsets, drift, gaps and silence on a schedule, and posts them as ground truth",
                "The vqmon developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut caps = crate::luma::supported_caps();
            caps.merge(gst::Caps::builder("audio/x-raw").build());
            crate::luma::filter_pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for VqInject {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let entries = self
            .load_schedule(&s)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
        *self.state.lock().unwrap() = Some(State::new(entries));
        self.obj().set_passthrough(true);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.end_all(EndReason::Stopped);
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let format = if incaps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("audio/"))
        {
            Format::Audio {
                info: gst_audio::AudioInfo::from_caps(incaps)
                    .map_err(|_| gst::loggable_error!(CAT, "cannot read audio caps {}", incaps))?,
            }
        } else {
            let info = gst_video::VideoInfo::from_caps(incaps)
                .map_err(|_| gst::loggable_error!(CAT, "cannot read video caps {}", incaps))?;
            Format::Video {
                layout: LumaLayout::for_format(info.format()).ok(),
                info,
            }
        };
        self.end_all(EndReason::Caps);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.format = Some(format);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Segment(s) => {
                if let Some(seg) = s.segment().downcast_ref::<gst::ClockTime>()
                    && let Some(state) = self.state.lock().unwrap().as_mut()
                {
                    state.segment = Some(seg.clone());
                }
            }
            gst::EventView::Eos(_) => self.end_all(EndReason::Eos),
            gst::EventView::FlushStop(_) => self.end_all(EndReason::Flush),
            _ => (),
        }
        self.parent_sink_event(event)
    }

    fn before_transform(&self, inbuf: &gst::BufferRef) {
        let mut posts = Vec::new();
        let change = self.plan(inbuf, &mut posts);
        // Idle: passthrough, the buffer is neither copied nor touched.
        self.obj().set_passthrough(!change);
        if !posts.is_empty() {
            self.post(posts);
        }
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut posts = Vec::new();
        let res = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            let res = match state.media() {
                Some(Media::Video) => self.apply_video(state, buf, &mut posts),
                Some(Media::Audio) => self.apply_audio(state, buf, &mut posts),
                None => Ok(gst::FlowSuccess::Ok),
            };
            if res == Ok(gst::FlowSuccess::Ok) {
                self.note_end(state, buf);
            }
            res
        };
        self.post(posts);
        res
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            self.note_end(state, buf);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

impl VqInject {
    /// Remembers where the last buffer ended, for injections still open at EOS.
    fn note_end(&self, state: &mut State, buf: &gst::BufferRef) {
        let Some((rt, _)) = self.times(state, buf) else {
            return;
        };
        let dur = match (&state.format, buf.duration()) {
            (_, Some(d)) => d.nseconds(),
            (Some(Format::Audio { info }), None) if info.bpf() > 0 => {
                (buf.size() as u64 / info.bpf() as u64) * 1_000_000_000 / info.rate().max(1) as u64
            }
            _ => 0,
        };
        state.last_end_rt = rt + dur;
    }
}

/// Rewrites every sample of an audio buffer as `f(channel, sample)`, samples as fractions of full
/// scale (unpacked and packed again by GStreamer's own format functions, so any raw format works;
/// integers saturate at full scale). `scratch` holds the unpacked samples and only grows.
fn edit_samples(
    buf: &mut gst::BufferRef,
    info: &gst_audio::AudioInfo,
    scratch: &mut Vec<u8>,
    f: impl Fn(usize, f64) -> f64,
) -> Result<(), String> {
    let finfo = info.format_info();
    let width = (finfo.width() / 8) as usize;
    let channels = info.channels() as usize;
    if width == 0 || channels == 0 {
        return Err(format!(
            "format {} has no sample width",
            info.format().to_str()
        ));
    }
    let interleaved = info.layout() == gst_audio::AudioLayout::Interleaved;
    let offsets = buf
        .meta::<gst_audio::AudioMeta>()
        .map(|m| m.offsets().to_vec());
    let mut map = buf
        .map_writable()
        .map_err(|e| format!("cannot map the buffer writable: {e}"))?;
    let n = map.len() / width;
    let float = finfo.is_float();
    let unpack_width = if float { 8 } else { 4 };
    if scratch.len() < n * unpack_width {
        scratch.resize(n * unpack_width, 0);
    }
    let unpacked = &mut scratch[..n * unpack_width];
    finfo.unpack(
        gst_audio::AudioPackFlags::empty(),
        unpacked,
        &map[..n * width],
    );
    // The channel of sample `i`: interleaved, or by plane (from the audio meta, else end to end).
    let frames = n / channels;
    let channel_of = |i: usize| -> usize {
        if interleaved {
            return i % channels;
        }
        match &offsets {
            Some(offsets) => offsets.iter().rposition(|o| *o <= i * width).unwrap_or(0),
            None => (i / frames.max(1)).min(channels - 1),
        }
    };
    let scale = 2f64.powi(31);
    for (i, bytes) in unpacked.chunks_exact_mut(unpack_width).enumerate() {
        let c = channel_of(i);
        if float {
            let x = f64::from_ne_bytes(bytes.try_into().unwrap());
            bytes.copy_from_slice(&f(c, x).to_ne_bytes());
        } else {
            let x = i32::from_ne_bytes(bytes.try_into().unwrap()) as f64 / scale;
            let y = (f(c, x) * scale)
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32;
            bytes.copy_from_slice(&y.to_ne_bytes());
        }
    }
    finfo.pack(
        gst_audio::AudioPackFlags::empty(),
        &mut map[..n * width],
        unpacked,
    );
    Ok(())
}
