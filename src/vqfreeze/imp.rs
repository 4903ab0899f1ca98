// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

// Lock order: `state` before `watch`, `watchdog` before `watch`; `settings` and `regions` are only
// copied out, never held while another lock is taken. No lock is held while a message is posted.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::stillness::{self, BLOCK, StillParams, Stillness};
use super::tracker::{
    DEFAULT_PARAMS, Defect, Event, Events, Evidence, FrameInput, Params, Reference, StallEvidence,
    StallSource, Times, Tracker,
};
use crate::event::{self, FrameClock};
use crate::luma::{self, LumaLayout};
use crate::message::{self, DefectMessage, EndReason, Phase};
use crate::regions::Regions;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "vqfreeze",
        gst::DebugColorFlags::empty(),
        Some("vqmon freeze, black, stall and stutter detector"),
    )
});

const DEFAULT_MIN_DURATION: u64 = DEFAULT_PARAMS.min_duration;
const DEFAULT_ALARM_DURATION: u64 = DEFAULT_PARAMS.alarm_duration;
const DEFAULT_NOISE: f64 = DEFAULT_PARAMS.still.noise;
const DEFAULT_BLOCK_THRESHOLD: f64 = DEFAULT_PARAMS.still.block;
const DEFAULT_REFRESH_THRESHOLD: f64 = DEFAULT_PARAMS.still.refresh;
const DEFAULT_GRAIN_TOLERANT: bool = DEFAULT_PARAMS.still.grain;
const DEFAULT_BLACK_PIXEL_THRESHOLD: f64 = 0.10;
const DEFAULT_BLACK_PICTURE_THRESHOLD: f64 = DEFAULT_PARAMS.black_picture_threshold;
const DEFAULT_BLACK_MIN_DURATION: u64 = DEFAULT_PARAMS.black_min_duration;
const DEFAULT_STALL_TIMEOUT: u64 = DEFAULT_PARAMS.stall_timeout;
const DEFAULT_UPDATE_INTERVAL: u64 = DEFAULT_PARAMS.update_interval;
const DEFAULT_POST_MESSAGES: bool = true;
const DEFAULT_ROW_STEP: u32 = 1;

#[derive(Debug, Clone, Copy)]
struct Settings {
    min_duration: u64,
    alarm_duration: u64,
    noise: f64,
    block_threshold: f64,
    refresh_threshold: f64,
    grain_tolerant: bool,
    black_pixel_threshold: f64,
    black_picture_threshold: f64,
    black_min_duration: u64,
    stall_timeout: u64,
    update_interval: u64,
    post_messages: bool,
    row_step: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_duration: DEFAULT_MIN_DURATION,
            alarm_duration: DEFAULT_ALARM_DURATION,
            noise: DEFAULT_NOISE,
            block_threshold: DEFAULT_BLOCK_THRESHOLD,
            refresh_threshold: DEFAULT_REFRESH_THRESHOLD,
            grain_tolerant: DEFAULT_GRAIN_TOLERANT,
            black_pixel_threshold: DEFAULT_BLACK_PIXEL_THRESHOLD,
            black_picture_threshold: DEFAULT_BLACK_PICTURE_THRESHOLD,
            black_min_duration: DEFAULT_BLACK_MIN_DURATION,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            update_interval: DEFAULT_UPDATE_INTERVAL,
            post_messages: DEFAULT_POST_MESSAGES,
            row_step: DEFAULT_ROW_STEP,
        }
    }
}

impl Settings {
    fn still_params(&self) -> StillParams {
        StillParams {
            noise: self.noise,
            block: self.block_threshold,
            refresh: self.refresh_threshold,
            grain: self.grain_tolerant,
        }
    }

    fn params(&self) -> Params {
        Params {
            still: self.still_params(),
            black_picture_threshold: self.black_picture_threshold,
            min_duration: self.min_duration,
            alarm_duration: self.alarm_duration,
            black_min_duration: self.black_min_duration,
            stall_timeout: self.stall_timeout,
            update_interval: self.update_interval,
        }
    }
}

/// Per-caps analysis: geometry, layout and the pixel measurement buffers.
struct Analysis {
    info: gst_video::VideoInfo,
    layout: LumaLayout,
    full_range: bool,
    stillness: Stillness,
    band8: Vec<u8>,
    band16: Vec<u16>,
    /// Frame duration from the caps frame rate, 0 when variable or unknown.
    nominal_duration: u64,
    /// Every `row_step`-th luma row is analysed (reduced-cost mode when above 1).
    row_step: usize,
    /// Picture height in rows (the analysed plane has `height / row_step` rows, rounded up).
    height: usize,
}

impl Analysis {
    fn new(
        info: &gst_video::VideoInfo,
        layout: LumaLayout,
        regions: &Regions,
        row_step: u32,
    ) -> Result<Self, String> {
        let (w, h) = (info.width() as usize, info.height() as usize);
        let row_step = row_step.max(1) as usize;
        // Blocks are 16 pixels wide and 16 analysed rows tall.
        let mut stillness = Stillness::new(w, h.div_ceil(row_step), layout.depth);
        let (cols, rows) = stillness.grid();
        let mut mask = vec![true; cols * rows];
        if regions.block_mask(w, h, BLOCK, BLOCK * row_step, &mut mask) == 0 {
            // Nothing to compare would read as a picture that never changes.
            return Err(format!(
                "regions '{regions}' leave no 16x16 block of the {w}x{h} picture to analyse"
            ));
        }
        stillness.set_mask(&mask);
        let needs_unpack = !layout.is_direct_u8();
        let nominal_duration = event::nominal_duration(info);
        Ok(Analysis {
            info: info.clone(),
            layout,
            full_range: layout.rgb
                || info.colorimetry().range() == gst_video::VideoColorRange::Range0_255,
            stillness,
            band8: if needs_unpack && layout.is_8bit() {
                vec![0; BLOCK * w]
            } else {
                Vec::new()
            },
            band16: if layout.is_8bit() {
                Vec::new()
            } else {
                vec![0; BLOCK * w]
            },
            nominal_duration,
            row_step,
            height: h,
        })
    }

    /// FFmpeg blackdetect's pixel threshold in native code values.
    fn black_threshold(&self, pixel_th: f64) -> u16 {
        let depth = self.layout.depth;
        let max = f64::from((1u32 << depth) - 1);
        let factor = f64::from(1u32 << (depth - 8));
        let v = if self.full_range {
            pixel_th * max
        } else {
            16.0 * factor + pixel_th * 219.0 * factor
        };
        v.floor().clamp(0.0, max) as u16
    }

    /// Measures the luma of one mapped frame. Fails if the plane is smaller than the caps say.
    fn measure(
        &mut self,
        frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
    ) -> Result<stillness::FrameStats, String> {
        let (w, h) = (self.stillness.width(), self.stillness.height());
        let step = self.row_step;
        let p = self.layout.plane;
        let stride = frame.plane_stride()[p];
        if stride <= 0 {
            return Err(format!("unsupported stride {stride}"));
        }
        let stride = stride as usize;
        let data = frame
            .plane_data(p as u32)
            .map_err(|e| format!("cannot read plane {p}: {e}"))?;
        let row_bytes = self.layout.row_bytes(w);
        let full_h = self.height;
        if full_h > 0 && (full_h - 1) * stride + row_bytes > data.len() {
            return Err(format!(
                "plane {p} holds {} bytes, {w}x{full_h} with stride {stride} needs {}",
                data.len(),
                (full_h - 1) * stride + row_bytes
            ));
        }
        let offset = match self.layout.sample {
            luma::Sample::U8 { offset, .. } => offset,
            _ => 0,
        };
        for band in 0..h.div_ceil(BLOCK) {
            let y0 = band * BLOCK;
            let n = (h - y0).min(BLOCK);
            let row = |r: usize| &data[(y0 + r) * step * stride..];
            if self.layout.is_direct_u8() {
                let mut rows: [&[u8]; BLOCK] = [&[]; BLOCK];
                for (r, slot) in rows.iter_mut().enumerate().take(n) {
                    *slot = &row(r)[offset..offset + w];
                }
                self.stillness.band_u8(band, &rows[..n]);
            } else if self.layout.is_8bit() {
                for (r, out) in self.band8.chunks_exact_mut(w).enumerate().take(n) {
                    self.layout.unpack_u8(row(r), out);
                }
                let mut rows: [&[u8]; BLOCK] = [&[]; BLOCK];
                for (slot, chunk) in rows.iter_mut().zip(self.band8.chunks_exact(w)).take(n) {
                    *slot = chunk;
                }
                self.stillness.band_u8(band, &rows[..n]);
            } else {
                for (r, out) in self.band16.chunks_exact_mut(w).enumerate().take(n) {
                    self.layout.unpack_u16(row(r), out);
                }
                let mut rows: [&[u16]; BLOCK] = [&[]; BLOCK];
                for (slot, chunk) in rows.iter_mut().zip(self.band16.chunks_exact(w)).take(n) {
                    *slot = chunk;
                }
                self.stillness.band_u16(band, &rows[..n]);
            }
        }
        Ok(self.stillness.finish_frame())
    }
}

#[derive(Default)]
struct Counters {
    bad_buffers: u64,
    discont_buffers: u64,
    gap_events: u64,
}

/// Streaming state; exists from construction, analysis from the first caps.
struct State {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    analysis: Option<Analysis>,
    tracker: Tracker,
    /// Places buffers on the analysis timeline.
    clock: FrameClock,
    counters: Counters,
    warned_no_pts: bool,
    warned_bad_buffer: bool,
    caps: Option<gst::Caps>,
}

impl State {
    fn new(ids: Arc<AtomicU64>) -> Self {
        State {
            segment: None,
            analysis: None,
            tracker: Tracker::new(ids),
            clock: FrameClock::default(),
            counters: Counters::default(),
            warned_no_pts: false,
            warned_bad_buffer: false,
            caps: None,
        }
    }
}

/// The wall-clock watchdog's view, shared with the system clock's callback thread.
#[derive(Default)]
struct Watch {
    /// The watchdog runs (live pipeline, PLAYING).
    armed: bool,
    eos: bool,
    /// Monotonic time (µs) of the last frame's arrival.
    last_arrival: Option<i64>,
    /// Times and timeline position where the next frame is expected.
    expected: Option<(Times, u64)>,
    /// Duration of the last frame (µs): the next one is due that long after the last arrival.
    last_duration_us: i64,
    open: Option<OpenStall>,
}

#[derive(Clone, Copy)]
struct OpenStall {
    id: u64,
    start: Times,
    start_t: u64,
    since: i64,
    start_utc: i64,
    detected: Option<u64>,
    last_update: i64,
}

pub struct VqFreeze {
    settings: Mutex<Settings>,
    regions: Mutex<Regions>,
    /// Why the last `regions` value was refused (set before the element had a bus, the warning
    /// reached nobody): the state change to PAUSED fails with it.
    regions_error: Mutex<Option<String>>,
    reconfigure: AtomicBool,
    state: Mutex<State>,
    watch: Mutex<Watch>,
    watchdog: Mutex<Option<gst::PeriodicClockId>>,
    ids: Arc<AtomicU64>,
    /// LIVE_UNKNOWN until an upstream latency query answered (live sources answer only once
    /// they have negotiated, which can be after PLAYING).
    live: AtomicU8,
    playing: AtomicBool,
}

const LIVE_UNKNOWN: u8 = 0;
const LIVE_YES: u8 = 1;
const LIVE_NO: u8 = 2;

#[glib::object_subclass]
impl ObjectSubclass for VqFreeze {
    const NAME: &'static str = "GstVqFreeze";
    type Type = super::VqFreeze;
    type ParentType = gst_video::VideoFilter;

    fn new() -> Self {
        let ids = Arc::new(AtomicU64::new(1));
        VqFreeze {
            settings: Mutex::new(Settings::default()),
            regions: Mutex::new(Regions::default()),
            regions_error: Mutex::new(None),
            reconfigure: AtomicBool::new(false),
            state: Mutex::new(State::new(ids.clone())),
            watch: Mutex::new(Watch::default()),
            watchdog: Mutex::new(None),
            ids,
            live: AtomicU8::new(LIVE_UNKNOWN),
            playing: AtomicBool::new(false),
        }
    }
}

fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl ObjectImpl for VqFreeze {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt64::builder("min-duration")
                    .nick("Minimum freeze duration")
                    .blurb("Shortest time (ns) a picture must stay unchanged to be a freeze (it must also be held longer than the stream's cadence holds pictures); shorter off-cadence holds are stutter")
                    .minimum(1)
                    .default_value(DEFAULT_MIN_DURATION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("alarm-duration")
                    .nick("Alarm duration")
                    .blurb("Freezes and black lasting at least this long (ns) are 'major' (an update is posted when one becomes major); shorter ones are 'minor'")
                    .minimum(1)
                    .default_value(DEFAULT_ALARM_DURATION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("noise")
                    .nick("Noise")
                    .blurb("Largest mean absolute frame difference of a still picture, as a fraction of full scale (FFmpeg freezedetect 'noise'; 0.001 = -60 dB)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NOISE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("noise-db")
                    .nick("Noise (dB)")
                    .blurb("The 'noise' threshold in dB of full scale (20 log10 noise); setting one sets the other")
                    .minimum(-200.0)
                    .maximum(0.0)
                    .default_value(20.0 * DEFAULT_NOISE.log10())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("block-threshold")
                    .nick("Block threshold")
                    .blurb("Largest mean absolute difference of any 16x16 block of a still picture, in 8-bit code values (scaled for deeper formats)")
                    .minimum(0.0)
                    .maximum(255.0)
                    .default_value(DEFAULT_BLOCK_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("refresh-threshold")
                    .nick("Refresh threshold")
                    .blurb("Largest block change, in 8-bit code values, of a re-encoding refresh that does not end a freeze (0 = any change ends it)")
                    .minimum(0.0)
                    .maximum(255.0)
                    .default_value(DEFAULT_REFRESH_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("grain-tolerant")
                    .nick("Grain tolerant")
                    .blurb("Report a still picture under changing grain or noise as a freeze (kind 'noisy')")
                    .default_value(DEFAULT_GRAIN_TOLERANT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("black-pixel-threshold")
                    .nick("Black pixel threshold")
                    .blurb("Luma at or below this fraction of the luma range is black (FFmpeg blackdetect pix_th)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_BLACK_PIXEL_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("black-picture-threshold")
                    .nick("Black picture threshold")
                    .blurb("Fraction of black pixels that makes a picture black (FFmpeg blackdetect pic_th)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_BLACK_PICTURE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("black-min-duration")
                    .nick("Minimum black duration")
                    .blurb("Shortest black interval (ns) reported (FFmpeg blackdetect d)")
                    .minimum(1)
                    .default_value(DEFAULT_BLACK_MIN_DURATION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("stall-timeout")
                    .nick("Stall timeout")
                    .blurb("Time (ns) without a frame that is a stall, in running time and, in live pipelines, wall clock (0 = off)")
                    .default_value(DEFAULT_STALL_TIMEOUT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("update-interval")
                    .nick("Update interval")
                    .blurb("Interval (ns) of 'update' heartbeats of open defects (0 = none)")
                    .default_value(DEFAULT_UPDATE_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("regions")
                    .nick("Regions")
                    .blurb("Rectangles to analyse or ignore: 'include:X,Y,W,H;exclude:X,Y,W,H' in pixels or % (no include = whole picture; excludes are removed from it)")
                    .default_value(Some(""))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post defect messages on the bus")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("row-step")
                    .nick("Row step")
                    .blurb("Analyse every n-th luma row only: reduced cost for large fleets (1 = every row; see the README for the accuracy measured)")
                    .minimum(1)
                    .maximum(8)
                    .default_value(DEFAULT_ROW_STEP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Frames analysed, defects found and input problems seen so far")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        // VideoFilter turns QoS on; a monitor must never drop the frames it watches.
        self.obj().set_qos(false);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        macro_rules! set {
            ($field:ident, $ty:ty) => {{
                let v: $ty = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "{}: {:?} -> {:?}",
                    pspec.name(),
                    s.$field,
                    v
                );
                s.$field = v;
            }};
        }
        match pspec.name() {
            "min-duration" => set!(min_duration, u64),
            "alarm-duration" => set!(alarm_duration, u64),
            "noise" => set!(noise, f64),
            "noise-db" => {
                let db: f64 = value.get().expect("type checked upstream");
                let v = 10f64.powf(db / 20.0);
                gst::info!(CAT, imp = self, "noise-db: {db} dB -> noise {v}");
                s.noise = v;
            }
            "block-threshold" => set!(block_threshold, f64),
            "refresh-threshold" => set!(refresh_threshold, f64),
            "grain-tolerant" => set!(grain_tolerant, bool),
            "black-pixel-threshold" => set!(black_pixel_threshold, f64),
            "black-picture-threshold" => set!(black_picture_threshold, f64),
            "black-min-duration" => set!(black_min_duration, u64),
            "stall-timeout" => set!(stall_timeout, u64),
            "update-interval" => set!(update_interval, u64),
            "post-messages" => set!(post_messages, bool),
            "row-step" => {
                set!(row_step, u32);
                self.reconfigure.store(true, Ordering::Release);
            }
            "regions" => {
                drop(s);
                let text: Option<String> = value.get().expect("type checked upstream");
                match text.as_deref().unwrap_or("").parse::<Regions>() {
                    Ok(r) => {
                        gst::info!(CAT, imp = self, "regions -> '{r}'");
                        *self.regions.lock().unwrap() = r;
                        *self.regions_error.lock().unwrap() = None;
                        self.reconfigure.store(true, Ordering::Release);
                    }
                    Err(e) => {
                        // A property setter cannot fail: keep the previous regions and say why,
                        // on the bus if there is one, and at the next start in any case.
                        let msg = format!("Invalid regions '{}': {}", text.unwrap_or_default(), e);
                        gst::error!(CAT, imp = self, "{msg}");
                        gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", msg));
                        *self.regions_error.lock().unwrap() = Some(msg);
                    }
                }
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = *self.settings.lock().unwrap();
        match pspec.name() {
            "min-duration" => s.min_duration.to_value(),
            "alarm-duration" => s.alarm_duration.to_value(),
            "noise" => s.noise.to_value(),
            "noise-db" => (20.0 * s.noise.max(1e-10).log10()).to_value(),
            "block-threshold" => s.block_threshold.to_value(),
            "refresh-threshold" => s.refresh_threshold.to_value(),
            "grain-tolerant" => s.grain_tolerant.to_value(),
            "black-pixel-threshold" => s.black_pixel_threshold.to_value(),
            "black-picture-threshold" => s.black_picture_threshold.to_value(),
            "black-min-duration" => s.black_min_duration.to_value(),
            "stall-timeout" => s.stall_timeout.to_value(),
            "update-interval" => s.update_interval.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "row-step" => s.row_step.to_value(),
            "regions" => self.regions.lock().unwrap().to_string().to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for VqFreeze {}

impl ElementImpl for VqFreeze {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Video freeze detector",
                "Filter/Analyzer/Video",
                "Detects frozen, black, stalled and stuttering video inline and posts vqmon-defect messages",
                "The vqmon developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = luma::supported_caps();
            luma::filter_pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::PlayingToPaused => {
                self.playing.store(false, Ordering::Release);
                self.stop_watchdog();
            }
            gst::StateChange::ReadyToPaused | gst::StateChange::PausedToReady => {
                self.live.store(LIVE_UNKNOWN, Ordering::Release);
            }
            _ => (),
        }
        let res = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToPlaying {
            self.playing.store(true, Ordering::Release);
            self.ensure_live_known();
        }
        Ok(res)
    }
}

impl BaseTransformImpl for VqFreeze {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(msg) = self.regions_error.lock().unwrap().clone() {
            return Err(gst::error_msg!(gst::LibraryError::Settings, ("{}", msg)));
        }
        *self.state.lock().unwrap() = State::new(self.ids.clone());
        *self.watch.lock().unwrap() = Watch::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.stop_watchdog();
        self.close_all(EndReason::Stopped);
        let mut state = self.state.lock().unwrap();
        state.analysis = None;
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::FlushStop(_) => {
                self.close_all(EndReason::Flush);
                let mut state = self.state.lock().unwrap();
                if let Some(a) = state.analysis.as_mut() {
                    a.stillness.reset();
                }
                state.clock.reset();
            }
            EventView::Segment(e) => {
                let seg = e.segment();
                self.close_all(EndReason::Segment);
                let mut state = self.state.lock().unwrap();
                match seg.downcast_ref::<gst::ClockTime>() {
                    Some(s) => state.segment = Some(s.clone()),
                    None => {
                        drop(state);
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            ("vqfreeze needs a TIME segment, got {:?}", seg.format())
                        );
                        return false;
                    }
                }
                state.clock.last_t_end = None;
            }
            EventView::StreamStart(_) => {
                self.close_all(EndReason::Segment);
            }
            EventView::Gap(e) => {
                let (ts, dur) = e.get();
                let mut state = self.state.lock().unwrap();
                state.counters.gap_events += 1;
                let end_rt = state
                    .segment
                    .as_ref()
                    .and_then(|s| s.to_running_time(ts + dur.unwrap_or(gst::ClockTime::ZERO)));
                if let Some(end) = end_rt {
                    state.tracker.extend_prev_to(end.nseconds());
                }
                state.clock.gap(
                    ts + dur.unwrap_or(gst::ClockTime::ZERO),
                    end_rt.map(gst::ClockTime::nseconds),
                );
                drop(state);
                // A signalled gap is not a stall: keep the watchdog fed.
                let mut w = self.watch.lock().unwrap();
                if w.last_arrival.is_some() {
                    w.last_arrival = Some(glib::monotonic_time());
                }
            }
            EventView::Eos(_) => {
                self.close_all(EndReason::Eos);
                self.watch.lock().unwrap().eos = true;
            }
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

impl VideoFilterImpl for VqFreeze {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let layout = LumaLayout::for_format(in_info.format())
            .map_err(|e| gst::loggable_error!(CAT, "vqfreeze cannot analyse {}: {}", incaps, e))?;
        if in_info.width() == 0 || in_info.height() == 0 {
            return Err(gst::loggable_error!(
                CAT,
                "vqfreeze cannot analyse an empty picture: {}",
                incaps
            ));
        }
        let same = {
            let state = self.state.lock().unwrap();
            state.analysis.as_ref().is_some_and(|a| a.info == *in_info)
        };
        if same {
            return Ok(());
        }
        self.close_all(EndReason::Caps);
        let regions = self.regions.lock().unwrap().clone();
        self.reconfigure.store(false, Ordering::Release);
        let row_step = self.settings.lock().unwrap().row_step;
        let analysis = match Analysis::new(in_info, layout, &regions, row_step) {
            Ok(a) => a,
            Err(msg) => {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", msg));
                return Err(gst::loggable_error!(CAT, "{}", msg));
            }
        };
        gst::info!(
            CAT,
            imp = self,
            "analysing {}x{} {} luma ({:?}), nominal frame duration {} ns",
            in_info.width(),
            in_info.height(),
            in_info.format().to_str(),
            layout.sample,
            analysis.nominal_duration
        );
        let mut state = self.state.lock().unwrap();
        state.analysis = Some(analysis);
        state.caps = Some(incaps.clone());
        Ok(())
    }
}

impl VqFreeze {
    fn analyse(&self, buf: &gst::BufferRef) -> Result<(), gst::FlowError> {
        if self.live.load(Ordering::Acquire) == LIVE_UNKNOWN {
            self.ensure_live_known();
        }
        let settings = *self.settings.lock().unwrap();
        let reconfigure = self.reconfigure.swap(false, Ordering::AcqRel);
        let regions = reconfigure.then(|| self.regions.lock().unwrap().clone());

        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        let Some(analysis) = state.analysis.as_mut() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["No caps before the first buffer"]
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        if let Some(r) = regions {
            // Regions or row step changed while playing: rebuild the analysis (allocates, once).
            match Analysis::new(
                &analysis.info.clone(),
                analysis.layout,
                &r,
                settings.row_step,
            ) {
                Ok(a) => *analysis = a,
                Err(msg) => {
                    drop(guard);
                    gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", msg));
                    return Err(gst::FlowError::Error);
                }
            }
        }
        let nominal = analysis.nominal_duration;
        if buf.flags().contains(gst::BufferFlags::DISCONT) {
            state.counters.discont_buffers += 1;
        }
        let had_pts = buf.pts().is_some();
        let (times, t, dur) = state.clock.place(buf, state.segment.as_ref(), nominal);
        let live = self.is_live();

        // The watchdog's open stall, if any, ends with this frame.
        let watchdog_end = {
            let mut w = self.watch.lock().unwrap();
            let now = glib::monotonic_time();
            w.last_arrival = Some(now);
            w.expected = Some((times.plus(dur), t + dur));
            w.last_duration_us = (dur / 1000) as i64;
            w.eos = false;
            w.open.take().map(|o| (o, now))
        };

        let analysis = state.analysis.as_mut().unwrap();
        let black_threshold = analysis.black_threshold(settings.black_pixel_threshold);
        analysis.stillness.set_black_threshold(black_threshold);
        let measured =
            luma::readable_frame(buf, &analysis.info).and_then(|frame| analysis.measure(&frame));
        let mut warn_no_pts = false;
        if !had_pts && !state.warned_no_pts {
            state.warned_no_pts = true;
            warn_no_pts = true;
        }
        // Decide everything under the lock; post after releasing it.
        let mut bad_buffer = None;
        let events = match measured {
            Ok(stats) => {
                let input = FrameInput {
                    times,
                    t,
                    duration: dur,
                    stats,
                    gap_flag: buf.flags().contains(gst::BufferFlags::GAP),
                };
                let step = state.tracker.push(
                    input,
                    &analysis.stillness,
                    &settings.params(),
                    watchdog_end.is_some(),
                );
                gst::trace!(CAT, imp = self, "t {t} {stats:?} -> {step:?}");
                match step.reference {
                    Reference::Keep => (),
                    Reference::Restart => analysis.stillness.set_reference_to_current(),
                    Reference::Reanchor => analysis.stillness.reanchor_reference(),
                }
                step.events
            }
            Err(why) => {
                state.counters.bad_buffers += 1;
                // The frame was shown (or lost) for its duration: keep the timeline going.
                state.tracker.extend_prev_to(t + dur);
                bad_buffer = Some((why, !state.warned_bad_buffer));
                state.warned_bad_buffer = true;
                Events::default()
            }
        };
        drop(guard);

        if let Some((why, first)) = bad_buffer {
            gst::warning!(CAT, imp = self, "not analysed: {why}");
            if first {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("Received a video buffer that cannot be analysed; it was passed through"),
                    ["{} (further ones are counted in the 'stats' property)", why]
                );
            }
        }
        if warn_no_pts {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("Video buffers without timestamps: times are estimated from frame durations")
            );
        }
        if let Some((o, now)) = watchdog_end {
            self.post_watchdog_end(
                o,
                times,
                t,
                now,
                EndReason::Recovered,
                live,
                settings.post_messages,
            );
        }
        if settings.post_messages {
            self.post_events(&events, live);
        }
        Ok(())
    }

    /// Closes every open defect (EOS, flush, segment, caps, stop) and posts the ends.
    fn close_all(&self, reason: EndReason) {
        let settings = *self.settings.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let expected = state.tracker.expected_next();
        let detected = expected.map(|(times, t)| times.running_time.unwrap_or(t));
        let events = state.tracker.close(reason, detected, &settings.params());
        let live = self.is_live();
        if reason != EndReason::Caps {
            state.clock.reset();
        }
        drop(state);
        let open = {
            let mut w = self.watch.lock().unwrap();
            w.expected = None;
            w.last_arrival = None;
            w.open.take()
        };
        if let Some(o) = open {
            let (end, end_t) = expected.unwrap_or((o.start, o.start_t));
            self.post_watchdog_end(
                o,
                end,
                end_t,
                glib::monotonic_time(),
                reason,
                live,
                settings.post_messages,
            );
        }
        if settings.post_messages {
            self.post_events(&events, live);
        }
    }

    fn element_name(&self) -> String {
        self.obj().name().to_string()
    }

    fn post_events(&self, events: &Events, live: bool) {
        if events.is_empty() {
            return;
        }
        let name = self.element_name();
        let now_utc = message::now_unix_usec();
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
            let msg = to_message(e, &name, live, now_utc);
            let _ = self.obj().post_message(msg.to_message(&*self.obj()));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn post_watchdog_end(
        &self,
        o: OpenStall,
        end: Times,
        end_t: u64,
        now: i64,
        reason: EndReason,
        live: bool,
        post: bool,
    ) {
        let wall = ((now - o.since).max(0) as u64) * 1000;
        let duration = end_t.saturating_sub(o.start_t).max(wall);
        let e = Event {
            defect: Defect::Stall,
            phase: Phase::End,
            id: o.id,
            start: o.start,
            start_t: o.start_t,
            detected: end.running_time.or(o.detected),
            duration: Some(duration),
            end: Some(end),
            reason: Some(reason),
            evidence: Evidence::Stall(StallEvidence {
                source: StallSource::Watchdog,
                missing_frames: 0,
            }),
        };
        if post {
            let mut m = to_message(&e, &self.element_name(), live, message::now_unix_usec());
            m.utc = message::utc_string(o.start_utc);
            let _ = self.obj().post_message(m.to_message(&*self.obj()));
        }
    }

    fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire) == LIVE_YES
    }

    /// Asks upstream whether the stream is live, once it can answer; starts the watchdog of a
    /// live stream that is playing.
    fn ensure_live_known(&self) {
        if self.live.load(Ordering::Acquire) != LIVE_UNKNOWN {
            return;
        }
        let Some(pad) = self.obj().static_pad("sink") else {
            return;
        };
        let mut q = gst::query::Latency::new();
        if !pad.peer_query(&mut q) {
            return;
        }
        let live = q.result().0;
        self.live
            .store(if live { LIVE_YES } else { LIVE_NO }, Ordering::Release);
        gst::debug!(CAT, imp = self, "live {live}");
        if live && self.playing.load(Ordering::Acquire) {
            self.start_watchdog();
        }
    }

    fn start_watchdog(&self) {
        let timeout = self.settings.lock().unwrap().stall_timeout;
        // Held until the clock id is stored: the state-change and streaming threads may race here.
        let mut slot = self.watchdog.lock().unwrap();
        if timeout == 0 || slot.is_some() {
            return;
        }
        {
            let mut w = self.watch.lock().unwrap();
            w.armed = true;
            // Time spent paused is not a stall.
            if w.last_arrival.is_some() {
                w.last_arrival = Some(glib::monotonic_time());
            }
        }
        let clock = gst::SystemClock::obtain();
        let interval = gst::ClockTime::from_nseconds((timeout / 8).clamp(20_000_000, 250_000_000));
        let now = clock.time();
        let id = clock.new_periodic_id(now + interval, interval);
        let weak = self.obj().downgrade();
        let res = id.wait_async(move |_, _, _| {
            if let Some(obj) = weak.upgrade() {
                obj.imp().watchdog_tick();
            }
        });
        if res.is_err() {
            gst::warning!(CAT, imp = self, "cannot start the stall watchdog");
            return;
        }
        *slot = Some(id);
    }

    fn stop_watchdog(&self) {
        if let Some(id) = self.watchdog.lock().unwrap().take() {
            id.unschedule();
        }
        self.watch.lock().unwrap().armed = false;
    }

    /// Runs on the system clock's thread: reports a stall as soon as frames stop arriving.
    fn watchdog_tick(&self) {
        let settings = *self.settings.lock().unwrap();
        if settings.stall_timeout == 0 {
            return;
        }
        let now = glib::monotonic_time();
        let now_rt = self
            .obj()
            .current_running_time()
            .map(gst::ClockTime::nseconds);
        let timeout_us = (settings.stall_timeout / 1000) as i64;
        let mut post_start = None;
        let mut post_update = None;
        {
            let mut w = self.watch.lock().unwrap();
            if !w.armed || w.eos {
                return;
            }
            let (Some(last), Some((expected, expected_t))) = (w.last_arrival, w.expected) else {
                return;
            };
            // The stall starts when the next frame was due, like a timestamp gap does.
            let due = last + w.last_duration_us;
            match w.open.as_mut() {
                None if now - due >= timeout_us => {
                    let o = OpenStall {
                        id: self.ids.fetch_add(1, Ordering::Relaxed),
                        start: expected,
                        start_t: expected_t,
                        since: due,
                        start_utc: message::now_unix_usec() - (now - due),
                        detected: now_rt,
                        last_update: now,
                    };
                    w.open = Some(o);
                    post_start = Some(o);
                }
                Some(o)
                    if settings.update_interval > 0
                        && (now - o.last_update) as u64 * 1000 >= settings.update_interval =>
                {
                    o.last_update = now;
                    post_update = Some((*o, ((now - o.since) as u64) * 1000));
                }
                _ => (),
            }
        }
        if !settings.post_messages {
            return;
        }
        let evidence = Evidence::Stall(StallEvidence {
            source: StallSource::Watchdog,
            missing_frames: 0,
        });
        let name = self.element_name();
        let mk = |o: &OpenStall, phase, duration| {
            let e = Event {
                defect: Defect::Stall,
                phase,
                id: o.id,
                start: o.start,
                start_t: o.start_t,
                detected: now_rt,
                duration,
                end: None,
                reason: None,
                evidence,
            };
            let mut m = to_message(&e, &name, true, message::now_unix_usec());
            m.utc = message::utc_string(o.start_utc);
            m
        };
        if let Some(o) = post_start {
            gst::info!(
                CAT,
                imp = self,
                "no frame for {} ms: stall",
                (now - o.since) / 1000
            );
            let _ = self
                .obj()
                .post_message(mk(&o, Phase::Start, None).to_message(&*self.obj()));
        }
        if let Some((o, d)) = post_update {
            let _ = self
                .obj()
                .post_message(mk(&o, Phase::Update, Some(d)).to_message(&*self.obj()));
        }
    }

    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let t = state.tracker.totals;
        let c = &state.counters;
        let mut s = gst::Structure::builder("vqfreeze-stats")
            .field("frames", t.frames)
            .field("duration", t.duration)
            .field("freezes", t.freezes)
            .field("major-freezes", t.major_freezes)
            .field("blacks", t.blacks)
            .field("stalls", t.stalls)
            .field("stutter-runs", t.stutter_runs)
            .field("duplicate-holds", t.duplicate_holds)
            .field("frozen-seconds", ns_to_s(t.frozen_time))
            .field("bad-buffers", c.bad_buffers)
            .field("frames-without-pts", state.clock.frames_without_pts)
            .field("discont-buffers", c.discont_buffers)
            .field("gap-events", c.gap_events)
            .field("live", self.is_live())
            .build();
        if let Some(caps) = &state.caps {
            s.set("caps", caps.to_string());
        }
        s
    }
}

fn evidence_structure(e: &Evidence) -> gst::Structure {
    match e {
        Evidence::Freeze(f) => gst::Structure::builder("freeze")
            .field("kind", f.kind.as_str())
            .field("severity", f.severity.as_str())
            .field("frames", f.frames)
            .field("exact-frames", f.exact_frames)
            .field("flagged-frames", f.flagged_frames)
            .field("noisy-frames", f.noisy_frames)
            .field("refreshes", f.refreshes)
            .field("black-frames", f.black_frames)
            .field("max-drift", f.max_drift)
            .field("jitter", f.jitter)
            .field("max-mafd", f.max_mafd)
            .field("max-block-mad", f.max_block_mad)
            .field("max-ref-delta", f.max_ref_delta)
            .field("noise-floor", f.noise_floor)
            .field("mean-luma", f.mean_luma)
            .build(),
        Evidence::Black(b) => gst::Structure::builder("black")
            .field("severity", b.severity.as_str())
            .field("frames", b.frames)
            .field("min-black-ratio", b.min_black_ratio)
            .field("max-mean-luma", b.max_mean_luma)
            .build(),
        Evidence::Stall(s) => gst::Structure::builder("stall")
            .field("source", s.source.as_str())
            .field("missing-frames", s.missing_frames)
            .build(),
        Evidence::Stutter(s) => gst::Structure::builder("stutter")
            .field("runs", s.runs)
            .field("repeated-frames", s.repeated_frames)
            .field("longest-run-frames", s.longest_run_frames)
            .field("longest-run-duration", s.longest_run_duration)
            .field("rate-per-minute", s.rate_per_minute)
            .field("cadence-frames", s.cadence_frames)
            .build(),
    }
}

/// Builds the typed message of a tracker event.
fn to_message(e: &Event, element: &str, live: bool, now_utc: i64) -> DefectMessage {
    e.message(
        e.defect.as_str(),
        evidence_structure(&e.evidence),
        element,
        live,
        now_utc,
    )
}
