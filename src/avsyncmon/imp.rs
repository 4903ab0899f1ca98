// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

// Threads: each branch runs in its own streaming thread and never waits for the other.
// Lock order: `video` or `audio` (never both) before `shared`; `settings` is only copied out.
// No lock is held while a message is posted or a buffer, event or query is forwarded.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use super::Profile;
use super::content::{AudioOnsets, Correlator, Estimate};
use super::cues::{
    AlarmEvent, Beep, BeepDetector, BeepParams, Cue, Flash, FlashDetector, Limits, OffsetAlarm,
    OffsetDefect, PairMeasurement, Pairer, VisualProbe,
};
use super::timeline::{
    ContentClock, Discont, Drift, Media, SECOND, Timeline, TimelineEvent, TimelineParams,
};
use crate::luma::LumaLayout;
use crate::message::{self, DefectMessage, EndReason, Measurement, Phase, Stamp};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "avsyncmon",
        gst::DebugColorFlags::empty(),
        Some("vqmon audio/video sync monitor"),
    )
});

const MS: u64 = 1_000_000;
const DEFAULT_STALL_THRESHOLD: u64 = 2 * SECOND;
const DEFAULT_TEST_SIGNALS: bool = true;
const DEFAULT_FLASH_THRESHOLD: f64 = 50.0;
const DEFAULT_MAX_OFFSET: u64 = SECOND;
const DEFAULT_MIN_MEASUREMENTS: u32 = 3;
const DEFAULT_CONTENT_ANALYSIS: bool = true;
const DEFAULT_CONTENT_WINDOW: u64 = 20 * SECOND;
const DEFAULT_CONTENT_INTERVAL: u64 = 5 * SECOND;
const DEFAULT_POST_MEASUREMENTS: bool = true;
/// A jump of one stream is matched by a jump of the other within this distance.
const SHIFT_MATCH_WINDOW: u64 = SECOND;

const LIVE_UNKNOWN: u8 = 0;
const LIVE_NO: u8 = 1;
const LIVE_YES: u8 = 2;

#[derive(Debug, Clone, Copy)]
struct Settings {
    timeline: TimelineParams,
    stall_threshold: u64,
    test_signals: bool,
    flash_threshold: f64,
    beep: BeepParams,
    max_offset: u64,
    profile: Profile,
    early_limit: u64,
    late_limit: u64,
    min_measurements: u32,
    content_analysis: bool,
    content_window: u64,
    content_interval: u64,
    post_measurements: bool,
}

impl Default for Settings {
    fn default() -> Self {
        let custom = Profile::Bt1359.limits().unwrap();
        Settings {
            timeline: TimelineParams::default(),
            stall_threshold: DEFAULT_STALL_THRESHOLD,
            test_signals: DEFAULT_TEST_SIGNALS,
            flash_threshold: DEFAULT_FLASH_THRESHOLD,
            beep: BeepParams::default(),
            max_offset: DEFAULT_MAX_OFFSET,
            profile: Profile::Bt1359,
            early_limit: custom.early,
            late_limit: custom.late,
            min_measurements: DEFAULT_MIN_MEASUREMENTS,
            content_analysis: DEFAULT_CONTENT_ANALYSIS,
            content_window: DEFAULT_CONTENT_WINDOW,
            content_interval: DEFAULT_CONTENT_INTERVAL,
            post_measurements: DEFAULT_POST_MEASUREMENTS,
        }
    }
}

impl Settings {
    fn limits(&self) -> Limits {
        self.profile.limits().unwrap_or(Limits {
            early: self.early_limit,
            late: self.late_limit,
        })
    }
}

/// Per-branch state common to both media.
struct Branch {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    timeline: Timeline,
    /// Running time of the end of the last buffer, and its times.
    end_rt: Option<u64>,
    end_stamp: Stamp,
    bad_buffers: u64,
    untimed: u64,
    warned_bad: bool,
    warned_untimed: bool,
    caps: Option<gst::Caps>,
}

impl Branch {
    fn new(media: Media) -> Self {
        Branch {
            segment: None,
            timeline: Timeline::new(media),
            end_rt: None,
            end_stamp: Stamp::default(),
            bad_buffers: 0,
            untimed: 0,
            warned_bad: false,
            warned_untimed: false,
            caps: None,
        }
    }

    /// Times of a buffer: PTS (or the expected position for untimed buffers), running and
    /// stream time. `None` if it lies outside the segment.
    fn times(&mut self, buf: &gst::BufferRef) -> Option<(u64, Stamp, bool)> {
        let segment = self.segment.as_ref()?;
        let (pts, untimed) = match buf.pts() {
            Some(p) => (p, false),
            None => {
                self.untimed += 1;
                let rt = self.end_rt.unwrap_or(0);
                (
                    segment
                        .position_from_running_time(gst::ClockTime::from_nseconds(rt))
                        .unwrap_or(segment.start().unwrap_or(gst::ClockTime::ZERO)),
                    true,
                )
            }
        };
        let rt = segment.to_running_time(pts)?;
        Some((
            rt.nseconds(),
            Stamp {
                pts: Some(pts),
                running_time: Some(rt),
                stream_time: segment.to_stream_time(pts),
            },
            untimed,
        ))
    }

    fn stamp_at(&self, rt: u64) -> Stamp {
        match self.segment.as_ref() {
            Some(seg) => Stamp::at_running_time(seg, rt),
            None => Stamp {
                running_time: Some(gst::ClockTime::from_nseconds(rt)),
                ..Default::default()
            },
        }
    }
}

struct VideoState {
    branch: Branch,
    info: Option<gst_video::VideoInfo>,
    probe: Option<VisualProbe>,
    flash: FlashDetector,
    frames: u64,
    flashes: u64,
    warned_format: bool,
}

/// How to turn the bytes of one sample into a float.
#[derive(Debug, Clone, Copy)]
struct SampleFormat {
    float: bool,
    signed: bool,
    big_endian: bool,
    /// Bytes per sample.
    width: usize,
    /// Significant bits.
    depth: u32,
}

impl SampleFormat {
    fn new(info: &gst_audio::AudioInfo) -> Option<Self> {
        let f = info.format_info();
        let width = f.width() as usize;
        if width == 0 || !width.is_multiple_of(8) || width > 64 {
            return None;
        }
        Some(SampleFormat {
            float: f.is_float(),
            signed: f.is_signed(),
            big_endian: f.is_big_endian(),
            width: width / 8,
            depth: f.depth(),
        })
    }

    #[inline]
    fn read(&self, b: &[u8]) -> f32 {
        let mut v: u64 = 0;
        if self.big_endian {
            for &x in &b[..self.width] {
                v = (v << 8) | x as u64;
            }
        } else {
            for &x in b[..self.width].iter().rev() {
                v = (v << 8) | x as u64;
            }
        }
        if self.float {
            return match self.width {
                4 => f32::from_bits(v as u32),
                8 => f64::from_bits(v) as f32,
                _ => 0.0,
            };
        }
        let depth = self.depth.clamp(1, 64);
        let v = if depth < 64 {
            v & ((1u64 << depth) - 1)
        } else {
            v
        };
        let half = (1u64 << (depth - 1)) as f64;
        if self.signed {
            let s = ((v << (64 - depth)) as i64) >> (64 - depth);
            (s as f64 / half) as f32
        } else {
            ((v as f64 - half) / half) as f32
        }
    }
}

struct AudioState {
    branch: Branch,
    info: Option<gst_audio::AudioInfo>,
    format: Option<SampleFormat>,
    beep: Option<BeepDetector>,
    onsets: Option<AudioOnsets>,
    /// Reused per buffer: beeps found and hops finished.
    found: Vec<Beep>,
    hops: Vec<(u64, f32)>,
    samples: u64,
    beeps: u64,
    /// Loud bursts in the beep band that were not tonal (knocks, claps, noise).
    rejected_bursts: u64,
}

#[derive(Debug, Clone, Copy)]
struct OpenStall {
    id: u64,
    media: Media,
    start: Stamp,
    start_rt: u64,
    other_advance: u64,
}

/// Cross-stream state.
struct Shared {
    pos: [Option<u64>; 2],
    first_rt: [Option<u64>; 2],
    eos: [bool; 2],
    stall: [Option<OpenStall>; 2],
    /// Confirmed unflagged jumps waiting to be matched against the other stream.
    shift_candidates: [std::collections::VecDeque<Discont>; 2],
    /// Running times of recent confirmed jumps, for matching.
    recent_jumps: [std::collections::VecDeque<u64>; 2],
    pairer: Pairer,
    alarm: OffsetAlarm,
    correlator: Correlator,
    last_pair: Option<PairMeasurement>,
    /// Pairs measured by one `resolve` (preallocated: a stream reaching EOS can resolve every
    /// waiting cue at once).
    resolved: Vec<PairMeasurement>,
    last_content: Option<Estimate>,
    timeline_shifts: u64,
    /// Times of the end of each stream's last buffer.
    end_stamp: [Stamp; 2],
    /// Nominal video frame duration (0 if unknown).
    frame_dur: u64,
}

fn idx(m: Media) -> usize {
    match m {
        Media::Video => 0,
        Media::Audio => 1,
    }
}

impl Shared {
    fn new() -> Self {
        Shared {
            pos: [None; 2],
            first_rt: [None; 2],
            eos: [false; 2],
            stall: [None; 2],
            shift_candidates: [
                std::collections::VecDeque::with_capacity(4),
                std::collections::VecDeque::with_capacity(4),
            ],
            recent_jumps: [
                std::collections::VecDeque::with_capacity(8),
                std::collections::VecDeque::with_capacity(8),
            ],
            pairer: Pairer::default(),
            alarm: OffsetAlarm::default(),
            correlator: Correlator::new(),
            last_pair: None,
            resolved: Vec::with_capacity(2 * super::cues::QUEUE),
            last_content: None,
            timeline_shifts: 0,
            end_stamp: [Stamp::default(); 2],
            frame_dur: 0,
        }
    }

    /// Position of a stream for pairing decisions: past everything once it is at EOS.
    fn pair_pos(&self, m: Media) -> u64 {
        if self.eos[idx(m)] {
            u64::MAX
        } else {
            self.pos[idx(m)].unwrap_or(0)
        }
    }
}

/// What a branch decided under its locks, posted after they are released.
#[derive(Debug)]
enum Post {
    Discont(Discont),
    TimelineShift(Discont),
    DriftStart(Drift),
    DriftEnd {
        drift: Drift,
        end: Stamp,
        end_rt: u64,
        reason: EndReason,
    },
    StallStart(OpenStall),
    StallEnd {
        stall: OpenStall,
        end: Stamp,
        end_rt: u64,
        reason: EndReason,
    },
    Pair(PairMeasurement),
    AlarmStart(OffsetDefect),
    AlarmEnd {
        defect: OffsetDefect,
        end: Stamp,
        end_rt: u64,
        reason: EndReason,
    },
    Content(Estimate),
    /// Both streams' first running times since the start (or a flush): (video, audio).
    StartOffset(u64, u64),
    Warning(String),
}

pub struct AvSyncMon {
    video_sink: gst::Pad,
    video_src: gst::Pad,
    audio_sink: gst::Pad,
    audio_src: gst::Pad,
    settings: Mutex<Settings>,
    video: Mutex<VideoState>,
    audio: Mutex<AudioState>,
    shared: Mutex<Shared>,
    ids: AtomicU64,
    live: AtomicU8,
}

impl AvSyncMon {
    /// Whether stream `m` is part of the run: it has delivered a buffer, or its sink pad is
    /// linked. A stream whose pad nothing feeds is not expected: it cannot stall, and the run
    /// ends without its EOS.
    fn in_play(&self, sh: &Shared, m: Media) -> bool {
        let pad = match m {
            Media::Video => &self.video_sink,
            Media::Audio => &self.audio_sink,
        };
        sh.first_rt[idx(m)].is_some() || pad.is_linked()
    }

    fn partner(&self, pad: &gst::Pad) -> &gst::Pad {
        if pad == &self.video_sink {
            &self.video_src
        } else if pad == &self.video_src {
            &self.video_sink
        } else if pad == &self.audio_sink {
            &self.audio_src
        } else {
            &self.audio_sink
        }
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn new_video_state() -> VideoState {
        VideoState {
            branch: Branch::new(Media::Video),
            info: None,
            probe: None,
            flash: FlashDetector::default(),
            frames: 0,
            flashes: 0,
            warned_format: false,
        }
    }

    fn new_audio_state() -> AudioState {
        AudioState {
            branch: Branch::new(Media::Audio),
            info: None,
            format: None,
            beep: None,
            onsets: None,
            found: Vec::with_capacity(8),
            hops: Vec::with_capacity(256),
            samples: 0,
            beeps: 0,
            rejected_bursts: 0,
        }
    }

    fn sink_chain(
        &self,
        media: Media,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut posts = Vec::new();
        match media {
            Media::Video => self.analyse_video(&buffer, &mut posts),
            Media::Audio => self.analyse_audio(&buffer, &mut posts),
        }
        self.post(&posts);
        match media {
            Media::Video => self.video_src.push(buffer),
            Media::Audio => self.audio_src.push(buffer),
        }
    }

    fn analyse_video(&self, buf: &gst::Buffer, posts: &mut Vec<Post>) {
        let settings = *self.settings.lock().unwrap();
        self.ensure_live_known(&self.video_sink);
        let mut v = self.video.lock().unwrap();
        let v = &mut *v;
        let Some((rt, stamp, untimed)) = v.branch.times(buf) else {
            return;
        };
        if untimed && !v.branch.warned_untimed {
            v.branch.warned_untimed = true;
            posts.push(Post::Warning(
                "video buffers without timestamps: placed after the previous frame".into(),
            ));
        }
        let nominal = v
            .branch
            .timeline
            .clock()
            .map(|c| c.duration(1))
            .or(buf.duration().map(|d| d.nseconds()));
        let dur = nominal.unwrap_or(0);
        let mut tl = Vec::new();
        let mut ids = || self.next_id();
        v.branch.timeline.push(
            &settings.timeline,
            rt,
            1,
            buf.duration().map(|d| d.nseconds()),
            buf.flags().contains(gst::BufferFlags::DISCONT),
            stamp,
            &mut ids,
            &mut tl,
        );
        v.frames += 1;
        // Luma: flashes and motion.
        let mut flash: Option<Flash> = None;
        let mut motion: Option<f32> = None;
        if (settings.test_signals || settings.content_analysis)
            && let (Some(info), Some(probe)) = (v.info.as_ref(), v.probe.as_mut())
        {
            match gst_video::VideoFrameRef::from_buffer_ref_readable(buf.as_ref(), info) {
                Ok(frame) => {
                    let stride = frame.plane_stride()[0].max(0) as usize;
                    let res = frame
                        .plane_data(0)
                        .map_err(|e| e.to_string())
                        .and_then(|d| probe.analyse(d, stride));
                    match res {
                        Ok(vf) => {
                            motion = Some(vf.motion);
                            if settings.test_signals {
                                flash = v.flash.push(&vf, settings.flash_threshold as f32);
                            }
                        }
                        Err(e) => bad_buffer(&mut v.branch, posts, "video", &e),
                    }
                }
                Err(e) => bad_buffer(&mut v.branch, posts, "video", &e.to_string()),
            }
        }
        if let Some(f) = flash {
            v.flashes += 1;
            gst::log!(CAT, imp = self, "flash at {rt}: {f:?}");
        }
        let end_rt = rt + dur;
        v.branch.end_rt = Some(end_rt);
        v.branch.end_stamp = v.branch.stamp_at(end_rt);
        let mut sh = self.shared.lock().unwrap();
        let sh = &mut *sh;
        self.timeline_events(sh, Media::Video, tl, EndReason::Segment, posts);
        let end_stamp = v.branch.end_stamp;
        sh.frame_dur = dur;
        self.advance(
            sh,
            &settings,
            Media::Video,
            rt,
            end_rt,
            stamp,
            end_stamp,
            posts,
        );
        if let Some(f) = flash {
            sh.pairer.add_flash(Cue {
                rt,
                stamp,
                quality: (f.strength as f64 / 100.0).clamp(0.0, 1.0),
            });
        }
        if let Some(m) = motion
            && settings.content_analysis
        {
            sh.correlator.push_video(rt, dur, m);
        }
        self.resolve(sh, &settings, dur / 2, posts);
    }

    fn analyse_audio(&self, buf: &gst::Buffer, posts: &mut Vec<Post>) {
        let settings = *self.settings.lock().unwrap();
        self.ensure_live_known(&self.audio_sink);
        let mut a = self.audio.lock().unwrap();
        let a = &mut *a;
        let (Some(info), Some(format)) = (a.info.clone(), a.format) else {
            return;
        };
        let Some((rt, stamp, untimed)) = a.branch.times(buf) else {
            return;
        };
        if untimed && !a.branch.warned_untimed {
            a.branch.warned_untimed = true;
            posts.push(Post::Warning(
                "audio buffers without timestamps: placed after the previous buffer".into(),
            ));
        }
        let bpf = info.bpf() as usize;
        let rate = info.rate();
        let n = buf.size().checked_div(bpf).unwrap_or(0);
        let mut tl = Vec::new();
        let mut ids = || self.next_id();
        a.branch.timeline.push(
            &settings.timeline,
            rt,
            n as u64,
            None,
            buf.flags().contains(gst::BufferFlags::DISCONT),
            stamp,
            &mut ids,
            &mut tl,
        );
        a.samples += n as u64;
        a.found.clear();
        a.hops.clear();
        let want_beeps = settings.test_signals && !buf.flags().contains(gst::BufferFlags::GAP);
        if (want_beeps || settings.content_analysis) && n > 0 {
            match buf.map_readable() {
                Ok(map) => {
                    let channels = info.channels().max(1) as usize;
                    let interleaved = info.layout() == gst_audio::AudioLayout::Interleaved;
                    let w = format.width;
                    let data = map.as_slice();
                    let anchor = a.beep.as_ref().map_or((0, rt), |b| (b.position(), rt));
                    for i in 0..n {
                        let mut sum = 0f32;
                        let mut peak = 0f32;
                        for c in 0..channels {
                            let off = if interleaved {
                                (i * channels + c) * w
                            } else {
                                (c * n + i) * w
                            };
                            let x = format.read(&data[off..off + w]);
                            sum += x;
                            peak = peak.max(x.abs());
                        }
                        let mix = sum / channels as f32;
                        if want_beeps
                            && let Some(d) = a.beep.as_mut()
                            && let Some(b) = d.push(mix, peak, anchor)
                        {
                            if b.tonal {
                                gst::log!(CAT, imp = self, "beep: {b:?}");
                                a.found.push(b);
                            } else {
                                a.rejected_bursts += 1;
                                gst::log!(CAT, imp = self, "not a tone: {b:?}");
                            }
                        }
                        if settings.content_analysis
                            && let Some(o) = a.onsets.as_mut()
                        {
                            let t = rt + super::cues::samples_to_ns(i as u64, rate);
                            if let Some(h) = o.push(t, mix) {
                                a.hops.push(h);
                            }
                        }
                    }
                }
                Err(_) => bad_buffer(&mut a.branch, posts, "audio", "cannot map the buffer"),
            }
        }
        a.beeps += a.found.len() as u64;
        let dur = super::cues::samples_to_ns(n as u64, rate);
        let end_rt = rt + dur;
        a.branch.end_rt = Some(end_rt);
        a.branch.end_stamp = a.branch.stamp_at(end_rt);
        let mut sh = self.shared.lock().unwrap();
        let sh = &mut *sh;
        self.timeline_events(sh, Media::Audio, tl, EndReason::Segment, posts);
        let end_stamp = a.branch.end_stamp;
        self.advance(
            sh,
            &settings,
            Media::Audio,
            rt,
            end_rt,
            stamp,
            end_stamp,
            posts,
        );
        for b in &a.found {
            let snr_q = ((b.snr_db as f64 - 10.0) / 20.0).clamp(0.0, 1.0);
            sh.pairer.add_beep(Cue {
                rt: b.rt,
                stamp: a.branch.stamp_at(b.rt),
                quality: snr_q,
            });
        }
        for &(hop, flux) in &a.hops {
            sh.correlator.push_audio(hop, flux);
        }
        let half_frame = sh.frame_dur / 2;
        self.resolve(sh, &settings, half_frame, posts);
    }

    /// Turns timeline events of one branch into posts and timeline-shift candidates. A drift
    /// defect that did not recover ends with `closing` (why the branch was reset or finished).
    fn timeline_events(
        &self,
        sh: &mut Shared,
        media: Media,
        events: Vec<TimelineEvent>,
        closing: EndReason,
        posts: &mut Vec<Post>,
    ) {
        for e in events {
            match e {
                TimelineEvent::Discont(d) => {
                    let jumps = &mut sh.recent_jumps[idx(media)];
                    if jumps.len() == jumps.capacity() {
                        jumps.pop_front();
                    }
                    jumps.push_back(d.rt);
                    if !d.flagged {
                        let c = &mut sh.shift_candidates[idx(media)];
                        if c.len() == c.capacity() {
                            c.pop_front();
                        }
                        c.push_back(d);
                    }
                    posts.push(Post::Discont(d));
                }
                TimelineEvent::DriftStart(d) => posts.push(Post::DriftStart(d)),
                TimelineEvent::DriftEnd {
                    drift,
                    end,
                    end_rt,
                    recovered,
                } => posts.push(Post::DriftEnd {
                    drift,
                    end,
                    end_rt,
                    reason: if recovered {
                        EndReason::Recovered
                    } else {
                        closing
                    },
                }),
            }
        }
    }

    /// A branch moved to `end_rt`: stalls of either stream, timeline-shift decisions.
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &self,
        sh: &mut Shared,
        settings: &Settings,
        media: Media,
        rt: u64,
        end_rt: u64,
        stamp: Stamp,
        end_stamp: Stamp,
        posts: &mut Vec<Post>,
    ) {
        let me = idx(media);
        let other = idx(media.other());
        if sh.first_rt[me].is_none() {
            sh.first_rt[me] = Some(rt);
            // Where each stream starts is where the container (or the source) put it: an audio
            // track shifted in the container shows here, exact, without any test signal.
            if let [Some(v), Some(a)] = sh.first_rt {
                posts.push(Post::StartOffset(v, a));
            }
        }
        // This stream flows again.
        if let Some(stall) = sh.stall[me].take() {
            posts.push(Post::StallEnd {
                stall,
                end: stamp,
                end_rt: rt,
                reason: EndReason::Recovered,
            });
        }
        if sh.pos[me].is_none_or(|p| end_rt >= p) {
            sh.pos[me] = Some(end_rt);
            sh.end_stamp[me] = end_stamp;
        }
        // The other stream, if it does not follow. Only live pipelines: elsewhere the branches
        // run at their own pace (a file read without sync), and a real stall shows as a
        // timestamp gap when the stream resumes.
        if !sh.eos[other]
            && settings.stall_threshold > 0
            && self.live()
            && self.in_play(sh, media.other())
        {
            let reference = sh.pos[other].or(sh.first_rt[me]).unwrap_or(rt);
            let ahead = end_rt.saturating_sub(reference);
            match sh.stall[other].as_mut() {
                Some(s) => s.other_advance = s.other_advance.max(ahead),
                None if ahead > settings.stall_threshold => {
                    let (start, start_rt) = match sh.pos[other] {
                        Some(_) => (sh.end_stamp[other], reference),
                        None => (
                            Stamp {
                                running_time: Some(gst::ClockTime::from_nseconds(reference)),
                                ..Default::default()
                            },
                            reference,
                        ),
                    };
                    let s = OpenStall {
                        id: self.next_id(),
                        media: media.other(),
                        start,
                        start_rt,
                        other_advance: ahead,
                    };
                    sh.stall[other] = Some(s);
                    posts.push(Post::StallStart(s));
                }
                None => (),
            }
        }
        self.decide_shifts(sh, posts);
    }

    fn decide_shifts(&self, sh: &mut Shared, posts: &mut Vec<Post>) {
        for m in [Media::Video, Media::Audio] {
            let me = idx(m);
            let other = idx(m.other());
            while let Some(d) = sh.shift_candidates[me].front().copied() {
                // The other stream's jumps are confirmed up to discont-wait after they happen.
                let horizon = d.rt + SHIFT_MATCH_WINDOW + 2 * SECOND;
                if !sh.eos[other] && sh.pos[other].is_none_or(|p| p < horizon) {
                    break;
                }
                sh.shift_candidates[me].pop_front();
                let matched = sh.recent_jumps[other]
                    .iter()
                    .any(|&t| t.abs_diff(d.rt) <= SHIFT_MATCH_WINDOW);
                if !matched && sh.pos[other].is_some() {
                    sh.timeline_shifts += 1;
                    posts.push(Post::TimelineShift(d));
                }
            }
        }
    }

    fn resolve(&self, sh: &mut Shared, settings: &Settings, tolerance: u64, posts: &mut Vec<Post>) {
        let (vp, ap) = (sh.pair_pos(Media::Video), sh.pair_pos(Media::Audio));
        // Taken out while the pairs are handled (the loop needs `sh`), put back with its capacity.
        let mut resolved = std::mem::take(&mut sh.resolved);
        resolved.clear();
        sh.pairer
            .resolve(vp, ap, settings.max_offset, tolerance.max(MS), |m| {
                resolved.push(m)
            });
        for &m in &resolved {
            sh.last_pair = Some(m);
            posts.push(Post::Pair(m));
            let mut ids = || self.next_id();
            match sh.alarm.push(
                &m,
                settings.limits(),
                settings.min_measurements as u64,
                &mut ids,
            ) {
                Some(AlarmEvent::Start(d)) => posts.push(Post::AlarmStart(d)),
                Some(AlarmEvent::End {
                    defect,
                    end,
                    end_rt,
                }) => posts.push(Post::AlarmEnd {
                    defect,
                    end,
                    end_rt,
                    reason: EndReason::Recovered,
                }),
                None => (),
            }
        }
        sh.resolved = resolved;
        if settings.content_analysis
            && let Some(e) = sh.correlator.poll(
                settings.content_window,
                settings.max_offset,
                settings.content_interval,
            )
        {
            sh.last_content = Some(e);
            posts.push(Post::Content(e));
        }
    }

    /// Closes what a branch had open: EOS, flush, new segment, caps change, stop.
    fn close_branch(&self, media: Media, reason: EndReason, posts: &mut Vec<Post>) {
        let settings = *self.settings.lock().unwrap();
        let mut tl = Vec::new();
        let (end, end_rt) = {
            let mut guard_v;
            let mut guard_a;
            let branch = match media {
                Media::Video => {
                    guard_v = self.video.lock().unwrap();
                    if reason != EndReason::Eos {
                        guard_v.flash.reset();
                        if let Some(p) = guard_v.probe.as_mut() {
                            p.reset();
                        }
                    }
                    &mut guard_v.branch
                }
                Media::Audio => {
                    guard_a = self.audio.lock().unwrap();
                    if reason != EndReason::Eos {
                        if let Some(b) = guard_a.beep.as_mut() {
                            b.reset();
                        }
                        if let Some(o) = guard_a.onsets.as_mut() {
                            o.reset();
                        }
                    }
                    &mut guard_a.branch
                }
            };
            let end = branch.end_stamp;
            let end_rt = branch.end_rt.unwrap_or(0);
            if reason == EndReason::Eos {
                branch.timeline.finish(end, end_rt, &mut tl);
            } else {
                branch.timeline.reset(end, end_rt, &mut tl);
            }
            if reason != EndReason::Eos {
                branch.end_rt = None;
            }
            (end, end_rt)
        };
        let mut sh = self.shared.lock().unwrap();
        let sh = &mut *sh;
        self.timeline_events(sh, media, tl, reason, posts);
        let me = idx(media);
        if let Some(stall) = sh.stall[me].take() {
            posts.push(Post::StallEnd {
                stall,
                end,
                end_rt,
                reason,
            });
        }
        match reason {
            EndReason::Eos => {
                sh.eos[me] = true;
                // A stall of the other stream was measured against this one, which has ended:
                // it lasted until here.
                if let Some(stall) = sh.stall[idx(media.other())].take() {
                    posts.push(Post::StallEnd {
                        stall,
                        end,
                        end_rt,
                        reason,
                    });
                }
                let half_frame = sh.frame_dur / 2;
                self.resolve(sh, &settings, half_frame, posts);
                self.decide_shifts(sh, posts);
                if sh.eos[idx(media.other())] || !self.in_play(sh, media.other()) {
                    sh.pairer.finish();
                    if settings.content_analysis
                        && let Some(e) = sh
                            .correlator
                            .finish(settings.content_window, settings.max_offset)
                    {
                        sh.last_content = Some(e);
                        posts.push(Post::Content(e));
                    }
                    self.close_shared(sh, end, end_rt, reason, posts);
                }
            }
            EndReason::Flush | EndReason::Stopped => {
                sh.pos[me] = None;
                sh.first_rt[me] = None;
                sh.eos[me] = false;
                sh.shift_candidates[me].clear();
                sh.recent_jumps[me].clear();
                self.close_shared(sh, end, end_rt, reason, posts);
            }
            _ => {
                // Segment, caps: running time stays comparable; waiting cues of this stream
                // may not be paired across the break.
                sh.shift_candidates[me].clear();
            }
        }
    }

    fn close_shared(
        &self,
        sh: &mut Shared,
        end: Stamp,
        end_rt: u64,
        reason: EndReason,
        posts: &mut Vec<Post>,
    ) {
        if let Some(AlarmEvent::End { defect, .. }) = sh.alarm.close(end, end_rt) {
            posts.push(Post::AlarmEnd {
                defect,
                end,
                end_rt,
                reason,
            });
        }
        for s in sh.stall.iter_mut() {
            if let Some(stall) = s.take() {
                posts.push(Post::StallEnd {
                    stall,
                    end,
                    end_rt,
                    reason,
                });
            }
        }
        if reason != EndReason::Eos {
            sh.pairer.reset();
            sh.correlator.reset();
        }
    }

    fn sink_event(&self, media: Media, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        let mut posts = Vec::new();
        match event.view() {
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                if !self.set_caps(media, &caps, &mut posts) {
                    self.post(&posts);
                    return false;
                }
            }
            EventView::Segment(s) => {
                let Some(seg) = s.segment().downcast_ref::<gst::ClockTime>().cloned() else {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["avsyncmon needs TIME segments on {}", pad.name()]
                    );
                    return false;
                };
                if self.with_branch(media, |b| b.segment.is_some()) {
                    self.close_branch(media, EndReason::Segment, &mut posts);
                }
                self.with_branch(media, |b| b.segment = Some(seg));
            }
            EventView::Gap(g) => {
                // Signalled absence of data: the stream advances, it is not stalled.
                let (ts, dur) = g.get();
                let rt = self
                    .with_branch(media, |b| b.segment.clone())
                    .and_then(|s| s.to_running_time(ts + dur.unwrap_or(gst::ClockTime::ZERO)));
                if let Some(rt) = rt {
                    self.with_branch(media, |b| b.timeline.gap(rt.nseconds()));
                    let settings = *self.settings.lock().unwrap();
                    let mut sh = self.shared.lock().unwrap();
                    let stamp = Stamp {
                        pts: Some(ts),
                        running_time: Some(rt),
                        stream_time: None,
                    };
                    self.advance(
                        &mut sh,
                        &settings,
                        media,
                        rt.nseconds(),
                        rt.nseconds(),
                        stamp,
                        stamp,
                        &mut posts,
                    );
                }
            }
            EventView::FlushStop(_) => self.close_branch(media, EndReason::Flush, &mut posts),
            EventView::Eos(_) => self.close_branch(media, EndReason::Eos, &mut posts),
            EventView::StreamStart(_) if self.with_branch(media, |b| b.end_rt.is_some()) => {
                self.close_branch(media, EndReason::Segment, &mut posts);
            }
            _ => (),
        }
        self.post(&posts);
        self.partner(pad).push_event(event)
    }

    fn set_caps(&self, media: Media, caps: &gst::Caps, posts: &mut Vec<Post>) -> bool {
        let settings = *self.settings.lock().unwrap();
        match media {
            Media::Video => {
                let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
                    return self.caps_error("cannot read video caps", caps);
                };
                if self.with_branch(media, |b| b.caps.as_ref().is_some_and(|c| c != caps)) {
                    self.close_branch(media, EndReason::Caps, posts);
                }
                let mut v = self.video.lock().unwrap();
                let clock = ContentClock::video(info.fps().numer(), info.fps().denom());
                v.branch.timeline.set_clock(clock);
                v.probe = match LumaLayout::for_format(info.format()) {
                    Ok(layout) => Some(VisualProbe::new(
                        layout,
                        info.width() as usize,
                        info.height() as usize,
                    )),
                    Err(e) => {
                        if !v.warned_format {
                            v.warned_format = true;
                            posts.push(Post::Warning(format!(
                                "video format {} has no readable luma ({e}): flash detection \
                                 and content analysis are off, timestamp checks go on",
                                info.format().to_str()
                            )));
                        }
                        None
                    }
                };
                v.flash.reset();
                v.info = Some(info);
                v.branch.caps = Some(caps.clone());
            }
            Media::Audio => {
                let Ok(info) = gst_audio::AudioInfo::from_caps(caps) else {
                    return self.caps_error("cannot read audio caps", caps);
                };
                let Some(format) = SampleFormat::new(&info) else {
                    return self.caps_error("cannot read audio samples of", caps);
                };
                if self.with_branch(media, |b| b.caps.as_ref().is_some_and(|c| c != caps)) {
                    self.close_branch(media, EndReason::Caps, posts);
                }
                let mut a = self.audio.lock().unwrap();
                a.branch
                    .timeline
                    .set_clock(ContentClock::audio(info.rate()));
                a.beep = Some(BeepDetector::new(info.rate(), settings.beep));
                a.onsets = Some(AudioOnsets::new(info.rate()));
                a.format = Some(format);
                a.info = Some(info);
                a.branch.caps = Some(caps.clone());
            }
        }
        true
    }

    /// Runs `f` on one branch's common state, under that branch's lock.
    fn with_branch<T>(&self, media: Media, f: impl FnOnce(&mut Branch) -> T) -> T {
        match media {
            Media::Video => f(&mut self.video.lock().unwrap().branch),
            Media::Audio => f(&mut self.audio.lock().unwrap().branch),
        }
    }

    fn caps_error(&self, what: &str, caps: &gst::Caps) -> bool {
        gst::element_imp_error!(
            self,
            gst::StreamError::Format,
            ["avsyncmon {} {}", what, caps]
        );
        false
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        self.partner(pad).push_event(event)
    }

    fn query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Caps(q) => {
                let templ = pad.pad_template_caps();
                let filter = q.filter_owned();
                let mut peer_q = gst::query::Caps::new(filter.as_ref());
                let caps = if self.partner(pad).peer_query(&mut peer_q) {
                    peer_q
                        .result()
                        .map(|c| templ.intersect_with_mode(c, gst::CapsIntersectMode::First))
                        .unwrap_or_else(|| templ.clone())
                } else {
                    templ.clone()
                };
                let caps = match filter {
                    Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            QueryViewMut::AcceptCaps(q) => {
                let caps = q.caps_owned();
                let ok = caps.can_intersect(&pad.pad_template_caps()) && {
                    let mut peer_q = gst::query::AcceptCaps::new(&caps);
                    !self.partner(pad).is_linked() || {
                        self.partner(pad).peer_query(&mut peer_q) && peer_q.result()
                    }
                };
                q.set_result(ok);
                true
            }
            _ => self.partner(pad).peer_query(query),
        }
    }

    fn live(&self) -> bool {
        self.live.load(Ordering::Acquire) == LIVE_YES
    }

    fn ensure_live_known(&self, pad: &gst::Pad) {
        if self.live.load(Ordering::Acquire) != LIVE_UNKNOWN {
            return;
        }
        let mut q = gst::query::Latency::new();
        if pad.peer_query(&mut q) {
            let live = q.result().0;
            self.live
                .store(if live { LIVE_YES } else { LIVE_NO }, Ordering::Release);
        }
    }

    fn post(&self, posts: &[Post]) {
        if posts.is_empty() {
            return;
        }
        let settings = *self.settings.lock().unwrap();
        let obj = self.obj();
        let name = obj.name().to_string();
        let live = self.live();
        let now_rt = self.now_running_time();
        let now_utc = message::now_unix_usec();
        let utc_of = |rt: Option<gst::ClockTime>| -> Option<String> {
            if !live {
                return None;
            }
            let back = match (now_rt, rt) {
                (Some(n), Some(r)) => (n.nseconds() as i64 - r.nseconds() as i64) / 1000,
                _ => 0,
            };
            message::utc_string(now_utc - back)
        };
        let defect = |defect: &str,
                      phase: Phase,
                      id: u64,
                      start: Stamp,
                      end: Option<(Stamp, u64, u64, EndReason)>,
                      evidence: gst::Structure| {
            let (end_stamp, duration, reason) = match end {
                Some((e, start_rt, end_rt, r)) => {
                    let (e, d) = message::end_not_before_start(start, start_rt, e, end_rt);
                    (Some(e), Some(d), Some(r))
                }
                None => (None, None, None),
            };
            DefectMessage {
                defect: defect.to_string(),
                phase,
                id,
                element: name.clone(),
                start,
                detected_running_time: now_rt,
                utc: utc_of(start.running_time),
                duration,
                end: end_stamp,
                end_utc: end_stamp.and_then(|e| utc_of(e.running_time)),
                end_reason: reason,
                evidence: Some(evidence),
            }
        };
        // A measurement named as its values are, at `at`.
        let measurement = |at: Stamp, values: gst::Structure| {
            Measurement {
                measurement: values.name().to_string(),
                element: name.clone(),
                at,
                detected_running_time: now_rt,
                utc: utc_of(at.running_time),
                values,
            }
            .to_message(&*obj)
        };
        let at_running_time = |rt: u64| Stamp {
            running_time: Some(gst::ClockTime::from_nseconds(rt)),
            ..Default::default()
        };
        for p in posts {
            gst::debug!(CAT, imp = self, "{p:?}");
            let msg = match p {
                Post::Warning(text) => {
                    gst::element_imp_warning!(self, gst::StreamError::Format, ("{}", text));
                    continue;
                }
                Post::Discont(d) => defect(
                    "ts-discont",
                    Phase::Point,
                    self.next_id(),
                    d.stamp,
                    None,
                    gst::Structure::builder("ts-discont")
                        .field("stream", d.media.as_str())
                        .field("kind", d.kind.as_str())
                        .field("delta", d.delta)
                        .field("units", d.units)
                        .field("unit", d.media.units())
                        .field("flagged", d.flagged)
                        .field("expected-running-time", d.expected)
                        .build(),
                )
                .to_message(&*obj),
                Post::TimelineShift(d) => {
                    let change = match d.media {
                        Media::Audio => d.delta,
                        Media::Video => -d.delta,
                    };
                    defect(
                        "timeline-shift",
                        Phase::Point,
                        self.next_id(),
                        d.stamp,
                        None,
                        gst::Structure::builder("timeline-shift")
                            .field("stream", d.media.as_str())
                            .field("delta", d.delta)
                            .field("offset-change", change)
                            .build(),
                    )
                    .to_message(&*obj)
                }
                Post::DriftStart(d) => defect(
                    "clock-drift",
                    Phase::Start,
                    d.id,
                    d.start,
                    None,
                    drift_evidence(d),
                )
                .to_message(&*obj),
                Post::DriftEnd {
                    drift,
                    end,
                    end_rt,
                    reason,
                } => defect(
                    "clock-drift",
                    Phase::End,
                    drift.id,
                    drift.start,
                    Some((*end, drift.start_rt, *end_rt, *reason)),
                    drift_evidence(drift),
                )
                .to_message(&*obj),
                Post::StallStart(s) => defect(
                    "stream-stall",
                    Phase::Start,
                    s.id,
                    s.start,
                    None,
                    stall_evidence(s),
                )
                .to_message(&*obj),
                Post::StallEnd {
                    stall,
                    end,
                    end_rt,
                    reason,
                } => defect(
                    "stream-stall",
                    Phase::End,
                    stall.id,
                    stall.start,
                    Some((*end, stall.start_rt, *end_rt, *reason)),
                    stall_evidence(stall),
                )
                .to_message(&*obj),
                Post::AlarmStart(d) => defect(
                    "av-offset",
                    Phase::Start,
                    d.id,
                    d.start,
                    None,
                    offset_evidence(d, &settings),
                )
                .to_message(&*obj),
                Post::AlarmEnd {
                    defect: d,
                    end,
                    end_rt,
                    reason,
                } => defect(
                    "av-offset",
                    Phase::End,
                    d.id,
                    d.start,
                    Some((*end, d.start_rt, *end_rt, *reason)),
                    offset_evidence(d, &settings),
                )
                .to_message(&*obj),
                Post::Pair(m) => {
                    if !settings.post_measurements {
                        continue;
                    }
                    let mut values = gst::Structure::builder("av-offset")
                        .field("source", "test-signal")
                        .field("available", true)
                        .field("offset", m.offset)
                        .field("smoothed", m.smoothed)
                        .field("confidence", m.confidence)
                        .field("flash-running-time", m.flash.rt)
                        .field("beep-running-time", m.beep.rt)
                        .field("count", m.count)
                        .build();
                    if let Some(d) = m.drift_ms_per_min {
                        values.set("drift", d);
                    }
                    measurement(m.flash.stamp, values)
                }
                &Post::StartOffset(v, a) => {
                    if !settings.post_measurements {
                        continue;
                    }
                    // A fact of the timestamps, not a measured A/V offset: it equals the offset
                    // only when the source was in sync, hence its own measurement name.
                    let values = gst::Structure::builder("start-offset")
                        .field("source", "start")
                        .field("offset", a as i64 - v as i64)
                        .field("video-running-time", v)
                        .field("audio-running-time", a)
                        .build();
                    measurement(at_running_time(v.max(a)), values)
                }
                Post::Content(e) => {
                    if !settings.post_measurements {
                        continue;
                    }
                    let mut values = gst::Structure::builder("av-offset")
                        .field("source", "content")
                        .field("available", e.result.is_ok())
                        .field("psr", e.psr)
                        .field("z-score", e.z)
                        .field("chance", e.chance)
                        .field("window", e.window)
                        .field("final", e.last)
                        .build();
                    match e.result {
                        Ok(v) => {
                            values.set("offset", v.offset);
                            values.set("confidence", v.confidence);
                        }
                        Err(reason) => {
                            values.set("confidence", 0.0f64);
                            values.set("reason", reason);
                        }
                    }
                    measurement(at_running_time(e.rt), values)
                }
            };
            let _ = obj.post_message(msg);
        }
    }

    /// The furthest running time either branch has reached.
    fn now_running_time(&self) -> Option<gst::ClockTime> {
        let sh = self.shared.lock().unwrap();
        sh.pos
            .iter()
            .flatten()
            .max()
            .map(|&p| gst::ClockTime::from_nseconds(p))
    }

    fn stats(&self) -> gst::Structure {
        let (vt, vframes, vflashes, vbad, vcaps) = {
            let v = self.video.lock().unwrap();
            (
                v.branch.timeline.stats,
                v.frames,
                v.flashes,
                v.branch.bad_buffers,
                v.branch.caps.as_ref().map(|c| c.to_string()),
            )
        };
        let (at, asamples, abeeps, arejected, abad, acaps) = {
            let a = self.audio.lock().unwrap();
            (
                a.branch.timeline.stats,
                a.samples,
                a.beeps,
                a.rejected_bursts,
                a.branch.bad_buffers,
                a.branch.caps.as_ref().map(|c| c.to_string()),
            )
        };
        let sh = self.shared.lock().unwrap();
        let mut s = gst::Structure::builder("avsyncmon-stats")
            .field("video-buffers", vt.buffers)
            .field("video-frames", vframes)
            .field("video-gaps", vt.gaps)
            .field("video-overlaps", vt.overlaps)
            .field("video-backwards", vt.backwards)
            .field("video-jitter", vt.jitter)
            .field("video-divergence", vt.divergence)
            .field("video-bad-buffers", vbad)
            .field("flashes", vflashes)
            .field("audio-buffers", at.buffers)
            .field("audio-samples", asamples)
            .field("audio-gaps", at.gaps)
            .field("audio-overlaps", at.overlaps)
            .field("audio-backwards", at.backwards)
            .field("audio-jitter", at.jitter)
            .field("audio-divergence", at.divergence)
            .field("audio-bad-buffers", abad)
            .field("beeps", abeeps)
            .field("rejected-bursts", arejected)
            .field("pairs", sh.pairer.count)
            .field("unpaired-flashes", sh.pairer.unpaired_flashes)
            .field("unpaired-beeps", sh.pairer.unpaired_beeps)
            .field("unconfirmed-pairs", sh.pairer.unconfirmed)
            .field("timeline-shifts", sh.timeline_shifts)
            .field("content-estimates", sh.correlator.estimates)
            .field("content-available", sh.correlator.available)
            .build();
        if let Some(p) = vt.ppm {
            s.set("video-drift-ppm", p);
        }
        if let Some(p) = at.ppm {
            s.set("audio-drift-ppm", p);
        }
        if let Some(m) = sh.last_pair {
            s.set("last-offset", m.offset);
            s.set("smoothed-offset", m.smoothed);
            s.set("last-confidence", m.confidence);
        }
        if let Some(Estimate { result: Ok(v), .. }) = sh.last_content {
            s.set("content-offset", v.offset);
        }
        if let Some(c) = vcaps {
            s.set("video-caps", c);
        }
        if let Some(c) = acaps {
            s.set("audio-caps", c);
        }
        s
    }

    fn reset(&self) {
        *self.video.lock().unwrap() = Self::new_video_state();
        *self.audio.lock().unwrap() = Self::new_audio_state();
        *self.shared.lock().unwrap() = Shared::new();
        self.live.store(LIVE_UNKNOWN, Ordering::Release);
    }
}

fn bad_buffer(branch: &mut Branch, posts: &mut Vec<Post>, what: &str, err: &str) {
    branch.bad_buffers += 1;
    if !branch.warned_bad {
        branch.warned_bad = true;
        posts.push(Post::Warning(format!(
            "{what} buffer not analysed ({err}); passed on untouched, counted in stats"
        )));
    }
}

fn drift_evidence(d: &Drift) -> gst::Structure {
    gst::Structure::builder("clock-drift")
        .field("stream", d.media.as_str())
        .field("ppm", d.ppm)
        .field("divergence", d.divergence)
        .field("max-divergence", d.max_divergence)
        .field("window", d.window)
        .build()
}

fn stall_evidence(s: &OpenStall) -> gst::Structure {
    gst::Structure::builder("stream-stall")
        .field("stream", s.media.as_str())
        .field("other-advance", s.other_advance)
        .build()
}

fn offset_evidence(d: &OffsetDefect, settings: &Settings) -> gst::Structure {
    let limits = settings.limits();
    gst::Structure::builder("av-offset")
        .field("source", "test-signal")
        .field("profile", settings.profile.nick())
        .field("early-limit", limits.early)
        .field("late-limit", limits.late)
        .field("first-offset", d.first_offset)
        .field("worst-offset", d.worst_offset)
        .field("last-offset", d.last_offset)
        .field("measurements", d.measurements)
        .build()
}

/// Queries and internal links of every pad go to its partner only.
fn partner_only(b: gst::PadBuilder<gst::Pad>) -> gst::PadBuilder<gst::Pad> {
    b.query_function(|pad, parent, query| {
        AvSyncMon::catch_panic_pad_function(parent, || false, |imp| imp.query(pad, query))
    })
    .iterate_internal_links_function(|pad, parent| {
        AvSyncMon::catch_panic_pad_function(
            parent,
            || gst::Iterator::from_vec(vec![]),
            |imp| gst::Iterator::from_vec(vec![imp.partner(pad).clone()]),
        )
    })
}

#[glib::object_subclass]
impl ObjectSubclass for AvSyncMon {
    const NAME: &'static str = "GstAvSyncMon";
    type Type = super::AvSyncMon;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sink = |name: &str, media: Media| {
            let templ = klass.pad_template(name).unwrap();
            partner_only(gst::Pad::builder_from_template(&templ))
                .chain_function(move |_pad, parent, buffer| {
                    AvSyncMon::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |imp| imp.sink_chain(media, buffer),
                    )
                })
                .event_function(move |pad, parent, event| {
                    AvSyncMon::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_event(media, pad, event),
                    )
                })
                .build()
        };
        let src = |name: &str| {
            let templ = klass.pad_template(name).unwrap();
            partner_only(gst::Pad::builder_from_template(&templ))
                .event_function(|pad, parent, event| {
                    AvSyncMon::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.src_event(pad, event),
                    )
                })
                .build()
        };
        AvSyncMon {
            video_sink: sink("video_sink", Media::Video),
            video_src: src("video_src"),
            audio_sink: sink("audio_sink", Media::Audio),
            audio_src: src("audio_src"),
            settings: Mutex::new(Settings::default()),
            video: Mutex::new(Self::new_video_state()),
            audio: Mutex::new(Self::new_audio_state()),
            shared: Mutex::new(Shared::new()),
            ids: AtomicU64::new(0),
            live: AtomicU8::new(LIVE_UNKNOWN),
        }
    }
}

fn ns_spec(
    name: &str,
    nick: &str,
    blurb: &str,
    min: u64,
    max: u64,
    default: u64,
) -> glib::ParamSpec {
    glib::ParamSpecUInt64::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(min)
        .maximum(max)
        .default_value(default)
        .mutable_playing()
        .build()
}

fn f64_spec(
    name: &str,
    nick: &str,
    blurb: &str,
    min: f64,
    max: f64,
    default: f64,
) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(min)
        .maximum(max)
        .default_value(default)
        .mutable_playing()
        .build()
}

fn bool_spec(name: &str, nick: &str, blurb: &str, default: bool) -> glib::ParamSpec {
    glib::ParamSpecBoolean::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_playing()
        .build()
}

impl ObjectImpl for AvSyncMon {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                ns_spec(
                    "alignment-threshold",
                    "Alignment threshold",
                    "Audio timestamp jump (ns) beyond which buffers are a gap or an overlap, like audiobasesink",
                    1,
                    10 * SECOND,
                    d.timeline.alignment_threshold,
                ),
                ns_spec(
                    "discont-wait",
                    "Discont wait",
                    "How long (ns) a jump must persist before it is reported; shorter ones are jitter",
                    0,
                    60 * SECOND,
                    d.timeline.discont_wait,
                ),
                ns_spec(
                    "stall-threshold",
                    "Stall threshold",
                    "One stream stalls when the other advances this far (ns) without it (0 = off)",
                    0,
                    3600 * SECOND,
                    d.stall_threshold,
                ),
                ns_spec(
                    "drift-tolerance",
                    "Drift tolerance",
                    "Divergence (ns) of a stream's timestamps from its content clock that opens a clock-drift defect",
                    1,
                    3600 * SECOND,
                    d.timeline.drift_tolerance,
                ),
                f64_spec(
                    "drift-max-ppm",
                    "Drift max ppm",
                    "Drift (ppm) sustained over drift-window that opens a clock-drift defect",
                    0.0,
                    1e6,
                    d.timeline.drift_max_ppm,
                ),
                ns_spec(
                    "drift-window",
                    "Drift window",
                    "Running time (ns) over which the drift slope is fitted",
                    10 * SECOND,
                    120 * SECOND,
                    d.timeline.drift_window,
                ),
                bool_spec(
                    "test-signals",
                    "Test signals",
                    "Detect flash/beep test signals and measure the A/V offset from them",
                    d.test_signals,
                ),
                f64_spec(
                    "flash-threshold",
                    "Flash threshold",
                    "Rise of a grid cell's mean luma (8-bit code values) from one frame to the next that is a flash",
                    1.0,
                    255.0,
                    d.flash_threshold,
                ),
                f64_spec(
                    "beep-min-freq",
                    "Beep min frequency",
                    "Lowest beep frequency (Hz)",
                    20.0,
                    96_000.0,
                    d.beep.min_freq,
                ),
                f64_spec(
                    "beep-max-freq",
                    "Beep max frequency",
                    "Highest beep frequency (Hz)",
                    20.0,
                    96_000.0,
                    d.beep.max_freq,
                ),
                f64_spec(
                    "beep-snr",
                    "Beep SNR",
                    "How far (dB) a beep's band energy must rise above the noise floor",
                    3.0,
                    100.0,
                    d.beep.snr_db,
                ),
                f64_spec(
                    "beep-min-level",
                    "Beep min level",
                    "Quietest beep (dBFS band power)",
                    -120.0,
                    0.0,
                    d.beep.min_level_db,
                ),
                ns_spec(
                    "beep-min-duration",
                    "Beep min duration",
                    "Shortest tone burst (ns) that is a beep",
                    MS,
                    SECOND,
                    d.beep.min_duration,
                ),
                ns_spec(
                    "max-offset",
                    "Max offset",
                    "Largest A/V offset (ns) measured: flashes and beeps further apart are not paired",
                    10 * MS,
                    10 * SECOND,
                    d.max_offset,
                ),
                glib::ParamSpecEnum::builder_with_default("profile", d.profile)
                    .nick("Profile")
                    .blurb("Tolerance profile judging measured offsets")
                    .mutable_playing()
                    .build(),
                ns_spec(
                    "early-limit",
                    "Early limit",
                    "Custom profile: how far (ns) audio may lead video",
                    0,
                    10 * SECOND,
                    d.early_limit,
                ),
                ns_spec(
                    "late-limit",
                    "Late limit",
                    "Custom profile: how far (ns) audio may lag video",
                    0,
                    10 * SECOND,
                    d.late_limit,
                ),
                glib::ParamSpecUInt::builder("min-measurements")
                    .nick("Min measurements")
                    .blurb("Consecutive out-of-tolerance measurements before an av-offset defect")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.min_measurements)
                    .mutable_playing()
                    .build(),
                bool_spec(
                    "content-analysis",
                    "Content analysis",
                    "Estimate the offset on real content (advisory, with a confidence figure)",
                    d.content_analysis,
                ),
                ns_spec(
                    "content-window",
                    "Content window",
                    "Sliding window (ns) of the content correlation",
                    SECOND,
                    40 * SECOND,
                    d.content_window,
                ),
                ns_spec(
                    "content-interval",
                    "Content interval",
                    "Time (ns) between content estimates",
                    SECOND,
                    3600 * SECOND,
                    d.content_interval,
                ),
                bool_spec(
                    "post-measurements",
                    "Post measurements",
                    "Post a vqmon-measurement message for every offset measured",
                    d.post_measurements,
                ),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Counters and latest figures of both streams")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.video_sink).unwrap();
        obj.add_pad(&self.video_src).unwrap();
        obj.add_pad(&self.audio_sink).unwrap();
        obj.add_pad(&self.audio_src).unwrap();
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let u = || value.get::<u64>().unwrap();
        let f = || value.get::<f64>().unwrap();
        let b = || value.get::<bool>().unwrap();
        match pspec.name() {
            "alignment-threshold" => s.timeline.alignment_threshold = u(),
            "discont-wait" => s.timeline.discont_wait = u(),
            "stall-threshold" => s.stall_threshold = u(),
            "drift-tolerance" => s.timeline.drift_tolerance = u(),
            "drift-max-ppm" => s.timeline.drift_max_ppm = f(),
            "drift-window" => s.timeline.drift_window = u(),
            "test-signals" => s.test_signals = b(),
            "flash-threshold" => s.flash_threshold = f(),
            "beep-min-freq" => s.beep.min_freq = f(),
            "beep-max-freq" => s.beep.max_freq = f(),
            "beep-snr" => s.beep.snr_db = f(),
            "beep-min-level" => s.beep.min_level_db = f(),
            "beep-min-duration" => s.beep.min_duration = u(),
            "max-offset" => s.max_offset = u(),
            "profile" => s.profile = value.get::<Profile>().unwrap(),
            "early-limit" => s.early_limit = u(),
            "late-limit" => s.late_limit = u(),
            "min-measurements" => s.min_measurements = value.get::<u32>().unwrap(),
            "content-analysis" => s.content_analysis = b(),
            "content-window" => s.content_window = u(),
            "content-interval" => s.content_interval = u(),
            "post-measurements" => s.post_measurements = b(),
            other => unreachable!("unknown property {other}"),
        }
        let beep = s.beep;
        drop(s);
        if pspec.name().starts_with("beep-") {
            // The detector restarts with the new band; the running stream keeps flowing.
            let mut a = self.audio.lock().unwrap();
            if let Some(info) = a.info.as_ref() {
                let rate = info.rate();
                a.beep = Some(BeepDetector::new(rate, beep));
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = *self.settings.lock().unwrap();
        match pspec.name() {
            "alignment-threshold" => s.timeline.alignment_threshold.to_value(),
            "discont-wait" => s.timeline.discont_wait.to_value(),
            "stall-threshold" => s.stall_threshold.to_value(),
            "drift-tolerance" => s.timeline.drift_tolerance.to_value(),
            "drift-max-ppm" => s.timeline.drift_max_ppm.to_value(),
            "drift-window" => s.timeline.drift_window.to_value(),
            "test-signals" => s.test_signals.to_value(),
            "flash-threshold" => s.flash_threshold.to_value(),
            "beep-min-freq" => s.beep.min_freq.to_value(),
            "beep-max-freq" => s.beep.max_freq.to_value(),
            "beep-snr" => s.beep.snr_db.to_value(),
            "beep-min-level" => s.beep.min_level_db.to_value(),
            "beep-min-duration" => s.beep.min_duration.to_value(),
            "max-offset" => s.max_offset.to_value(),
            "profile" => s.profile.to_value(),
            "early-limit" => s.early_limit.to_value(),
            "late-limit" => s.late_limit.to_value(),
            "min-measurements" => s.min_measurements.to_value(),
            "content-analysis" => s.content_analysis.to_value(),
            "content-window" => s.content_window.to_value(),
            "content-interval" => s.content_interval.to_value(),
            "post-measurements" => s.post_measurements.to_value(),
            "stats" => self.stats().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for AvSyncMon {}

impl ElementImpl for AvSyncMon {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "A/V sync monitor",
                "Filter/Analyzer/Audio/Video",
                "Measures audio/video sync inline (timestamps, flash/beep test signals, content) and posts vqmon-defect messages",
                "The vqmon developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Any raw video; formats with a readable luma plane first, so negotiation with a
            // flexible upstream picks one the flash and content tiers can read.
            let mut video = crate::luma::supported_caps();
            video.merge(gst::Caps::builder("video/x-raw").build());
            let audio = gst::Caps::builder("audio/x-raw").build();
            let t = |name: &str, dir, caps: &gst::Caps| {
                gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps).unwrap()
            };
            vec![
                t("video_sink", gst::PadDirection::Sink, &video),
                t("video_src", gst::PadDirection::Src, &video),
                t("audio_sink", gst::PadDirection::Sink, &audio),
                t("audio_src", gst::PadDirection::Src, &audio),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            self.reset();
        }
        let res = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            let mut posts = Vec::new();
            self.close_branch(Media::Video, EndReason::Stopped, &mut posts);
            self.close_branch(Media::Audio, EndReason::Stopped, &mut posts);
            self.post(&posts);
            self.reset();
        }
        Ok(res)
    }
}
