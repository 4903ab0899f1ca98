// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

// Lock order: `settings` is only copied out; `state` is never held while a message is posted.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::cells::{CellParams, Cells, Signature};
use super::decide::{self, Detector};
use super::events::{
    BlockinessParams, BlockinessTracker, CorruptionParams, CorruptionTracker, Event, EventEvidence,
    Events,
};
use super::features::{CELL, Features};
use super::grid::{self, AxisTracker};
use crate::event::{self, FrameClock};
use crate::luma::{self, LumaLayout};
use crate::message::{self, DefectMessage, EndReason, Measurement};
use crate::transport;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "vqartifact",
        gst::DebugColorFlags::empty(),
        Some("vqmon block corruption and compression blockiness detector"),
    )
});

const SECOND: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Settings {
    edge_step: f64,
    clean_edge_step: f64,
    edge_ratio: f64,
    sides_min: u32,
    cluster_min: u32,
    cluster_radius: u32,
    chronic_fraction: f64,
    hangover: u64,
    scenecut_threshold: f64,
    baseline_window: u64,
    use_decoder_flags: bool,
    use_lost_frames: bool,
    use_transport_errors: bool,
    propagate_damage: bool,
    blockiness_warning: f64,
    blockiness_alarm: f64,
    blockiness_min_duration: u64,
    measurement_interval: u64,
    update_interval: u64,
    estimate_grid: bool,
    frame_step: u32,
    /// Which frames `frame_step` analyses: those whose index plus this is a multiple of it;
    /// -1 picks one per element instance.
    frame_step_phase: i32,
    draw: bool,
    post_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            edge_step: 20.0,
            clean_edge_step: 10.0,
            edge_ratio: 3.0,
            sides_min: 3,
            cluster_min: 4,
            cluster_radius: 3,
            chronic_fraction: 0.5,
            hangover: SECOND,
            scenecut_threshold: 20.0,
            baseline_window: 30 * SECOND,
            use_decoder_flags: true,
            use_lost_frames: true,
            use_transport_errors: true,
            propagate_damage: true,
            blockiness_warning: 1.3,
            blockiness_alarm: 1.5,
            blockiness_min_duration: 2 * SECOND,
            measurement_interval: 0,
            update_interval: 10 * SECOND,
            estimate_grid: true,
            frame_step: 1,
            frame_step_phase: -1,
            draw: false,
            post_messages: true,
        }
    }
}

impl Settings {
    fn cell_params(&self, full_range: bool) -> CellParams {
        CellParams {
            step_min: self.edge_step as f32,
            ratio_min: self.edge_ratio as f32,
            sides_min: self.sides_min,
            chronic_frac: self.chronic_fraction as f32,
            full_range,
            scenecut: self.scenecut_threshold as f32,
            ..CellParams::default()
        }
    }

    fn corruption_params(&self) -> CorruptionParams {
        CorruptionParams {
            cluster_min: self.cluster_min,
            hangover: self.hangover,
            scenecut: self.scenecut_threshold as f32,
            use_decoder_flags: self.use_decoder_flags,
            use_lost_frames: self.use_lost_frames,
            use_transport_errors: self.use_transport_errors,
            propagate_damage: self.propagate_damage,
            update_interval: self.update_interval,
        }
    }

    fn params(&self) -> decide::Params {
        decide::Params {
            corruption: self.corruption_params(),
            blockiness: self.blockiness_params(),
            cell: CELL as u32,
            measurement_interval: self.measurement_interval,
        }
    }

    fn blockiness_params(&self) -> BlockinessParams {
        BlockinessParams {
            warn: self.blockiness_warning,
            alarm: self.blockiness_alarm,
            min_duration: self.blockiness_min_duration,
            smoothing: SECOND,
            update_interval: self.update_interval,
        }
    }
}

/// Grid estimation: profiles accumulated over about a second.
struct GridState {
    colacc: Vec<f32>,
    rowacc: Vec<f32>,
    since: Option<u64>,
    frames: u32,
    x: AxisTracker,
    y: AxisTracker,
    scratch: Vec<f32>,
}

/// Per-caps analysis state.
struct Analysis {
    info: gst_video::VideoInfo,
    layout: LumaLayout,
    full_range: bool,
    features: Features,
    cells: Cells,
    /// Unpacking scratch for formats not read in place: the row above and 16 rows.
    band: Vec<u8>,
    row16: Vec<u16>,
    grid: GridState,
    /// Scratch of the profiles' medians (blockiness), as long as the longer profile.
    medians: Vec<u32>,
    nominal_duration: u64,
    /// Analysed area of the last frame (origin and size), from the crop metadata.
    area: (usize, usize, usize, usize),
}

impl Analysis {
    fn new(info: &gst_video::VideoInfo, layout: LumaLayout) -> Self {
        let (w, h) = (info.width() as usize, info.height() as usize);
        let nominal_duration = event::nominal_duration(info);
        Analysis {
            info: info.clone(),
            layout,
            full_range: layout.rgb
                || info.colorimetry().range() == gst_video::VideoColorRange::Range0_255,
            features: Features::new(w, h),
            cells: Cells::new(w / CELL, h / CELL),
            band: if layout.is_direct_u8() {
                Vec::new()
            } else {
                vec![0; (CELL + 1) * w]
            },
            row16: if layout.is_8bit() {
                Vec::new()
            } else {
                vec![0; w]
            },
            medians: Vec::with_capacity(w.max(h)),
            grid: GridState {
                colacc: vec![0.0; w],
                rowacc: vec![0.0; h],
                since: None,
                frames: 0,
                x: AxisTracker::new(0.0),
                y: AxisTracker::new(0.0),
                scratch: Vec::with_capacity(2 * w.max(h)),
            },
            nominal_duration,
            area: (0, 0, w, h),
        }
    }

    /// Frames expected over `window` at the caps frame rate (25 fps when unknown).
    fn frames_in(&self, window: u64) -> usize {
        let d = if self.nominal_duration > 0 {
            self.nominal_duration
        } else {
            SECOND / 25
        };
        (window / d).clamp(1, 100_000) as usize
    }

    /// Runs the feature pass over the luma of the analysed area of one mapped frame.
    fn measure(
        &mut self,
        frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
        crop: Option<(u32, u32, u32, u32)>,
    ) -> Result<(), String> {
        let (fw, fh) = (self.info.width() as usize, self.info.height() as usize);
        // Cells stay on the coded (buffer) grid: the origin moves to the first whole cell.
        let (ox, oy, aw, ah) = match crop {
            Some((x, y, w, h)) => {
                let (x, y) = (x as usize, y as usize);
                let (ex, ey) = ((x + w as usize).min(fw), (y + h as usize).min(fh));
                let (ox, oy) = (x.next_multiple_of(CELL), y.next_multiple_of(CELL));
                if ox >= ex || oy >= ey {
                    (
                        x.min(fw),
                        y.min(fh),
                        ex.saturating_sub(x),
                        ey.saturating_sub(y),
                    )
                } else {
                    (ox, oy, ex - ox, ey - oy)
                }
            }
            None => (0, 0, fw, fh),
        };
        self.area = (ox, oy, aw, ah);
        let p = self.layout.plane;
        let stride = frame.plane_stride()[p];
        if stride <= 0 {
            return Err(format!("unsupported stride {stride}"));
        }
        let stride = stride as usize;
        let data = frame
            .plane_data(p as u32)
            .map_err(|e| format!("cannot read plane {p}: {e}"))?;
        let row_bytes = self.layout.row_bytes(fw);
        if fh > 0 && (fh - 1) * stride + row_bytes > data.len() {
            return Err(format!(
                "plane {p} holds {} bytes, {fw}x{fh} with stride {stride} needs {}",
                data.len(),
                (fh - 1) * stride + row_bytes
            ));
        }
        self.features.begin(aw, ah);
        if aw == 0 || ah == 0 {
            return Ok(());
        }
        if self.layout.is_direct_u8() {
            let off = match self.layout.sample {
                luma::Sample::U8 { offset, .. } => offset,
                _ => 0,
            };
            self.features.plane(data, stride, oy * stride + off + ox);
            return Ok(());
        }
        // Other layouts: each band is unpacked to 8 bits into scratch rows 1..=16; row 0 keeps
        // the last row of the band before.
        let raw = |y: usize| &data[(oy + y) * stride..];
        let shift = self.layout.depth.saturating_sub(8);
        for y0 in (0..ah).step_by(CELL) {
            let n = (ah - y0).min(CELL);
            self.band.copy_within(CELL * fw..(CELL + 1) * fw, 0);
            for r in 0..n {
                let out = &mut self.band[(r + 1) * fw..(r + 2) * fw];
                if self.layout.is_8bit() {
                    self.layout.unpack_u8(raw(y0 + r), out);
                } else {
                    self.layout.unpack_u16(raw(y0 + r), &mut self.row16[..fw]);
                    for (o, &v) in out.iter_mut().zip(&self.row16[..fw]) {
                        *o = (v >> shift).min(255) as u8;
                    }
                }
            }
            let mut rows: [&[u8]; CELL] = [&[]; CELL];
            for (r, slot) in rows.iter_mut().enumerate().take(n) {
                *slot = &self.band[(r + 1) * fw + ox..(r + 1) * fw + ox + aw];
            }
            let above = (y0 > 0).then(|| &self.band[ox..ox + aw]);
            self.features.band(&rows[..n], above);
        }
        Ok(())
    }

    /// Adds this frame's profiles to the grid estimate; re-estimates once `interval` has passed
    /// and enough different pictures were added. `change` is the frame's mean change of cell
    /// means: a repeated picture (a freeze, a still, a hold with grain on it) adds nothing, since
    /// content edges average out only over pictures where they moved; a held picture's edges
    /// would otherwise be taken for a grid.
    fn update_grid(&mut self, t: u64, interval: u64, change: f32) -> bool {
        let (w, h) = (self.features.width(), self.features.height());
        let g = &mut self.grid;
        if g.colacc.len() < w || g.rowacc.len() < h || !grid::changed_picture(change) {
            return false;
        }
        let norm = |prof: &[u32], acc: &mut [f32]| {
            let mean = prof.iter().map(|&v| v as f64).sum::<f64>() / prof.len().max(1) as f64;
            if mean <= 0.0 {
                return;
            }
            let k = (1.0 / mean) as f32;
            for (a, &v) in acc.iter_mut().zip(prof) {
                *a += v as f32 * k;
            }
        };
        norm(&self.features.colprof[..w], &mut g.colacc[..w]);
        norm(&self.features.rowprof[..h], &mut g.rowacc[..h]);
        g.frames += 1;
        let since = *g.since.get_or_insert(t);
        if t < since + interval || g.frames < grid::MIN_PICTURES {
            return false;
        }
        let ex = grid::estimate(&g.colacc[..w], &mut g.scratch);
        let ey = grid::estimate(&g.rowacc[..h], &mut g.scratch);
        gst::debug!(CAT, "grid estimates x {ex:?} y {ey:?}");
        let cx = g.x.update(ex);
        let cy = g.y.update(ey);
        g.colacc.fill(0.0);
        g.rowacc.fill(0.0);
        g.since = Some(t);
        g.frames = 0;
        cx || cy
    }
}

#[derive(Default)]
struct Counters {
    frames: u64,
    /// Timeline time covered by the frames seen (ns).
    duration: u64,
    /// Frames whose pixels were analysed (all readable ones, or every frame-step-th).
    analysed_frames: u64,
    bad_buffers: u64,
    discont_buffers: u64,
    decoder_flagged: u64,
    lost_frames: u64,
    /// Frames with transport evidence (an error placed on them, or predicted from a damaged
    /// reference).
    transport_frames: u64,
    /// Continuity errors of upstream streams, and marks lost to overflow, of watches that ended.
    transport_errors: u64,
    transport_overflow: u64,
    pixel_trigger_frames: u64,
    grid_changes: u64,
}

struct State {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    analysis: Option<Analysis>,
    detector: Detector,
    counters: Counters,
    /// Places buffers on the analysis timeline.
    clock: FrameClock,
    /// No frame without the decoder's CORRUPTED flag has been seen since the stream started.
    startup: bool,
    warned_no_pts: bool,
    warned_bad_buffer: bool,
    warned_draw: bool,
    caps: Option<gst::Caps>,
}

impl State {
    fn new(ids: Arc<AtomicU64>) -> Self {
        State {
            segment: None,
            analysis: None,
            detector: Detector::new(
                CorruptionTracker::new(ids.clone(), 750),
                BlockinessTracker::new(ids),
            ),
            counters: Counters::default(),
            clock: FrameClock::default(),
            startup: true,
            warned_no_pts: false,
            warned_bad_buffer: false,
            warned_draw: false,
            caps: None,
        }
    }
}

pub struct VqArtifact {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Continuity errors of upstream demuxers, from start to stop.
    transport: Mutex<Option<transport::Watch>>,
    ids: Arc<AtomicU64>,
    live: AtomicU8,
    /// Order of creation in the process: spreads `frame-step` phases over instances.
    instance: u64,
}

/// Instances created so far.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

const LIVE_UNKNOWN: u8 = 0;
const LIVE_YES: u8 = 1;
const LIVE_NO: u8 = 2;

#[glib::object_subclass]
impl ObjectSubclass for VqArtifact {
    const NAME: &'static str = "GstVqArtifact";
    type Type = super::VqArtifact;
    type ParentType = gst_video::VideoFilter;

    fn new() -> Self {
        let ids = Arc::new(AtomicU64::new(1));
        VqArtifact {
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::new(ids.clone())),
            transport: Mutex::new(None),
            ids,
            live: AtomicU8::new(LIVE_UNKNOWN),
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl ObjectImpl for VqArtifact {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecDouble::builder("edge-step")
                    .nick("Edge step")
                    .blurb("Smallest step across a cell edge, above the steps beside it, that makes the edge blocky (8-bit code values)")
                    .minimum(1.0)
                    .maximum(255.0)
                    .default_value(d.edge_step)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("clean-edge-step")
                    .nick("Edge step on clean coding")
                    .blurb("The edge step that counts instead of edge-step while the smoothed blockiness is below blockiness-warning (the coding leaves no visible grid); the smaller of both applies")
                    .minimum(1.0)
                    .maximum(255.0)
                    .default_value(d.clean_edge_step)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("edge-ratio")
                    .nick("Edge ratio")
                    .blurb("Smallest ratio of the step across a cell edge to the steps beside it (each plus 2) that makes the edge blocky")
                    .minimum(1.0)
                    .maximum(100.0)
                    .default_value(d.edge_ratio)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("sides-min")
                    .nick("Minimum blocky sides")
                    .blurb("Blocky sides (of 4) that make a 16x16 cell boxed")
                    .minimum(1)
                    .maximum(4)
                    .default_value(d.sides_min)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("cluster-min")
                    .nick("Minimum cluster")
                    .blurb("New damaged cells that must lie together to report corruption (doubled at scene cuts)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.cluster_min)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("cluster-radius")
                    .nick("Cluster radius")
                    .blurb("Cells of one cluster lie within this Chebyshev distance (in cells) of a common cell")
                    .minimum(0)
                    .maximum(64)
                    .default_value(d.cluster_radius)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("chronic-fraction")
                    .nick("Chronic fraction")
                    .blurb("Cells flagged in more than this fraction of about the last 250 frames are static graphics and ignored")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.chronic_fraction)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("hangover")
                    .nick("Hangover")
                    .blurb("Time (ns) a corruption event stays open after its last evidence (propagated damage is smeared, not blocky)")
                    .default_value(d.hangover)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("scenecut-threshold")
                    .nick("Scene-cut threshold")
                    .blurb("Mean change of the 16x16 cell means (8-bit code values) from which a frame is a cut, where twice cluster-min cells are needed")
                    .minimum(0.0)
                    .maximum(255.0)
                    .default_value(d.scenecut_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("baseline-window")
                    .nick("Baseline window")
                    .blurb("Span (ns) of frames outside events whose 95th percentile of new damaged cells a trigger must exceed by 2 (applies from the next caps)")
                    .minimum(SECOND / 10)
                    .default_value(d.baseline_window)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("use-decoder-flags")
                    .nick("Use decoder flags")
                    .blurb("Open a corruption event on buffers the decoder flagged CORRUPTED")
                    .default_value(d.use_decoder_flags)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("use-lost-frames")
                    .nick("Use lost frames")
                    .blurb("Open or extend a corruption event for frames missing from a fixed-rate stream (a timestamp gap; in variable-rate streams only after a DISCONT buffer)")
                    .default_value(d.use_lost_frames)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("use-transport-errors")
                    .nick("Use transport errors")
                    .blurb("Open or extend a corruption event on the frame that follows a continuity error an upstream demuxer posted on the bus for this stream (tsdemux); the bus is watched from the start when set then")
                    .default_value(d.use_transport_errors)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("propagate-damage")
                    .nick("Propagate damage")
                    .blurb("Keep a corruption event open from a frame with pixel evidence to the next picture decodable on its own (IDR or I picture) of the encoded stream upstream (H.264, H.265 or MPEG-2 video, read at the parser's output), at most 10 s: the frames in between are predicted from the damaged one")
                    .default_value(d.propagate_damage)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("blockiness-warning")
                    .nick("Blockiness warning")
                    .blurb("Grid ratio (1 = no visible grid) held for blockiness-min-duration that opens a blockiness warning")
                    .minimum(1.0)
                    .maximum(100.0)
                    .default_value(d.blockiness_warning)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("blockiness-alarm")
                    .nick("Blockiness alarm")
                    .blurb("Grid ratio held for blockiness-min-duration that raises the blockiness interval to an alarm")
                    .minimum(1.0)
                    .maximum(100.0)
                    .default_value(d.blockiness_alarm)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("blockiness-min-duration")
                    .nick("Blockiness minimum duration")
                    .blurb("Time (ns) the 1 s-smoothed grid ratio must stay above a threshold")
                    .minimum(1)
                    .default_value(d.blockiness_min_duration)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("measurement-interval")
                    .nick("Measurement interval")
                    .blurb("Interval (ns) of 'blockiness' vqmon-measurement messages for time series (0 = none)")
                    .default_value(d.measurement_interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("update-interval")
                    .nick("Update interval")
                    .blurb("Interval (ns) of 'update' heartbeats of open defects (0 = none)")
                    .default_value(d.update_interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("estimate-grid")
                    .nick("Estimate grid")
                    .blurb("Estimate the coding grid's period and phase every second (upscaled or shifted video) instead of assuming 8 pixels from the origin")
                    .default_value(d.estimate_grid)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("frame-step")
                    .nick("Frame step")
                    .blurb("Analyse the pixels of every n-th frame only: reduced cost for large fleets (timestamps, decoder flags and lost frames are still checked on every frame; see the README for the accuracy measured)")
                    .minimum(1)
                    .maximum(25)
                    .default_value(d.frame_step)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt::builder("frame-step-phase")
                    .nick("Frame step phase")
                    .blurb("With frame-step N: analyse the frames whose index (from 0) plus this is a multiple of N; -1 spreads the phase over the element instances of the process, so that streams started together do not all analyse the same frames (a burst of work every N frames)")
                    .minimum(-1)
                    .maximum(24)
                    .default_value(d.frame_step_phase)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw")
                    .nick("Draw")
                    .blurb("Draw the cells found damaged onto the picture (the element then writes to frames and is no longer passthrough)")
                    .default_value(d.draw)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post defect and measurement messages on the bus")
                    .default_value(d.post_messages)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Frames analysed and the time they cover, events, the last blockiness score and grid, and input problems seen so far")
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
            "edge-step" => set!(edge_step, f64),
            "clean-edge-step" => set!(clean_edge_step, f64),
            "edge-ratio" => set!(edge_ratio, f64),
            "sides-min" => set!(sides_min, u32),
            "cluster-min" => set!(cluster_min, u32),
            "cluster-radius" => set!(cluster_radius, u32),
            "chronic-fraction" => set!(chronic_fraction, f64),
            "hangover" => set!(hangover, u64),
            "scenecut-threshold" => set!(scenecut_threshold, f64),
            "baseline-window" => set!(baseline_window, u64),
            "use-decoder-flags" => set!(use_decoder_flags, bool),
            "use-lost-frames" => set!(use_lost_frames, bool),
            "use-transport-errors" => set!(use_transport_errors, bool),
            "propagate-damage" => set!(propagate_damage, bool),
            "blockiness-warning" => set!(blockiness_warning, f64),
            "blockiness-alarm" => set!(blockiness_alarm, f64),
            "blockiness-min-duration" => set!(blockiness_min_duration, u64),
            "measurement-interval" => set!(measurement_interval, u64),
            "update-interval" => set!(update_interval, u64),
            "estimate-grid" => set!(estimate_grid, bool),
            "frame-step" => set!(frame_step, u32),
            "frame-step-phase" => set!(frame_step_phase, i32),
            "post-messages" => set!(post_messages, bool),
            "draw" => {
                set!(draw, bool);
                let draw = s.draw;
                drop(s);
                self.obj().set_passthrough(!draw);
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = *self.settings.lock().unwrap();
        match pspec.name() {
            "edge-step" => s.edge_step.to_value(),
            "clean-edge-step" => s.clean_edge_step.to_value(),
            "edge-ratio" => s.edge_ratio.to_value(),
            "sides-min" => s.sides_min.to_value(),
            "cluster-min" => s.cluster_min.to_value(),
            "cluster-radius" => s.cluster_radius.to_value(),
            "chronic-fraction" => s.chronic_fraction.to_value(),
            "hangover" => s.hangover.to_value(),
            "scenecut-threshold" => s.scenecut_threshold.to_value(),
            "baseline-window" => s.baseline_window.to_value(),
            "use-decoder-flags" => s.use_decoder_flags.to_value(),
            "use-lost-frames" => s.use_lost_frames.to_value(),
            "use-transport-errors" => s.use_transport_errors.to_value(),
            "propagate-damage" => s.propagate_damage.to_value(),
            "blockiness-warning" => s.blockiness_warning.to_value(),
            "blockiness-alarm" => s.blockiness_alarm.to_value(),
            "blockiness-min-duration" => s.blockiness_min_duration.to_value(),
            "measurement-interval" => s.measurement_interval.to_value(),
            "update-interval" => s.update_interval.to_value(),
            "estimate-grid" => s.estimate_grid.to_value(),
            "frame-step" => s.frame_step.to_value(),
            "frame-step-phase" => s.frame_step_phase.to_value(),
            "draw" => s.draw.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for VqArtifact {}

impl ElementImpl for VqArtifact {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Video block corruption and blockiness detector",
                "Filter/Analyzer/Video",
                "Detects block corruption (located), lost frames and compression blockiness inline and posts vqmon-defect messages",
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
        if matches!(
            transition,
            gst::StateChange::ReadyToPaused | gst::StateChange::PausedToReady
        ) {
            self.live.store(LIVE_UNKNOWN, Ordering::Release);
        }
        self.parent_change_state(transition)
    }
}

impl BaseTransformImpl for VqArtifact {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::new(self.ids.clone());
        let settings = *self.settings.lock().unwrap();
        self.obj().set_passthrough(!settings.draw);
        let obj = self.obj();
        *self.transport.lock().unwrap() =
            if settings.use_transport_errors || settings.propagate_damage {
                transport::Watch::new(
                    obj.upcast_ref(),
                    &obj.static_pad("sink").unwrap(),
                    settings.use_transport_errors,
                )
            } else {
                None
            };
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.close_all(EndReason::Stopped);
        let mut state = self.state.lock().unwrap();
        state.analysis = None;
        if let Some(w) = self.transport.lock().unwrap().take() {
            let (errors, overflow) = w.counts();
            state.counters.transport_errors += errors;
            state.counters.transport_overflow += overflow;
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::FlushStop(_) => {
                self.close_all(EndReason::Flush);
                if let Some(w) = self.transport.lock().unwrap().as_ref() {
                    w.clear();
                }
                let mut state = self.state.lock().unwrap();
                if let Some(a) = state.analysis.as_mut() {
                    a.cells.reset();
                }
                state.detector.blockiness.reset_smoothing();
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
                            ("vqartifact needs a TIME segment, got {:?}", seg.format())
                        );
                        return false;
                    }
                }
            }
            EventView::StreamStart(_) => {
                self.close_all(EndReason::Segment);
                let mut state = self.state.lock().unwrap();
                state.startup = true;
                if let Some(a) = state.analysis.as_mut() {
                    a.cells.reset();
                }
            }
            EventView::Gap(e) => {
                // Signalled absence: the next frame is expected after it, nothing was lost.
                let (ts, dur) = e.get();
                let end = ts + dur.unwrap_or(gst::ClockTime::ZERO);
                let mut state = self.state.lock().unwrap();
                let end_t = state
                    .segment
                    .as_ref()
                    .and_then(|s| s.to_running_time(end))
                    .map(gst::ClockTime::nseconds);
                state.clock.gap(end, end_t);
            }
            EventView::Eos(_) => self.close_all(EndReason::Eos),
            _ => (),
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.analyse(buf)?;
        self.draw(buf);
        Ok(gst::FlowSuccess::Ok)
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.analyse(buf.as_ref())?;
        Ok(gst::FlowSuccess::Ok)
    }
}

impl VideoFilterImpl for VqArtifact {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let layout = LumaLayout::for_format(in_info.format()).map_err(|e| {
            gst::loggable_error!(CAT, "vqartifact cannot analyse {}: {}", incaps, e)
        })?;
        if in_info.width() == 0 || in_info.height() == 0 {
            return Err(gst::loggable_error!(
                CAT,
                "vqartifact cannot analyse an empty picture: {}",
                incaps
            ));
        }
        let settings = *self.settings.lock().unwrap();
        // The decoder upstream is linked by now: read the pictures of the stream it decodes.
        if settings.propagate_damage
            && let Some(w) = self.transport.lock().unwrap().as_ref()
        {
            w.follow_pictures();
        }
        let same = {
            let state = self.state.lock().unwrap();
            state.analysis.as_ref().is_some_and(|a| a.info == *in_info)
        };
        if same {
            return Ok(());
        }
        self.close_all(EndReason::Caps);
        let analysis = Analysis::new(in_info, layout);
        let baseline = analysis.frames_in(settings.baseline_window);
        gst::info!(
            CAT,
            imp = self,
            "analysing {}x{} {} luma ({:?}), baseline {} frames",
            in_info.width(),
            in_info.height(),
            in_info.format().to_str(),
            layout.sample,
            baseline
        );
        let mut state = self.state.lock().unwrap();
        state.detector = Detector::new(
            CorruptionTracker::new(self.ids.clone(), baseline),
            BlockinessTracker::new(self.ids.clone()),
        );
        state.analysis = Some(analysis);
        state.caps = Some(incaps.clone());
        Ok(())
    }
}

impl VqArtifact {
    fn is_live(&self) -> bool {
        if self.live.load(Ordering::Acquire) == LIVE_UNKNOWN
            && let Some(pad) = self.obj().static_pad("sink")
        {
            let mut q = gst::query::Latency::new();
            if pad.peer_query(&mut q) {
                let v = if q.result().0 { LIVE_YES } else { LIVE_NO };
                self.live.store(v, Ordering::Release);
            }
        }
        self.live.load(Ordering::Acquire) == LIVE_YES
    }

    fn analyse(&self, buf: &gst::BufferRef) -> Result<(), gst::FlowError> {
        let live = self.is_live();
        let settings = *self.settings.lock().unwrap();
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
        let nominal = analysis.nominal_duration;
        state.counters.frames += 1;
        let discont = buf.flags().contains(gst::BufferFlags::DISCONT);
        if discont {
            state.counters.discont_buffers += 1;
        }
        let had_pts = buf.pts().is_some();
        let (expected, gap_start) = (state.clock.last_pts_end, state.clock.last_end);
        let (times, t, dur) = state.clock.place(buf, state.segment.as_ref(), nominal);
        state.counters.duration += dur;
        // Frames lost before this one: a buffer later than the last one's end, in a stream of
        // fixed frame rate (decoders do not pass DISCONT on) or flagged DISCONT.
        let gap = decide::lost_frames(
            buf.pts().map(gst::ClockTime::nseconds),
            expected.map(gst::ClockTime::nseconds),
            gap_start,
            dur,
            discont,
            nominal > 0,
        );
        state.counters.lost_frames += gap.counted;
        if gap.evidence > 0
            && let Some(a) = state.analysis.as_mut()
        {
            // The frame before the gap is not this frame's predecessor: nothing is new yet.
            a.cells.restart();
        }
        let decoder_flag = buf.flags().contains(gst::BufferFlags::CORRUPTED);
        if decoder_flag {
            state.counters.decoder_flagged += 1;
        }
        let startup = state.startup && decoder_flag;
        let transport = self
            .transport
            .lock()
            .unwrap()
            .as_ref()
            .map_or_else(Default::default, |w| {
                w.take(times.running_time, times.running_time.map(|rt| rt + dur))
            });
        state.counters.transport_frames += u64::from(transport.errors > 0 || transport.propagated);
        gst::trace!(CAT, imp = self, "t {t} picture {:?}", transport.picture);
        if !decoder_flag {
            state.startup = false;
        }
        let crop = buf.meta::<gst_video::VideoCropMeta>().map(|m| m.rect());

        // Reduced-cost mode: the pixels of every frame_step-th frame only.
        let step = u64::from(settings.frame_step.max(1));
        let skip = !(state.counters.frames - 1 + self.phase(&settings)).is_multiple_of(step);
        let analysis = state.analysis.as_mut().unwrap();
        let measured = if skip {
            None
        } else {
            Some(
                luma::readable_frame(buf, &analysis.info)
                    .and_then(|frame| analysis.measure(&frame, crop)),
            )
        };
        let mut bad_buffer = None;
        let now = times.running_time;
        let pixels = match measured {
            None => None,
            Some(Ok(())) => {
                state.counters.analysed_frames += 1;
                let cell_params = state.detector.cell_params(
                    settings.cell_params(analysis.full_range),
                    settings.clean_edge_step as f32,
                    settings.blockiness_warning,
                );
                let cf = analysis.cells.analyse(
                    &analysis.features,
                    &cell_params,
                    settings.cluster_radius as usize,
                );
                if settings.estimate_grid && analysis.update_grid(t, SECOND, cf.cell_mafd) {
                    state.counters.grid_changes += 1;
                    gst::info!(
                        CAT,
                        imp = self,
                        "grid now x {:?} y {:?}",
                        analysis.grid.x.current,
                        analysis.grid.y.current
                    );
                }
                let (gx, gy) = if settings.estimate_grid {
                    (analysis.grid.x.current, analysis.grid.y.current)
                } else {
                    (grid::Axis::NATIVE, grid::Axis::NATIVE)
                };
                let f = &analysis.features;
                let (w, h) = (f.width(), f.height());
                let (r8, r16) = grid::blockiness(
                    &f.colprof[..w],
                    &f.rowprof[..h],
                    gx,
                    gy,
                    w,
                    h,
                    &mut analysis.medians,
                );
                let (ox, oy, _, _) = analysis.area;
                gst::trace!(
                    CAT,
                    imp = self,
                    "t {t} new {} popped {} stalled {} displaced {} cluster {} p95 {} mafd {:.1} r8 {r8:.3} r16 {r16:.3}",
                    cf.new_cells,
                    cf.popped,
                    cf.stalled,
                    cf.displaced_cluster,
                    cf.cluster,
                    state.detector.corruption.baseline.p95(),
                    cf.cell_mafd
                );
                Some(decide::Pixels {
                    cells: cf,
                    r8,
                    r16,
                    grid_x: (gx.period, gx.phase),
                    grid_y: (gy.period, gy.phase),
                    origin: (ox, oy),
                })
            }
            Some(Err(why)) => {
                state.counters.bad_buffers += 1;
                bad_buffer = Some((why, !state.warned_bad_buffer));
                state.warned_bad_buffer = true;
                None
            }
        };
        let (fw, fh) = {
            let a = state.analysis.as_ref().unwrap();
            (a.info.width(), a.info.height())
        };
        let frame = decide::Frame {
            times,
            t,
            dur,
            now,
            lost: gap,
            decoder_flag,
            transport,
            startup,
            step,
            pixels,
        };
        let decided = state.detector.frame(&frame, &settings.params());
        state.counters.pixel_trigger_frames += u64::from(decided.triggered);
        let warn_no_pts = !had_pts && !std::mem::replace(&mut state.warned_no_pts, true);
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
        if settings.post_messages {
            self.post_events(&decided.events, live, (fw, fh));
            if let Some(m) = decided.series {
                self.post_measurement(&m, now, live);
            }
        }
        Ok(())
    }

    /// Draws the outline of every cell flagged new in the last frame, and of the open event's
    /// box, into the luma plane (draw mode only).
    fn draw(&self, buf: &mut gst::BufferRef) {
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        let Some(a) = state.analysis.as_ref() else {
            return;
        };
        if !a.layout.is_direct_u8() {
            let first = !std::mem::replace(&mut state.warned_draw, true);
            drop(guard);
            if first {
                gst::element_imp_warning!(
                    self,
                    gst::CoreError::NotImplemented,
                    ("draw needs 8-bit planar luma; frames are analysed but not drawn on")
                );
            }
            return;
        }
        let off = match a.layout.sample {
            luma::Sample::U8 { offset, .. } => offset,
            _ => 0,
        };
        let plane = a.layout.plane as u32;
        let (ox, oy, _, _) = a.area;
        let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &a.info) else {
            return;
        };
        let stride = frame.plane_stride()[plane as usize] as usize;
        let Ok(data) = frame.plane_data_mut(plane) else {
            return;
        };
        let (w, h) = (a.info.width() as usize, a.info.height() as usize);
        for (cx, cy, sig) in a.cells.new_cells() {
            let (x0, y0) = (ox + cx * CELL, oy + cy * CELL);
            let v = if sig == Signature::Boxed { 255 } else { 0 };
            for i in 0..CELL {
                for (x, y) in [
                    (x0 + i, y0),
                    (x0 + i, y0 + CELL - 1),
                    (x0, y0 + i),
                    (x0 + CELL - 1, y0 + i),
                ] {
                    if x < w && y < h {
                        data[y * stride + off + x] = v;
                    }
                }
            }
        }
    }

    /// Closes every open defect (EOS, flush, segment, caps, stop) and posts the ends.
    fn close_all(&self, reason: EndReason) {
        let settings = *self.settings.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let last_end = state.clock.last_end;
        let now = last_end.and_then(|(t, _)| t.running_time);
        let events = state.detector.close(last_end, reason, now);
        if reason != EndReason::Caps {
            state.clock.reset();
        }
        let size = state
            .analysis
            .as_ref()
            .map_or((0, 0), |a| (a.info.width(), a.info.height()));
        drop(state);
        if settings.post_messages {
            self.post_events(&events, self.is_live(), size);
        }
    }

    fn post_events(&self, events: &Events, live: bool, size: (u32, u32)) {
        if events.is_empty() {
            return;
        }
        let name = self.obj().name().to_string();
        let now_utc = message::now_unix_usec();
        for e in events.iter() {
            gst::debug!(
                CAT,
                imp = self,
                "{} {} id {} at {:?}",
                e.defect,
                e.phase.as_str(),
                e.id,
                e.start
            );
            let msg = to_message(e, &name, live, now_utc, size);
            let _ = self.obj().post_message(msg.to_message(&*self.obj()));
        }
    }

    fn post_measurement(&self, m: &decide::SeriesOut, now: Option<u64>, live: bool) {
        let (s, score) = (&m.series, m.score);
        let (gx, gy) = (m.grid_x, m.grid_y);
        let Some((at, _)) = s.since else {
            return;
        };
        let values = gst::Structure::builder("blockiness")
            .field("score", score)
            .field("score-16", m.score_16)
            .field("smoothed", m.smoothed.unwrap_or(score))
            .field("mean", s.mean(score))
            .field("min", s.min)
            .field("max", s.max)
            .field("frames", s.frames)
            .field("corrupted-frames", s.corrupted_frames)
            .field("grid-period-x", f64::from(gx.0))
            .field("grid-phase-x", f64::from(gx.1))
            .field("grid-period-y", f64::from(gy.0))
            .field("grid-phase-y", f64::from(gy.1))
            .build();
        let m = Measurement {
            measurement: "blockiness".into(),
            element: self.obj().name().to_string(),
            at: at.stamp(),
            detected_running_time: now.map(gst::ClockTime::from_nseconds),
            utc: if live {
                message::utc_string(message::now_unix_usec())
            } else {
                None
            },
            values,
        };
        let _ = self.obj().post_message(m.to_message(&*self.obj()));
    }

    /// The `frame-step` phase in use, 0 to frame-step - 1.
    fn phase(&self, settings: &Settings) -> u64 {
        let step = u64::from(settings.frame_step.max(1));
        u64::try_from(settings.frame_step_phase).unwrap_or(self.instance) % step
    }

    fn stats(&self) -> gst::Structure {
        let phase = self.phase(&self.settings.lock().unwrap());
        let state = self.state.lock().unwrap();
        let transport = self
            .transport
            .lock()
            .unwrap()
            .as_ref()
            .map_or((0, 0), transport::Watch::counts);
        let c = &state.counters;
        let transport = (
            transport.0 + c.transport_errors,
            transport.1 + c.transport_overflow,
        );
        let mut s = gst::Structure::builder("vqartifact-stats")
            .field("frames", c.frames)
            .field("duration", c.duration)
            .field("analysed-frames", c.analysed_frames)
            .field("frame-step-phase", phase as u32)
            .field("corruption-events", state.detector.corruption.events_total)
            .field("pixel-trigger-frames", c.pixel_trigger_frames)
            .field("decoder-flagged-frames", c.decoder_flagged)
            .field("lost-frames", c.lost_frames)
            .field("transport-errors", transport.0)
            .field("transport-frames", c.transport_frames)
            .field("transport-marks-dropped", transport.1)
            .field(
                "blockiness-intervals",
                state.detector.blockiness.intervals_total,
            )
            .field("blockiness", state.detector.last_score.0)
            .field("blockiness-16", state.detector.last_score.1)
            .field(
                "blockiness-smoothed",
                state
                    .detector
                    .blockiness
                    .smoothed
                    .unwrap_or(state.detector.last_score.0),
            )
            .field("grid-changes", c.grid_changes)
            .field("bad-buffers", c.bad_buffers)
            .field("frames-without-pts", state.clock.frames_without_pts)
            .field("discont-buffers", c.discont_buffers)
            .field("live", self.live.load(Ordering::Acquire) == LIVE_YES)
            .build();
        if let Some(a) = &state.analysis {
            let (x, y) = (a.grid.x.current, a.grid.y.current);
            s.set("grid-period-x", f64::from(x.period));
            s.set("grid-phase-x", f64::from(x.phase));
            s.set("grid-period-y", f64::from(y.period));
            s.set("grid-phase-y", f64::from(y.phase));
        }
        if let Some(caps) = &state.caps {
            s.set("caps", caps.to_string());
        }
        s
    }
}

fn evidence_structure(e: &EventEvidence, size: (u32, u32)) -> gst::Structure {
    match e {
        EventEvidence::Corruption(c) => {
            // Without pixel evidence (decoder flag, lost frames) the whole picture is suspect.
            let (x0, y0, x1, y1) = c.bbox.unwrap_or((0, 0, size.0, size.1));
            let (r0, r1) = c
                .mb_rows()
                .unwrap_or((0, size.1.div_ceil(16).saturating_sub(1)));
            gst::Structure::builder("corruption")
                .field("source", c.source())
                .field("signature", c.signature())
                .field("x", u64::from(x0))
                .field("y", u64::from(y0))
                .field("width", u64::from(x1 - x0))
                .field("height", u64::from(y1 - y0))
                .field("mb-row-first", u64::from(r0))
                .field("mb-row-last", u64::from(r1))
                .field("area-fraction", c.area_fraction())
                .field("peak-cells", u64::from(c.peak_cells))
                .field("mean-cells", c.mean_cells())
                .field("frames", c.frames)
                .field("pixel-frames", c.pixel_frames)
                .field("decoder-frames", c.decoder_frames)
                .field("lost-frames", c.lost_frames)
                .field("transport-frames", c.transport_frames)
                .field("transport-errors", c.transport_errors)
                .field("propagated-frames", c.carried_frames)
                .field("boxed-cells", c.signatures[Signature::Boxed as usize])
                .field(
                    "fill-cells",
                    c.signatures[Signature::FillGreen as usize]
                        + c.signatures[Signature::FillGrey as usize],
                )
                .field("smear-cells", c.signatures[Signature::Smear as usize])
                .field("stale-cells", c.signatures[Signature::Stale as usize])
                .field("blockiness", c.peak_blockiness)
                .field("scene-cut", c.scene_cut)
                .build()
        }
        EventEvidence::Blockiness(b) => gst::Structure::builder("blockiness")
            .field("severity", b.severity())
            .field("frames", b.frames)
            .field("peak-score", b.peak)
            .field("mean-score", b.mean())
            .field("peak-score-16", b.peak_16)
            .field("grid-period-x", f64::from(b.grid_x.0))
            .field("grid-phase-x", f64::from(b.grid_x.1))
            .field("grid-period-y", f64::from(b.grid_y.0))
            .field("grid-phase-y", f64::from(b.grid_y.1))
            .build(),
    }
}

fn to_message(
    e: &Event,
    element: &str,
    live: bool,
    now_utc: i64,
    size: (u32, u32),
) -> DefectMessage {
    e.message(
        e.defect,
        evidence_structure(&e.evidence, size),
        element,
        live,
        now_utc,
    )
}
