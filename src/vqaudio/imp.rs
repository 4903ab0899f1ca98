// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

// Glue: maps each buffer read-only, unpacks it block by block into a scratch block (GStreamer's
// own unpack functions, then f32), hands the block to the GStreamer-free detector and posts
// what it decides. `settings` is only copied out; no lock is held while a message is posted.

use gst::glib;
use gst::glib::translate::IntoGlib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_audio::subclass::prelude::*;
use gst_base::prelude::*;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::detect::{
    DEFAULT_PARAMS, Detector, Event, Events, Evidence, MAX_CHANNELS, Params, Reading, Standard,
    Target, Verdict, sample_time,
};
use crate::event::Times;
use crate::message::{self, EndReason, Measurement};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "vqaudio",
        gst::DebugColorFlags::empty(),
        Some("vqmon audio analyser: silence, loudness, peaks, clipping, channel faults"),
    )
});

/// Samples analysed per block: 10 ms (the time resolution of true-peak decisions).
const BLOCK_NS: u64 = 10_000_000;
/// dB figures below this are written as this (digital silence is -inf dB).
const DB_FLOOR: f64 = -200.0;
/// A buffer this far (ns) from where the samples before it end is a discontinuity; closer, its
/// samples are taken to follow the previous ones (timestamp jitter and drift are absorbed, as
/// audiobasesink's alignment-threshold does).
const ALIGNMENT: u64 = 40_000_000;

#[derive(Debug, Clone, Copy)]
struct Settings {
    params: Params,
    /// Clip level in dB of full scale; 0 = the format's full scale (1 LSB below it for integers).
    clip_level_db: f64,
    /// Name of the loudness standard, `none` or `custom`.
    standard: &'static str,
    ignore_lfe: bool,
    /// The channels watched for channel loss, when listed (`loss-channels`).
    loss_channels: Option<Watch>,
    post_messages: bool,
}

/// Channels named by position (bit = the position's GStreamer value, 0..=27) or by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watch {
    positions: u32,
    numbers: u32,
}

impl Watch {
    /// A comma-separated list of position nicks (`front-left`, `lfe1`, ...) or channel numbers.
    fn parse(text: &str) -> Result<Option<Watch>, String> {
        let class = position_class();
        let mut w = Watch {
            positions: 0,
            numbers: 0,
        };
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if let Ok(n) = token.parse::<usize>() {
                if n >= MAX_CHANNELS {
                    return Err(format!("channel {n} is beyond the {MAX_CHANNELS} analysed"));
                }
                w.numbers |= 1 << n;
                continue;
            }
            match class.value_by_nick(token).map(|v| v.value()) {
                Some(v @ 0..=31) => w.positions |= 1 << v,
                _ => {
                    return Err(format!(
                        "'{token}' is neither a channel number nor a channel position (front-left, front-right, front-center, lfe1, rear-left, rear-right, side-left, side-right, ...)"
                    ));
                }
            }
        }
        Ok((w.positions | w.numbers != 0).then_some(w))
    }

    /// The channels listed, normalised: positions in GStreamer's order, then numbers.
    fn names(&self) -> Vec<String> {
        let class = position_class();
        let positions = (0..32)
            .filter(|b| self.positions & (1 << b) != 0)
            .filter_map(|b| class.value(b).map(|v| v.nick().to_string()));
        let numbers = (0..32)
            .filter(|b| self.numbers & (1 << b) != 0)
            .map(|b| b.to_string());
        positions.chain(numbers).collect()
    }

    /// Whether channel `c` at `position` is listed.
    fn has(&self, c: usize, position: Option<gst_audio::AudioChannelPosition>) -> bool {
        position.is_some_and(|p| self.positions & position_bit(p) != 0)
            || self.numbers & (1 << c) != 0
    }

    /// What the list names that `channels` channels at `positions` do not have.
    fn absent(
        &self,
        channels: usize,
        positions: &[Option<gst_audio::AudioChannelPosition>],
    ) -> Vec<String> {
        let seen = Watch {
            positions: positions
                .iter()
                .take(channels)
                .flatten()
                .fold(0, |m, &p| m | position_bit(p)),
            numbers: ((1u64 << channels.min(32)) - 1) as u32,
        };
        Watch {
            positions: self.positions & !seen.positions,
            numbers: self.numbers & !seen.numbers,
        }
        .names()
    }
}

/// A position's bit in `Watch::positions` (0 for the unpositioned, mono and invalid).
fn position_bit(p: gst_audio::AudioChannelPosition) -> u32 {
    u32::try_from(p.into_glib())
        .ok()
        .and_then(|v| 1u32.checked_shl(v))
        .unwrap_or(0)
}

fn position_class() -> glib::EnumClass {
    glib::EnumClass::with_type(gst_audio::AudioChannelPosition::static_type())
        .expect("AudioChannelPosition is an enum")
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            params: DEFAULT_PARAMS,
            clip_level_db: 0.0,
            standard: "none",
            ignore_lfe: true,
            loss_channels: None,
            post_messages: true,
        }
    }
}

impl Settings {
    fn target(&self) -> Target {
        self.params.target.unwrap_or(Standard::EbuR128.target())
    }
}

/// Per-caps analysis: the detector and the scratch blocks (allocated once per format).
struct Analysis {
    info: gst_audio::AudioInfo,
    detector: Detector,
    /// Unpacked samples of one block and one plane (S32 or F64, native endian).
    unpacked: Vec<u8>,
    /// The block as interleaved f32, full scale 1.0.
    block: Vec<f32>,
    block_frames: usize,
    /// Full scale of the unpacked integers (2^31), or 1.0 for float.
    scale: f64,
    /// The format's full scale as a fraction (1 LSB below 1.0 for integers).
    full_scale: f32,
    positions: [Option<gst_audio::AudioChannelPosition>; MAX_CHANNELS],
    /// What `loss-channels` names that this audio does not have.
    absent: Vec<String>,
}

impl Analysis {
    /// Channel loss is watched on the channels `watch` lists, or on every channel but LFE
    /// (`ignore_lfe`) when it lists none.
    fn new(
        info: &gst_audio::AudioInfo,
        ignore_lfe: bool,
        watch: Option<Watch>,
        ids: Arc<AtomicU64>,
    ) -> Result<Self, String> {
        use gst_audio::AudioChannelPosition as P;
        let channels = info.channels() as usize;
        let rate = info.rate();
        let mut positions = [None; MAX_CHANNELS];
        let mut ignored = 0u32;
        let mut left = None;
        let mut right = None;
        let mut map = [ebur128::Channel::Unused; MAX_CHANNELS];
        let mut mapped = false;
        if let Some(pos) = info.positions() {
            // Unpositioned channels keep libebur128's default order (L R C LFE Ls Rs).
            mapped = pos
                .iter()
                .all(|p| *p != gst_audio::AudioChannelPosition::None);
            for (c, p) in pos.iter().enumerate().take(MAX_CHANNELS) {
                positions[c] = Some(*p);
                map[c] = loudness_role(*p);
                match p {
                    P::FrontLeft => left = Some(c),
                    P::FrontRight => right = Some(c),
                    _ => (),
                }
            }
        }
        // One rule for the channels watched for loss: the list, or all but LFE.
        for (c, p) in positions.iter().enumerate().take(channels) {
            let watched = match watch {
                Some(w) => w.has(c, *p),
                None => !(ignore_lfe && matches!(p, Some(P::Lfe1 | P::Lfe2))),
            };
            if !watched {
                ignored |= 1 << c;
            }
        }
        let absent = watch.map_or(Vec::new(), |w| w.absent(channels, &positions));
        let pair = match (left, right) {
            (Some(l), Some(r)) => Some((l, r)),
            // Unpositioned stereo is a pair too.
            _ if channels == 2 => Some((0, 1)),
            _ => None,
        };
        let map = mapped.then_some(&map[..channels.min(MAX_CHANNELS)]);
        let detector = Detector::new(channels, rate, ignored, pair, map, ids).map_err(|e| e.0)?;
        let finfo = info.format_info();
        let float = finfo.is_float();
        let depth = finfo.depth();
        let block_frames = ((rate as u64 * BLOCK_NS) / 1_000_000_000).max(1) as usize;
        Ok(Analysis {
            info: info.clone(),
            detector,
            unpacked: vec![0; block_frames * channels * 8],
            block: vec![0.0; block_frames * channels],
            block_frames,
            scale: if float { 1.0 } else { 2f64.powi(31) },
            full_scale: if float || depth == 0 {
                1.0
            } else {
                (1.0 - 2f64.powi(1 - depth as i32)) as f32
            },
            positions,
            absent,
        })
    }

    /// Unpacks frames `f0 .. f0 + n` of the mapped buffer into `self.block` (interleaved f32).
    fn unpack(&mut self, planes: &[&[u8]], f0: usize, n: usize) {
        let finfo = self.info.format_info();
        let width = (finfo.width() / 8) as usize;
        let ch = self.info.channels() as usize;
        let float = finfo.is_float();
        let unpack_width = if float { 8 } else { 4 };
        let scale = self.scale;
        // GStreamer's unpack fills the low bits by replicating the sample (0x80 in U8 becomes
        // 0x00808080): keep only the format's own bits, so that silence is 0 and steps are exact.
        let depth = finfo.depth();
        let mask = if depth >= 32 || depth == 0 {
            !0u32
        } else {
            !((1u32 << (32 - depth)) - 1)
        };
        let interleaved = planes.len() == 1;
        for (pi, plane) in planes.iter().enumerate() {
            let per_frame = if interleaved { ch } else { 1 };
            let src = &plane[f0 * per_frame * width..(f0 + n) * per_frame * width];
            let dest = &mut self.unpacked[..n * per_frame * unpack_width];
            finfo.unpack(gst_audio::AudioPackFlags::empty(), dest, src);
            for (k, bytes) in dest.chunks_exact(unpack_width).enumerate() {
                let v = if float {
                    f64::from_ne_bytes(bytes.try_into().unwrap())
                } else {
                    (u32::from_ne_bytes(bytes.try_into().unwrap()) & mask) as i32 as f64 / scale
                };
                let idx = if interleaved { k } else { k * ch + pi };
                self.block[idx] = v as f32;
            }
        }
    }
}

#[derive(Default)]
struct Counters {
    bad_buffers: u64,
    buffers_without_pts: u64,
    gap_events: u64,
}

struct State {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    analysis: Option<Analysis>,
    /// Samples are timed from an anchor (times, timeline position) and a count of samples
    /// since it, so that times stay exact to the sample; a buffer more than `ALIGNMENT` off that
    /// count (a gap, a jump, a GAP event) anchors anew.
    anchor: Option<(Times, u64)>,
    since_anchor: u64,
    counters: Counters,
    warned_no_pts: bool,
    warned_bad_buffer: bool,
    caps: Option<gst::Caps>,
    verdict: Option<Verdict>,
}

impl State {
    fn new() -> Self {
        State {
            segment: None,
            analysis: None,
            anchor: None,
            since_anchor: 0,
            counters: Counters::default(),
            warned_no_pts: false,
            warned_bad_buffer: false,
            caps: None,
            verdict: None,
        }
    }
}

pub struct VqAudio {
    settings: Mutex<Settings>,
    /// Why the last value set to `loudness-standard` (`STANDARD_ERROR`) or `loss-channels`
    /// (`CHANNELS_ERROR`) was refused: the element then refuses to start.
    config_errors: Mutex<[Option<String>; 2]>,
    state: Mutex<State>,
    ids: Arc<AtomicU64>,
    live: AtomicU8,
}

const STANDARD_ERROR: usize = 0;
const CHANNELS_ERROR: usize = 1;

const LIVE_UNKNOWN: u8 = 0;
const LIVE_YES: u8 = 1;
const LIVE_NO: u8 = 2;

#[glib::object_subclass]
impl ObjectSubclass for VqAudio {
    const NAME: &'static str = "GstVqAudio";
    type Type = super::VqAudio;
    type ParentType = gst_audio::AudioFilter;

    fn new() -> Self {
        VqAudio {
            settings: Mutex::new(Settings::default()),
            config_errors: Mutex::new([None, None]),
            state: Mutex::new(State::new()),
            ids: Arc::new(AtomicU64::new(1)),
            live: AtomicU8::new(LIVE_UNKNOWN),
        }
    }
}

fn finite_db(v: f64) -> f64 {
    if v.is_nan() {
        DB_FLOOR
    } else {
        v.max(DB_FLOOR)
    }
}

fn amplitude_to_db(a: f64) -> f64 {
    finite_db(20.0 * a.log10())
}

fn db_to_amplitude(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

const STANDARDS: &str = "none, ebu-r128, atsc-a85, streaming-14, streaming-16 or custom";

impl ObjectImpl for VqAudio {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = DEFAULT_PARAMS;
            let ebu = Standard::EbuR128.target();
            vec![
                glib::ParamSpecDouble::builder("silence-threshold")
                    .nick("Silence threshold")
                    .blurb("Largest sample magnitude of silence, as a fraction of full scale (FFmpeg silencedetect 'noise'; 0.001 = -60 dB)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.silence_threshold as f64)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("silence-threshold-db")
                    .nick("Silence threshold (dB)")
                    .blurb("The silence threshold in dB of full scale; setting one sets the other")
                    .minimum(-200.0)
                    .maximum(0.0)
                    .default_value(20.0 * (d.silence_threshold as f64).log10())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("silence-duration")
                    .nick("Silence duration")
                    .blurb("Shortest silence (ns) reported, for the programme and for one channel (FFmpeg silencedetect 'duration')")
                    .minimum(1)
                    .default_value(d.silence_duration)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("clip-level-db")
                    .nick("Clip level (dBFS)")
                    .blurb("Samples at or beyond this level are clipped; 0 = the format's full scale (a flat top below it: set its level)")
                    .minimum(-60.0)
                    .maximum(0.0)
                    .default_value(0.0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("clip-min-run")
                    .nick("Clip run")
                    .blurb("Consecutive clipped samples of one channel that make one clip")
                    .minimum(1)
                    .maximum(1_000_000)
                    .default_value(d.clip_min_run)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("hold")
                    .nick("Hold")
                    .blurb("Clips and true-peak overs closer than this (ns) belong to one defect, which ends this long after the last")
                    .minimum(1)
                    .default_value(d.hold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("loudness-standard")
                    .nick("Loudness standard")
                    .blurb("Loudness compliance judged against: none (measure only), ebu-r128 (-23 LUFS +/-1, -1 dBTP), atsc-a85 (-24 +/-2, -2 dBTP), streaming-14, streaming-16 (-1 dBTP), or custom (setting a target, tolerance or limit makes it custom)")
                    .default_value(Some("none"))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("target-loudness")
                    .nick("Target loudness")
                    .blurb("Target integrated and short-term loudness, LUFS")
                    .minimum(-70.0)
                    .maximum(0.0)
                    .default_value(ebu.loudness)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("loudness-tolerance")
                    .nick("Loudness tolerance")
                    .blurb("Allowed deviation from the target either way, LU")
                    .minimum(0.0)
                    .maximum(40.0)
                    .default_value(ebu.tolerance)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("true-peak-limit")
                    .nick("True peak limit")
                    .blurb("Highest allowed true peak, dBTP")
                    .minimum(-40.0)
                    .maximum(6.0)
                    .default_value(ebu.max_true_peak)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("loudness-min-duration")
                    .nick("Loudness minimum duration")
                    .blurb("Short-term loudness must stay outside the target window this long (ns) to be a loudness defect")
                    .minimum(1)
                    .default_value(d.loudness_min_duration)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("phase-threshold")
                    .nick("Phase threshold")
                    .blurb("A stereo pair whose correlation over 3 s is at or below minus this has inverted polarity")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.phase_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("expect-stereo")
                    .nick("Expect stereo")
                    .blurb("Report a stereo pair carrying the same signal on both channels (dual mono)")
                    .default_value(d.expect_stereo)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("mono-threshold")
                    .nick("Mono threshold")
                    .blurb("Correlation at or above which a stereo pair is dual mono (with expect-stereo)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.mono_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("ignore-lfe")
                    .nick("Ignore LFE")
                    .blurb("Do not report a silent LFE channel as channel loss (applies from the next caps)")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("loss-channels")
                    .nick("Channel-loss channels")
                    .blurb("Channels watched for channel loss, comma-separated positions (front-left, front-right, front-center, lfe1, rear-left, ...) or channel numbers; empty: every channel (LFE as ignore-lfe says) (applies from the next caps)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("measurement-interval")
                    .nick("Measurement interval")
                    .blurb("Post a loudness measurement this often (ns, 0 = never)")
                    .default_value(d.measurement_interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("update-interval")
                    .nick("Update interval")
                    .blurb("Post an update of an open defect this often (ns, 0 = never)")
                    .default_value(d.update_interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post vqmon-defect and vqmon-measurement messages on the bus")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Audio analysed, defects found, loudness so far and input problems seen")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().set_qos(false);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let name = pspec.name();
        let custom = |s: &mut Settings, f: &dyn Fn(&mut Target)| {
            let mut t = s.target();
            f(&mut t);
            s.params.target = Some(t);
            s.standard = "custom";
        };
        match name {
            "silence-threshold" => s.params.silence_threshold = value.get::<f64>().unwrap() as f32,
            "silence-threshold-db" => {
                s.params.silence_threshold = db_to_amplitude(value.get().unwrap()) as f32
            }
            "silence-duration" => s.params.silence_duration = value.get().unwrap(),
            "clip-level-db" => s.clip_level_db = value.get().unwrap(),
            "clip-min-run" => s.params.clip_min_run = value.get().unwrap(),
            "hold" => s.params.hold = value.get().unwrap(),
            "loudness-standard" => {
                let v: Option<String> = value.get().unwrap();
                let v = v.unwrap_or_default();
                match v.as_str() {
                    "none" => {
                        s.params.target = None;
                        s.standard = "none";
                    }
                    "custom" => {
                        s.params.target = Some(s.target());
                        s.standard = "custom";
                    }
                    other => match Standard::parse(other) {
                        Some(st) => {
                            s.params.target = Some(st.target());
                            s.standard = st.name();
                        }
                        None => {
                            drop(s);
                            self.refuse(
                                STANDARD_ERROR,
                                format!(
                                    "Invalid loudness-standard '{other}': it is {STANDARDS}; the previous standard is kept"
                                ),
                            );
                            return;
                        }
                    },
                }
                self.config_errors.lock().unwrap()[STANDARD_ERROR] = None;
            }
            "target-loudness" => {
                let v: f64 = value.get().unwrap();
                custom(&mut s, &|t| t.loudness = v);
            }
            "loudness-tolerance" => {
                let v: f64 = value.get().unwrap();
                custom(&mut s, &|t| t.tolerance = v);
            }
            "true-peak-limit" => {
                let v: f64 = value.get().unwrap();
                custom(&mut s, &|t| t.max_true_peak = v);
            }
            "loudness-min-duration" => s.params.loudness_min_duration = value.get().unwrap(),
            "phase-threshold" => s.params.phase_threshold = value.get().unwrap(),
            "expect-stereo" => s.params.expect_stereo = value.get().unwrap(),
            "mono-threshold" => s.params.mono_threshold = value.get().unwrap(),
            "ignore-lfe" => s.ignore_lfe = value.get().unwrap(),
            "loss-channels" => {
                let v: Option<String> = value.get().unwrap();
                match Watch::parse(v.as_deref().unwrap_or("")) {
                    Ok(w) => {
                        s.loss_channels = w;
                        self.config_errors.lock().unwrap()[CHANNELS_ERROR] = None;
                    }
                    Err(why) => {
                        drop(s);
                        self.refuse(
                            CHANNELS_ERROR,
                            format!("Invalid loss-channels: {why}; the previous list is kept"),
                        );
                        return;
                    }
                }
            }
            "measurement-interval" => s.params.measurement_interval = value.get().unwrap(),
            "update-interval" => s.params.update_interval = value.get().unwrap(),
            "post-messages" => s.post_messages = value.get().unwrap(),
            _ => unimplemented!(),
        }
        gst::info!(CAT, imp = self, "{name} set: {:?}", *s);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = *self.settings.lock().unwrap();
        let t = s.target();
        match pspec.name() {
            "silence-threshold" => (s.params.silence_threshold as f64).to_value(),
            "silence-threshold-db" => amplitude_to_db(s.params.silence_threshold as f64).to_value(),
            "silence-duration" => s.params.silence_duration.to_value(),
            "clip-level-db" => s.clip_level_db.to_value(),
            "clip-min-run" => s.params.clip_min_run.to_value(),
            "hold" => s.params.hold.to_value(),
            "loudness-standard" => s.standard.to_value(),
            "target-loudness" => t.loudness.to_value(),
            "loudness-tolerance" => t.tolerance.to_value(),
            "true-peak-limit" => t.max_true_peak.to_value(),
            "loudness-min-duration" => s.params.loudness_min_duration.to_value(),
            "phase-threshold" => s.params.phase_threshold.to_value(),
            "expect-stereo" => s.params.expect_stereo.to_value(),
            "mono-threshold" => s.params.mono_threshold.to_value(),
            "ignore-lfe" => s.ignore_lfe.to_value(),
            "loss-channels" => s.loss_channels.map(|w| w.names().join(",")).to_value(),
            "measurement-interval" => s.params.measurement_interval.to_value(),
            "update-interval" => s.params.update_interval.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for VqAudio {}

impl ElementImpl for VqAudio {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Audio quality analyser",
                "Filter/Analyzer/Audio",
                "Detects silence, channel loss, clipping, loudness and true-peak violations and phase faults inline and posts vqmon-defect and vqmon-measurement messages",
                "The vqmon developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            self.live.store(LIVE_UNKNOWN, Ordering::Release);
        }
        self.parent_change_state(transition)
    }
}

/// Raw audio vqaudio analyses: every format GStreamer can unpack, interleaved or not, 1 to 16
/// channels, 8 to 192 kHz.
fn supported_caps() -> gst::Caps {
    let formats: Vec<_> = gst_audio::AudioFormat::iter_raw()
        .filter(|f| {
            let i = gst_audio::AudioFormatInfo::from_format(*f);
            i.width() > 0 && i.width().is_multiple_of(8)
        })
        .map(|f| f.to_str().to_string())
        .collect();
    gst::Caps::builder("audio/x-raw")
        .field("format", gst::List::new(formats))
        .field("rate", gst::IntRange::new(8_000, 192_000))
        .field("channels", gst::IntRange::new(1, MAX_CHANNELS as i32))
        .field("layout", gst::List::new(["interleaved", "non-interleaved"]))
        .build()
}

impl BaseTransformImpl for VqAudio {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(msg) = self.config_errors.lock().unwrap().iter().flatten().next() {
            return Err(gst::error_msg!(gst::LibraryError::Settings, ("{}", msg)));
        }
        *self.state.lock().unwrap() = State::new();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.close_all(EndReason::Stopped);
        self.state.lock().unwrap().analysis = None;
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::FlushStop(_) => self.close_all(EndReason::Flush),
            EventView::Segment(e) => {
                self.close_all(EndReason::Segment);
                let seg = e.segment();
                match seg.downcast_ref::<gst::ClockTime>() {
                    Some(s) => self.state.lock().unwrap().segment = Some(s.clone()),
                    None => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            ("vqaudio needs a TIME segment, got {:?}", seg.format())
                        );
                        return false;
                    }
                }
            }
            EventView::StreamStart(_) => self.close_all(EndReason::Segment),
            EventView::Gap(e) => {
                // Signalled absence: the next buffer is expected after it, and the time it
                // covers is neither silence nor sound.
                let (ts, dur) = e.get();
                let mut state = self.state.lock().unwrap();
                state.counters.gap_events += 1;
                let end = ts + dur.unwrap_or(gst::ClockTime::ZERO);
                if let Some(seg) = state.segment.clone()
                    && let Some(rt) = seg.to_running_time(end)
                {
                    let times = Times {
                        pts: Some(end.nseconds()),
                        running_time: Some(rt.nseconds()),
                        stream_time: seg.to_stream_time(end).map(gst::ClockTime::nseconds),
                    };
                    state.anchor = Some((times, rt.nseconds()));
                    state.since_anchor = 0;
                }
            }
            EventView::Eos(_) => self.close_all(EndReason::Eos),
            _ => (),
        }
        self.parent_sink_event(event)
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.analyse(buf.as_ref())?;
        Ok(gst::FlowSuccess::Ok)
    }
}

impl AudioFilterImpl for VqAudio {
    // The pad templates (GstAudioFilter adds them from these caps).
    fn allowed_caps() -> &'static gst::Caps {
        static CAPS: LazyLock<gst::Caps> = LazyLock::new(supported_caps);
        &CAPS
    }

    fn setup(&self, info: &gst_audio::AudioInfo) -> Result<(), gst::LoggableError> {
        let same = {
            let state = self.state.lock().unwrap();
            state.analysis.as_ref().is_some_and(|a| a.info == *info)
        };
        if same {
            return Ok(());
        }
        self.close_all(EndReason::Caps);
        let (ignore_lfe, watch) = {
            let s = self.settings.lock().unwrap();
            (s.ignore_lfe, s.loss_channels)
        };
        let analysis = match Analysis::new(info, ignore_lfe, watch, self.ids.clone()) {
            Ok(a) => a,
            Err(msg) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("vqaudio cannot analyse this audio: {}", msg)
                );
                return Err(gst::loggable_error!(CAT, "{}", msg));
            }
        };
        gst::info!(
            CAT,
            imp = self,
            "analysing {} channels of {} at {} Hz ({:?}), blocks of {} frames",
            info.channels(),
            info.format().to_str(),
            info.rate(),
            info.layout(),
            analysis.block_frames
        );
        if !analysis.absent.is_empty() {
            let msg = format!(
                "loss-channels names {}, which this audio ({} channels) does not have: not watched",
                analysis.absent.join(", "),
                info.channels()
            );
            gst::warning!(CAT, imp = self, "{msg}");
            gst::element_imp_warning!(self, gst::StreamError::Format, ("{}", msg));
        }
        let mut state = self.state.lock().unwrap();
        state.analysis = Some(analysis);
        state.caps = gst_audio::AudioInfo::to_caps(info).ok();
        state.verdict = None;
        Ok(())
    }
}

impl VqAudio {
    /// A property setter cannot fail: keeps the previous value of the property in `slot` and says
    /// why, on the bus if there is one, and when the element is started, which then fails.
    fn refuse(&self, slot: usize, msg: String) {
        gst::error!(CAT, imp = self, "{msg}");
        gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", msg));
        self.config_errors.lock().unwrap()[slot] = Some(msg);
    }

    fn is_live(&self) -> bool {
        if self.live.load(Ordering::Acquire) == LIVE_UNKNOWN {
            let mut q = gst::query::Latency::new();
            if let Some(pad) = self.obj().static_pad("sink")
                && pad.peer_query(&mut q)
            {
                let live = q.result().0;
                self.live
                    .store(if live { LIVE_YES } else { LIVE_NO }, Ordering::Release);
            }
        }
        self.live.load(Ordering::Acquire) == LIVE_YES
    }

    fn analyse(&self, buf: &gst::BufferRef) -> Result<(), gst::FlowError> {
        let live = self.is_live();
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        let Some(analysis) = state.analysis.as_ref() else {
            drop(guard);
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["No caps before the first buffer"]
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let info = analysis.info.clone();
        // Place the buffer: its PTS in the segment, else right after the previous one.
        let placed = match (buf.pts(), state.segment.as_ref()) {
            (Some(pts), Some(seg)) => seg.to_running_time(pts).map(|rt| {
                (
                    Times {
                        pts: Some(pts.nseconds()),
                        running_time: Some(rt.nseconds()),
                        stream_time: seg.to_stream_time(pts).map(gst::ClockTime::nseconds),
                    },
                    rt.nseconds(),
                )
            }),
            _ => None,
        };
        let mut warn_no_pts = false;
        if buf.pts().is_none() {
            state.counters.buffers_without_pts += 1;
            warn_no_pts = !state.warned_no_pts;
            state.warned_no_pts = true;
        }
        match (placed, state.anchor) {
            (Some((_, t)), Some((_, a_t)))
                if t.abs_diff(a_t + sample_time(state.since_anchor, info.rate())) <= ALIGNMENT => {}
            (Some(p), _) => {
                state.anchor = Some(p);
                state.since_anchor = 0;
            }
            // Untimed from the start: the timeline begins here.
            (None, None) => {
                state.anchor = Some((Times::default(), 0));
                state.since_anchor = 0;
            }
            (None, Some(_)) => (),
        }
        let (times, t) = state.anchor.unwrap();
        let first = state.since_anchor;
        // Mapped directly (GstAudioBuffer would be boxed per buffer): the planes are found from
        // the audio meta, or laid end to end.
        let map = buf.map_readable();
        let mut planes: [&[u8]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
        let layout = match &map {
            Ok(m) => plane_layout(buf, m.as_slice(), &info, &mut planes),
            Err(e) => Err(format!("cannot map the buffer: {e}")),
        };
        let (frames, n_planes) = match layout {
            Ok(l) => l,
            Err(e) => {
                state.counters.bad_buffers += 1;
                let first = !state.warned_bad_buffer;
                state.warned_bad_buffer = true;
                drop(guard);
                gst::warning!(CAT, imp = self, "not analysed: {e}");
                if first {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        ("Received an audio buffer that cannot be analysed; it was passed through"),
                        [
                            "{} ({}; further ones are counted in the 'stats' property)",
                            e,
                            info.format().to_str()
                        ]
                    );
                }
                return Ok(());
            }
        };
        state.since_anchor += frames as u64;
        drop(guard);
        if warn_no_pts {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("Audio buffers without timestamps: times are counted from the samples")
            );
        }

        let settings = *self.settings.lock().unwrap();
        let mut f0 = 0;
        while f0 < frames {
            let mut events = Events::default();
            let reading = {
                let mut state = self.state.lock().unwrap();
                let Some(a) = state.analysis.as_mut() else {
                    return Ok(());
                };
                // Blocks sit on a grid of `block_frames` from the anchor, whatever the buffers.
                let k = first + f0 as u64;
                let to_grid = a.block_frames - (k % a.block_frames as u64) as usize;
                let n = to_grid.min(frames - f0);
                a.unpack(&planes[..n_planes], f0, n);
                let mut p = settings.params;
                p.clip_level = if settings.clip_level_db < 0.0 {
                    db_to_amplitude(settings.clip_level_db) as f32
                } else {
                    a.full_scale
                };
                let ch = a.detector.channels();
                f0 += n;
                a.detector
                    .push(&a.block[..n * ch], (times, t), k, &p, &mut events)
            };
            if settings.post_messages {
                self.post(&events, reading.as_ref(), None, live);
            }
        }
        Ok(())
    }

    /// Closes every open defect; at EOS also gives the loudness verdict.
    fn close_all(&self, reason: EndReason) {
        let settings = *self.settings.lock().unwrap();
        let mut events = Events::default();
        let (reading, verdict) = {
            let mut state = self.state.lock().unwrap();
            let anchor = (state.anchor.take(), std::mem::take(&mut state.since_anchor));
            let Some(a) = state.analysis.as_mut() else {
                return;
            };
            let closed = a.detector.close(reason, &settings.params, &mut events);
            let (r, v) = (closed.reading, closed.verdict);
            if reason == EndReason::Caps {
                (state.anchor, state.since_anchor) = anchor;
            }
            if v.is_some() {
                state.verdict = v;
            }
            (r, v)
        };
        if settings.post_messages {
            self.post(
                &events,
                reading.as_ref(),
                verdict.map(|v| (v, settings.standard)),
                self.live.load(Ordering::Acquire) == LIVE_YES,
            );
        }
    }

    fn post(
        &self,
        events: &Events,
        reading: Option<&Reading>,
        verdict: Option<(Verdict, &str)>,
        live: bool,
    ) {
        // Most blocks decide nothing: no name, clock or lock for them.
        if events.is_empty() && reading.is_none() && verdict.is_none() {
            return;
        }
        let obj = self.obj();
        let name = obj.name().to_string();
        let now_utc = message::now_unix_usec();
        let positions = {
            let state = self.state.lock().unwrap();
            state.analysis.as_ref().map(|a| a.positions)
        };
        for e in events.iter() {
            gst::debug!(
                CAT,
                imp = self,
                "{} {} id {} at {:?}",
                e.defect.as_str(),
                e.phase.as_str(),
                e.id,
                e.start
            );
            let ev = evidence_structure(e, positions.as_ref());
            let m = e.message(e.defect.as_str(), ev, &name, live, now_utc);
            let _ = obj.post_message(m.to_message(&*obj));
        }
        let measurement = |values: gst::Structure, at: Times| {
            let at = at.stamp();
            Measurement {
                measurement: values.name().to_string(),
                element: name.clone(),
                at,
                detected_running_time: at.running_time,
                utc: live.then(|| message::utc_string(now_utc)).flatten(),
                values,
            }
            .to_message(&*obj)
        };
        if let Some(r) = reading {
            let _ = obj.post_message(measurement(reading_structure(r), r.at));
        }
        if let Some((v, standard)) = verdict {
            let _ = obj.post_message(measurement(verdict_structure(&v, standard), v.at));
        }
    }

    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let c = &state.counters;
        let mut s = gst::Structure::builder("vqaudio-stats")
            .field("bad-buffers", c.bad_buffers)
            .field("buffers-without-pts", c.buffers_without_pts)
            .field("gap-events", c.gap_events)
            .field("live", self.live.load(Ordering::Acquire) == LIVE_YES)
            .build();
        if let Some(a) = &state.analysis {
            let t = a.detector.totals;
            s.set("samples", t.samples);
            s.set("duration", t.duration);
            s.set("silences", t.silences);
            s.set("channel-losses", t.channel_losses);
            s.set("clippings", t.clippings);
            s.set("clipped-samples", t.clipped_samples);
            s.set("true-peak-defects", t.true_peaks);
            s.set("loudness-defects", t.loudness);
            s.set("phase-defects", t.phase);
            s.set("mono-defects", t.mono);
            s.set("discontinuities", t.discontinuities);
            let settings = *self.settings.lock().unwrap();
            let v = a.detector.verdict(&settings.params, Times::default());
            s.set("integrated-loudness", finite_db(v.integrated));
            s.set("loudness-range", v.lra);
            s.set("max-true-peak", finite_db(v.max_true_peak_db));
        }
        if let Some(v) = &state.verdict {
            s.set("verdict", v.verdict);
        }
        if let Some(caps) = &state.caps {
            s.set("caps", caps.to_string());
        }
        s
    }
}

/// The frames of a mapped buffer and its planes (one when interleaved, one per channel when not,
/// placed by the audio meta or end to end). Errors say why the bytes are not whole frames.
fn plane_layout<'a>(
    buf: &gst::BufferRef,
    data: &'a [u8],
    info: &gst_audio::AudioInfo,
    planes: &mut [&'a [u8]; MAX_CHANNELS],
) -> Result<(usize, usize), String> {
    let bpf = info.bpf() as usize;
    let channels = info.channels() as usize;
    if bpf == 0 || !data.len().is_multiple_of(bpf) {
        return Err(format!(
            "{} bytes are not whole frames of {bpf} bytes",
            data.len()
        ));
    }
    if info.layout() == gst_audio::AudioLayout::Interleaved {
        planes[0] = data;
        return Ok((data.len() / bpf, 1));
    }
    let width = bpf / channels.max(1);
    let meta = buf.meta::<gst_audio::AudioMeta>();
    let frames = meta.as_ref().map_or(data.len() / bpf, |m| m.samples());
    for (c, slot) in planes.iter_mut().enumerate().take(channels) {
        let off = match &meta {
            Some(m) => *m
                .offsets()
                .get(c)
                .ok_or("the audio meta lacks plane offsets")?,
            None => c * frames * width,
        };
        *slot = data
            .get(off..off + frames * width)
            .ok_or_else(|| format!("plane {c} lies outside the {} bytes", data.len()))?;
    }
    Ok((frames, channels))
}

/// The BS.1770 role of a channel: front channels weigh 1, surrounds 1.41 (+1.5 dB), LFE 0.
fn loudness_role(p: gst_audio::AudioChannelPosition) -> ebur128::Channel {
    use ebur128::Channel as C;
    use gst_audio::AudioChannelPosition as P;
    match p {
        P::FrontLeft => C::Left,
        P::FrontRight => C::Right,
        // A mono programme is one loudspeaker, as FFmpeg's ebur128 filter takes it.
        P::FrontCenter | P::Mono | P::None => C::Center,
        P::RearLeft | P::SideLeft | P::SurroundLeft => C::LeftSurround,
        P::RearRight | P::SideRight | P::SurroundRight => C::RightSurround,
        P::Lfe1 | P::Lfe2 | P::Invalid => C::Unused,
        _ => C::Center,
    }
}

fn position_name(p: Option<gst_audio::AudioChannelPosition>) -> String {
    match p {
        Some(p) => format!("{p:?}"),
        None => "none".into(),
    }
}

fn channel_list(mask: u32) -> String {
    (0..32)
        .filter(|c| mask & (1 << c) != 0)
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn evidence_structure(
    e: &Event,
    positions: Option<&[Option<gst_audio::AudioChannelPosition>; MAX_CHANNELS]>,
) -> gst::Structure {
    let b = gst::Structure::builder(e.defect.as_str());
    match e.evidence {
        Evidence::Silence {
            max_level_db,
            threshold_db,
        } => b
            .field("max-level-db", finite_db(max_level_db))
            .field("threshold-db", finite_db(threshold_db)),
        Evidence::ChannelLoss {
            channel,
            max_level_db,
            threshold_db,
        } => b
            .field("channel", channel)
            .field(
                "position",
                position_name(positions.and_then(|p| p[channel as usize])),
            )
            .field("max-level-db", finite_db(max_level_db))
            .field("threshold-db", finite_db(threshold_db)),
        Evidence::Clipping {
            clips,
            clipped_samples,
            channel_mask,
            peak_db,
        } => b
            .field("clips", clips)
            .field("clipped-samples", clipped_samples)
            .field("channels", channel_list(channel_mask))
            .field("peak-db", finite_db(peak_db)),
        Evidence::TruePeak {
            max_true_peak_db,
            limit_db,
            overs,
        } => b
            .field("max-true-peak-db", finite_db(max_true_peak_db))
            .field("limit-db", limit_db)
            .field("overs", overs),
        Evidence::Loudness {
            loudness,
            target,
            tolerance,
            min,
            max,
        } => b
            .field("scope", "short-term")
            .field("loudness", finite_db(loudness))
            .field("target", target)
            .field("tolerance", tolerance)
            .field("min-short-term", finite_db(min))
            .field("max-short-term", finite_db(max)),
        Evidence::Integrated {
            loudness,
            target,
            tolerance,
            lra,
            max_true_peak_db,
        } => b
            .field("scope", "integrated")
            .field("loudness", finite_db(loudness))
            .field("target", target)
            .field("tolerance", tolerance)
            .field("loudness-range", lra)
            .field("max-true-peak-db", finite_db(max_true_peak_db)),
        Evidence::Correlation {
            correlation,
            threshold,
        } => b
            .field("correlation", correlation)
            .field("threshold", threshold),
    }
    .build()
}

/// The periodic `loudness` measurement. Loudness of silence (-inf) is written as -200.
fn reading_structure(r: &Reading) -> gst::Structure {
    let mut s = gst::Structure::builder("loudness")
        .field("momentary", finite_db(r.momentary))
        .field("short-term", finite_db(r.short_term))
        .field("integrated", finite_db(r.integrated))
        .field("loudness-range", r.lra)
        .field("true-peak-db", finite_db(r.true_peak_db))
        .field("sample-peak-db", finite_db(r.sample_peak_db))
        .field("dc-offset", r.dc_offset)
        .field("dc-offset-channel", r.dc_channel)
        .build();
    if let Some(c) = r.correlation {
        s.set("correlation", c);
    }
    s
}

fn verdict_structure(v: &Verdict, standard: &str) -> gst::Structure {
    let mut s = gst::Structure::builder("loudness-verdict")
        .field("verdict", v.verdict)
        .field("standard", standard)
        .field("integrated", finite_db(v.integrated))
        .field("loudness-range", v.lra)
        .field("max-true-peak-db", finite_db(v.max_true_peak_db))
        .build();
    if let Some(t) = v.target {
        s.set("target", t.loudness);
        s.set("tolerance", t.tolerance);
        s.set("true-peak-limit", t.max_true_peak);
    }
    s
}
