// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The GStreamer-free audio detector: takes blocks of interleaved samples (as `f32`, full scale
//! 1.0) with their times and returns defect decisions and periodic measurements.
//!
//! Loudness (momentary, short-term, integrated, LRA) and true peak are measured by the `ebur128`
//! crate (ITU-R BS.1770-4 / EBU R128), in histogram mode so memory stays bounded on 24/7 runs.
//! Everything else is decided here, per sample:
//!
//! - silence: FFmpeg `silencedetect` semantics. A frame is silent when every channel's sample is
//!   below `silence_threshold` in magnitude; a run of silent frames lasting `silence_duration` is a
//!   `silence` defect from its first silent frame to the first frame that is not silent.
//! - channel loss: one channel silent for `silence_duration` while another channel carries sound
//!   over that time (channels listed in `ignored` are not watched: LFE by default).
//! - clipping: `clip_min_run` consecutive samples of one channel at or beyond `clip_level` is one
//!   clip; clips less than `hold` apart form one `clipping` defect, which ends at the end of its
//!   last clip.
//! - true peak: a `true-peak` defect while the true peak of 10 ms blocks exceeds the limit, ending
//!   `hold` after the last block over it.
//! - loudness: short-term loudness outside `target +/- tolerance` for `loudness_min_duration`
//!   (silence, below the -70 LUFS absolute gate, does not count) is a `loudness` defect; at the end
//!   the integrated loudness gives the verdict.
//! - phase: the correlation of the stereo pair over the last 3 s at or below `-phase_threshold`
//!   (both channels carrying sound) is an inverted-polarity `phase` defect; at or above
//!   `mono_threshold`, when stereo is expected, a `mono` defect.

use crate::event::{DefectEvent, EventBuf, Times};
use crate::message::{EndReason, Phase};

/// The most channels analysed (ebur128 keeps per-channel peaks inline up to 16).
pub const MAX_CHANNELS: usize = 16;
/// Correlation is kept per block of this long, over a window of `CORR_BLOCKS` blocks.
const CORR_BLOCK: u64 = 100_000_000;
const CORR_BLOCKS: usize = 30;
/// Short-term loudness is judged this often, over this many steps (3 s).
const LOUDNESS_STEP: u64 = 100_000_000;
const ST_BLOCKS: usize = 30;
/// EBU R128's absolute gate: below it a stretch is silence, not a loudness deviation.
const ABSOLUTE_GATE: f64 = -70.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    Silence,
    ChannelLoss,
    Clipping,
    TruePeak,
    Loudness,
    Phase,
    Mono,
}

impl Defect {
    pub fn as_str(self) -> &'static str {
        match self {
            Defect::Silence => "silence",
            Defect::ChannelLoss => "channel-loss",
            Defect::Clipping => "clipping",
            Defect::TruePeak => "true-peak",
            Defect::Loudness => "loudness",
            Defect::Phase => "phase",
            Defect::Mono => "mono",
        }
    }
}

/// A loudness target: a named standard's or the user's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Integrated (and short-term) loudness aimed at, LUFS.
    pub loudness: f64,
    /// Allowed deviation, LU, either way.
    pub tolerance: f64,
    /// Highest allowed true peak, dBTP.
    pub max_true_peak: f64,
}

/// The loudness standards vqaudio knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    EbuR128,
    AtscA85,
    Streaming14,
    Streaming16,
}

impl Standard {
    pub const ALL: [Standard; 4] = [
        Standard::EbuR128,
        Standard::AtscA85,
        Standard::Streaming14,
        Standard::Streaming16,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Standard::EbuR128 => "ebu-r128",
            Standard::AtscA85 => "atsc-a85",
            Standard::Streaming14 => "streaming-14",
            Standard::Streaming16 => "streaming-16",
        }
    }

    pub fn target(self) -> Target {
        let (loudness, tolerance, max_true_peak) = match self {
            Standard::EbuR128 => (-23.0, 1.0, -1.0),
            Standard::AtscA85 => (-24.0, 2.0, -2.0),
            Standard::Streaming14 => (-14.0, 1.0, -1.0),
            Standard::Streaming16 => (-16.0, 1.0, -1.0),
        };
        Target {
            loudness,
            tolerance,
            max_true_peak,
        }
    }

    pub fn parse(s: &str) -> Option<Standard> {
        Standard::ALL.into_iter().find(|p| p.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Largest magnitude of a silent sample (fraction of full scale; 0.001 = -60 dB).
    pub silence_threshold: f32,
    /// Shortest silence (ns).
    pub silence_duration: u64,
    /// Magnitude at or beyond which a sample is clipped.
    pub clip_level: f32,
    /// Consecutive clipped samples of one channel that make a clip.
    pub clip_min_run: u32,
    /// Clips (and true-peak overs) closer than this (ns) belong to one defect.
    pub hold: u64,
    /// Loudness compliance; `None` measures without judging.
    pub target: Option<Target>,
    /// Shortest stretch (ns) of short-term loudness outside the target window.
    pub loudness_min_duration: u64,
    /// Correlation at or below minus this is inverted polarity.
    pub phase_threshold: f64,
    /// Correlation at or above this is dual mono, when `expect_stereo`.
    pub mono_threshold: f64,
    pub expect_stereo: bool,
    /// Heartbeat of open interval defects (ns, 0 = none).
    pub update_interval: u64,
    /// Measurements are due this often (ns, 0 = none).
    pub measurement_interval: u64,
}

pub const DEFAULT_PARAMS: Params = Params {
    silence_threshold: 0.001,
    silence_duration: 2_000_000_000,
    clip_level: 1.0,
    clip_min_run: 3,
    hold: 1_000_000_000,
    target: None,
    loudness_min_duration: 10_000_000_000,
    phase_threshold: 0.5,
    mono_threshold: 0.995,
    expect_stereo: false,
    update_interval: 10_000_000_000,
    measurement_interval: 1_000_000_000,
};

/// What each defect carries as evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    Silence {
        /// Largest sample magnitude inside, dBFS.
        max_level_db: f64,
        threshold_db: f64,
    },
    ChannelLoss {
        channel: u32,
        max_level_db: f64,
        threshold_db: f64,
    },
    Clipping {
        clips: u64,
        clipped_samples: u64,
        /// Bit `c` set: channel `c` clipped.
        channel_mask: u32,
        peak_db: f64,
    },
    TruePeak {
        max_true_peak_db: f64,
        limit_db: f64,
        /// 10 ms blocks over the limit.
        overs: u64,
    },
    /// Short-term loudness out of the window (live).
    Loudness {
        /// The short-term extreme on the side it left the window.
        loudness: f64,
        target: f64,
        tolerance: f64,
        /// Short-term extremes over the defect.
        min: f64,
        max: f64,
    },
    /// The integrated verdict failed (at the end of the stream).
    Integrated {
        loudness: f64,
        target: f64,
        tolerance: f64,
        lra: f64,
        max_true_peak_db: f64,
    },
    Correlation {
        /// The extreme window correlation while it lasted.
        correlation: f64,
        threshold: f64,
    },
}

pub type Event = DefectEvent<Defect, Evidence>;
/// Channel-loss decisions (one per channel) and every other defect, at once.
pub type Events = EventBuf<Event, { MAX_CHANNELS * 2 + 16 }>;

/// A periodic measurement: loudness, peaks, DC offset and correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub at: Times,
    pub t: u64,
    pub momentary: f64,
    pub short_term: f64,
    pub integrated: f64,
    pub lra: f64,
    /// Largest true peak of any channel over the interval, dBTP.
    pub true_peak_db: f64,
    /// Largest sample magnitude over the interval, dBFS.
    pub sample_peak_db: f64,
    /// Largest magnitude of a channel's mean over the interval (fraction of full scale), and
    /// that channel.
    pub dc_offset: f64,
    pub dc_channel: u32,
    /// Stereo-pair correlation over the last 3 s, when both carry sound.
    pub correlation: Option<f64>,
}

/// What closing gives: the last reading and, at EOS, the verdict.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Closed {
    pub reading: Option<Reading>,
    pub verdict: Option<Verdict>,
}

/// The end-of-programme verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Where the programme ended.
    pub at: Times,
    pub integrated: f64,
    pub lra: f64,
    pub max_true_peak_db: f64,
    /// `pass`, `fail` or, without gated loudness to judge, `not-measured`.
    pub verdict: &'static str,
    pub target: Option<Target>,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    id: u64,
    start: Times,
    start_t: u64,
    last_update: u64,
}

/// Where a sample sits in time.
#[derive(Debug, Clone, Copy)]
struct At {
    times: Times,
    t: u64,
}

/// The time of the `k`-th sample after an origin at `rate`, rounded down to the nanosecond as
/// GStreamer timestamps audio buffers. A 24/7 stream counts past 2^64 / 10^9 samples (4.4 days
/// at 48 kHz) from one origin: the product is then taken in 128 bits (called for every sample
/// with sound, so only then).
pub fn sample_time(k: u64, rate: u32) -> u64 {
    match k.checked_mul(1_000_000_000) {
        Some(ns) => ns / u64::from(rate),
        None => (u128::from(k) * 1_000_000_000 / u128::from(rate)) as u64,
    }
}

/// Where a block of samples sits: its first sample is `first` samples after `origin`. Every
/// sample's time is computed from the origin, never by adding block durations, so that times
/// do not drift by a rounding per block and a sample has one time whatever block it is in.
#[derive(Debug, Clone, Copy)]
struct Place {
    origin: At,
    first: u64,
}

fn db(x: f64) -> f64 {
    if x > 0.0 {
        20.0 * x.log10()
    } else {
        f64::NEG_INFINITY
    }
}

/// The whole detector for one stream format.
pub struct Detector {
    channels: usize,
    rate: u32,
    meter: ebur128::EbuR128,
    ids: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Channels not watched for channel loss (bit mask).
    ignored: u32,
    /// The stereo pair, when there is one.
    pair: Option<(usize, usize)>,
    /// Where the next block is expected.
    next: Option<At>,
    // Silence.
    silent_since: Option<At>,
    silence: Option<Open>,
    silence_peak: f32,
    // Channel loss.
    ch_silent_since: [Option<At>; MAX_CHANNELS],
    ch_last_sound: [Option<u64>; MAX_CHANNELS],
    ch_loss: [Option<Open>; MAX_CHANNELS],
    ch_peak: [f32; MAX_CHANNELS],
    // Clipping.
    clip_run: [u32; MAX_CHANNELS],
    /// Where each channel's current run at the clip level began (it may have begun in an
    /// earlier buffer).
    clip_run_start: [Option<At>; MAX_CHANNELS],
    clipping: Option<Open>,
    clip_last_end: Option<At>,
    clips: u64,
    clipped: u64,
    clip_mask: u32,
    clip_peak: f32,
    // True peak.
    tp: Option<Open>,
    tp_last_end: Option<At>,
    tp_max: f64,
    tp_overs: u64,
    // Loudness.
    next_loudness: Option<u64>,
    /// Mean-square energies of the last `ST_BLOCKS` loudness steps.
    st_energy: [f64; ST_BLOCKS],
    st_n: usize,
    loud_out_since: Option<At>,
    loudness: Option<Open>,
    loud_min: f64,
    loud_max: f64,
    first: Option<At>,
    // Correlation blocks.
    corr_acc: [f64; 4],
    corr_block_end: Option<u64>,
    /// Where the block being summed began.
    corr_start: Option<At>,
    corr_ring: [[f64; 4]; CORR_BLOCKS],
    corr_blocks: usize,
    corr_at: [Option<At>; CORR_BLOCKS],
    /// The correlation of each block alone, for placing transitions.
    corr_block: [f64; CORR_BLOCKS],
    phase: Option<Open>,
    phase_extreme: f64,
    mono: Option<Open>,
    mono_extreme: f64,
    // Measurements.
    next_reading: Option<u64>,
    int_tp: f64,
    int_peak: f32,
    dc_sum: [f64; MAX_CHANNELS],
    dc_n: u64,
    overall_tp: f64,
    pub totals: Totals,
}

/// Counters for `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub samples: u64,
    pub duration: u64,
    pub silences: u64,
    pub channel_losses: u64,
    pub clippings: u64,
    pub clipped_samples: u64,
    pub true_peaks: u64,
    pub loudness: u64,
    pub phase: u64,
    pub mono: u64,
    pub discontinuities: u64,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("channels", &self.channels)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

/// Why a stream cannot be analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl Detector {
    /// A detector for `channels` interleaved channels at `rate` Hz. `ignored` channels are not
    /// watched for channel loss; `pair` is the stereo pair whose correlation is watched; `map`
    /// gives each channel's BS.1770 role (weight), libebur128's default order without it.
    pub fn new(
        channels: usize,
        rate: u32,
        ignored: u32,
        pair: Option<(usize, usize)>,
        map: Option<&[ebur128::Channel]>,
        ids: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Self, Unsupported> {
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(Unsupported(format!(
                "{channels} channels: vqaudio analyses 1 to {MAX_CHANNELS}"
            )));
        }
        if !(8_000..=192_000).contains(&rate) {
            return Err(Unsupported(format!(
                "{rate} Hz: vqaudio analyses 8 to 192 kHz"
            )));
        }
        use ebur128::Mode;
        let meter = ebur128::EbuR128::new(
            channels as u32,
            rate,
            Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::SAMPLE_PEAK | Mode::HISTOGRAM,
        )
        .map_err(|e| Unsupported(format!("loudness meter: {e:?}")))?;
        let mut meter = meter;
        if let Some(map) = map {
            meter
                .set_channel_map(map)
                .map_err(|e| Unsupported(format!("loudness channel map: {e:?}")))?;
        }
        Ok(Detector {
            channels,
            rate,
            meter,
            ids,
            ignored,
            pair,
            next: None,
            silent_since: None,
            silence: None,
            silence_peak: 0.0,
            ch_silent_since: [None; MAX_CHANNELS],
            ch_last_sound: [None; MAX_CHANNELS],
            ch_loss: [None; MAX_CHANNELS],
            ch_peak: [0.0; MAX_CHANNELS],
            clip_run: [0; MAX_CHANNELS],
            clip_run_start: [None; MAX_CHANNELS],
            clipping: None,
            clip_last_end: None,
            clips: 0,
            clipped: 0,
            clip_mask: 0,
            clip_peak: 0.0,
            tp: None,
            tp_last_end: None,
            tp_max: f64::NEG_INFINITY,
            tp_overs: 0,
            next_loudness: None,
            st_energy: [0.0; ST_BLOCKS],
            st_n: 0,
            loud_out_since: None,
            loudness: None,
            loud_min: f64::INFINITY,
            loud_max: f64::NEG_INFINITY,
            first: None,
            corr_acc: [0.0; 4],
            corr_block_end: None,
            corr_start: None,
            corr_ring: [[0.0; 4]; CORR_BLOCKS],
            corr_blocks: 0,
            corr_at: [None; CORR_BLOCKS],
            corr_block: [0.0; CORR_BLOCKS],
            phase: None,
            phase_extreme: 0.0,
            mono: None,
            mono_extreme: 0.0,
            next_reading: None,
            int_tp: 0.0,
            int_peak: 0.0,
            dc_sum: [0.0; MAX_CHANNELS],
            dc_n: 0,
            overall_tp: 0.0,
            totals: Totals::default(),
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Whether timeline position `now` has reached `due`, within half a sample (block times are
    /// rounded to the nanosecond).
    fn reached(&self, now: u64, due: u64) -> bool {
        now + 500_000_000 / self.rate as u64 >= due
    }

    /// Time of sample `i` of the block at `place`.
    fn at(&self, place: &Place, i: usize) -> At {
        let d = sample_time(place.first + i as u64, self.rate);
        At {
            times: place.origin.times.plus(d),
            t: place.origin.t + d,
        }
    }

    fn open(&self, at: &At) -> Open {
        Open {
            id: self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            start: at.times,
            start_t: at.t,
            last_update: at.t,
        }
    }

    /// One block of interleaved samples (`samples.len()` a multiple of the channel count) whose
    /// first sample is `first` samples after the origin at `origin_times`, timeline position
    /// `origin_t`.
    /// Returns the decisions and, when one was due, a measurement.
    pub fn push(
        &mut self,
        samples: &[f32],
        (origin_times, origin_t): (Times, u64),
        first: u64,
        p: &Params,
        ev: &mut Events,
    ) -> Option<Reading> {
        let ch = self.channels;
        let frames = samples.len() / ch;
        if frames == 0 {
            return None;
        }
        let samples = &samples[..frames * ch];
        let place = Place {
            origin: At {
                times: origin_times,
                t: origin_t,
            },
            first,
        };
        let base = self.at(&place, 0);
        let t = base.t;
        match self.next.map(|n| n.t) {
            // Lost audio: runs that have not become defects start again after it, so that time
            // missing is never counted as silence or sound.
            Some(n) if t > n + 1_000_000 => {
                self.totals.discontinuities += 1;
                self.restart_runs();
            }
            Some(n) if t + 1_000_000 < n => {
                // Timestamps went back: what is open cannot be placed any more.
                self.totals.discontinuities += 1;
                let end = At {
                    times: base.times,
                    t: n,
                };
                self.close_at(&end, EndReason::Discont, p, ev);
            }
            _ => (),
        }
        self.first.get_or_insert(base);
        let end = self.at(&place, frames);
        self.next = Some(end);
        self.totals.samples += frames as u64;
        self.totals.duration += end.t - t;

        let _ = self.meter.add_frames_f32(samples);
        let mut block_tp = 0f64;
        for c in 0..ch {
            block_tp = block_tp.max(self.meter.prev_true_peak(c as u32).unwrap_or(0.0));
        }
        self.int_tp = self.int_tp.max(block_tp);
        self.overall_tp = self.overall_tp.max(block_tp);

        self.scan(samples, &place, &base, p, ev);
        self.true_peak(block_tp, &base, &end, p, ev);
        self.hold_ends(&base, p, ev);
        self.judge_loudness(&end, p, ev);
        self.updates(&end, p, ev);
        self.reading(&end, p)
    }

    fn restart_runs(&mut self) {
        if self.silence.is_none() {
            self.silent_since = None;
        }
        for c in 0..self.channels {
            if self.ch_loss[c].is_none() {
                self.ch_silent_since[c] = None;
            }
            self.clip_run[c] = 0;
        }
        self.loud_out_since = None;
        self.corr_acc = [0.0; 4];
        self.corr_start = None;
        self.st_n = 0;
        self.next_loudness = None;
    }

    /// The per-sample decisions: silence, channel loss, clipping, DC and correlation.
    /// `base` is the block's first sample, at `place`.
    fn scan(&mut self, samples: &[f32], place: &Place, base: &At, p: &Params, ev: &mut Events) {
        let ch = self.channels;
        let th = p.silence_threshold;
        let clip = p.clip_level;
        let pair = self.pair;
        let mut peak = 0f32;
        self.corr_start.get_or_insert(*base);
        for (i, frame) in samples.chunks_exact(ch).enumerate() {
            let mut all_silent = true;
            // Channels with sound in this frame, and those of them whose silent run it ends.
            let (mut loud, mut ended) = (0u32, 0u32);
            for (c, &x) in frame.iter().enumerate() {
                let a = x.abs();
                peak = peak.max(a);
                self.dc_sum[c] += x as f64;
                let silent = a < th;
                all_silent &= silent;
                if silent {
                    if self.ch_silent_since[c].is_none() {
                        self.ch_silent_since[c] = Some(self.at(place, i));
                        self.ch_peak[c] = 0.0;
                    }
                    self.ch_peak[c] = self.ch_peak[c].max(a);
                } else {
                    loud |= 1 << c;
                    if self.ch_silent_since[c].is_some() {
                        ended |= 1 << c;
                    }
                }
                if a >= clip && clip > 0.0 {
                    self.clip_run[c] += 1;
                    let run = self.clip_run[c];
                    if run == 1 {
                        self.clip_run_start[c] = Some(self.at(place, i));
                    }
                    if run >= p.clip_min_run {
                        self.clip_peak = self.clip_peak.max(a);
                        self.clip_mask |= 1 << c;
                        if run == p.clip_min_run {
                            self.clips += 1;
                            self.clipped += run as u64;
                            self.totals.clipped_samples += run as u64;
                            if self.clipping.is_none() {
                                let at = self.clip_run_start[c].unwrap_or(*base);
                                let o = self.open(&at);
                                self.clipping = Some(o);
                                self.totals.clippings += 1;
                                ev.push(self.start_event(Defect::Clipping, o, &at, p));
                            }
                        } else {
                            self.clipped += 1;
                            self.totals.clipped_samples += 1;
                        }
                        self.clip_last_end = Some(self.at(place, i + 1));
                    }
                } else {
                    self.clip_run[c] = 0;
                }
            }
            if loud != 0 {
                let at = self.at(place, i);
                if ended != 0 {
                    self.end_losses(ended, &at, p, ev);
                }
                for (c, last) in self.ch_last_sound[..ch].iter_mut().enumerate() {
                    if loud & (1 << c) != 0 {
                        *last = Some(at.t);
                    }
                }
            }
            if all_silent {
                if self.silent_since.is_none() {
                    self.silent_since = Some(self.at(place, i));
                    self.silence_peak = 0.0;
                }
                for &x in frame {
                    self.silence_peak = self.silence_peak.max(x.abs());
                }
            } else if self.silent_since.is_some() {
                let at = self.at(place, i);
                self.confirm_silence(&at, p, ev);
                self.silent_since = None;
                if let Some(o) = self.silence.take() {
                    let evidence = self.silence_evidence(p);
                    ev.push(self.end_event(
                        Defect::Silence,
                        o,
                        &at,
                        EndReason::Recovered,
                        evidence,
                    ));
                }
            }
            if let Some((l, r)) = pair {
                let (l, r) = (frame[l] as f64, frame[r] as f64);
                self.corr_acc[0] += l * r;
                self.corr_acc[1] += l * l;
                self.corr_acc[2] += r * r;
                self.corr_acc[3] += 1.0;
            }
        }
        self.int_peak = self.int_peak.max(peak);
        self.dc_n += (samples.len() / ch) as u64;
        let end = self.at(place, samples.len() / ch);
        self.confirm_silences(&end, p, ev);
        self.correlation_block(&end, p, ev);
    }

    /// Runs of silence that now last long enough become defects: checked at the end of every
    /// block (a block is at most tens of ms, and the start is the run's first frame whatever the
    /// block), and where a run ends inside a block.
    fn confirm_silences(&mut self, end: &At, p: &Params, ev: &mut Events) {
        self.confirm_silence(end, p, ev);
        for c in 0..self.channels {
            self.confirm_loss(c, end, p, ev);
        }
    }

    /// The silent runs of the channels in `ended` end at `at`, where sound came back: a run
    /// may have lasted long enough since the last block's check. Called before `at`'s sound is
    /// recorded, so that a channel's sound at `at` does not count as sound over another's run.
    fn end_losses(&mut self, ended: u32, at: &At, p: &Params, ev: &mut Events) {
        for c in 0..self.channels {
            if ended & (1 << c) == 0 {
                continue;
            }
            self.confirm_loss(c, at, p, ev);
            self.ch_silent_since[c] = None;
            if let Some(o) = self.ch_loss[c].take() {
                let evidence = self.loss_evidence(c, p);
                ev.push(self.end_event(Defect::ChannelLoss, o, at, EndReason::Recovered, evidence));
            }
        }
    }

    /// The programme's silent run, if it has lasted `silence_duration` by `end`.
    fn confirm_silence(&mut self, end: &At, p: &Params, ev: &mut Events) {
        if self.silence.is_none()
            && let Some(s) = self.silent_since
            && end.t.saturating_sub(s.t) >= p.silence_duration
        {
            let o = self.open(&s);
            self.silence = Some(o);
            self.totals.silences += 1;
            ev.push(self.start_event(Defect::Silence, o, end, p));
        }
    }

    /// Channel `c`'s silent run, if it has lasted `silence_duration` by `end` while another
    /// channel carried sound.
    fn confirm_loss(&mut self, c: usize, end: &At, p: &Params, ev: &mut Events) {
        if self.channels < 2 || self.ignored & (1 << c) != 0 || self.ch_loss[c].is_some() {
            return;
        }
        let Some(s) = self.ch_silent_since[c] else {
            return;
        };
        if end.t.saturating_sub(s.t) < p.silence_duration {
            return;
        }
        // Another channel carried sound over this channel's silence.
        let others = (0..self.channels)
            .filter(|&o| o != c && self.ignored & (1 << o) == 0)
            .any(|o| self.ch_last_sound[o].is_some_and(|l| l >= s.t));
        if !others {
            return;
        }
        let o = self.open(&s);
        self.ch_loss[c] = Some(o);
        self.totals.channel_losses += 1;
        let mut e = self.start_event(Defect::ChannelLoss, o, end, p);
        e.evidence = self.loss_evidence(c, p);
        ev.push(e);
    }

    fn loss_evidence(&self, c: usize, p: &Params) -> Evidence {
        Evidence::ChannelLoss {
            channel: c as u32,
            max_level_db: db(self.ch_peak[c] as f64),
            threshold_db: db(p.silence_threshold as f64),
        }
    }

    fn silence_evidence(&self, p: &Params) -> Evidence {
        Evidence::Silence {
            max_level_db: db(self.silence_peak as f64),
            threshold_db: db(p.silence_threshold as f64),
        }
    }

    fn start_event(&self, d: Defect, o: Open, at: &At, p: &Params) -> Event {
        Event {
            defect: d,
            phase: Phase::Start,
            id: o.id,
            start: o.start,
            start_t: o.start_t,
            detected: Some(at.times.running_time.unwrap_or(at.t)),
            duration: None,
            end: None,
            reason: None,
            evidence: self.evidence(d, p),
        }
    }

    fn end_event(
        &self,
        d: Defect,
        o: Open,
        at: &At,
        reason: EndReason,
        evidence: Evidence,
    ) -> Event {
        let (end, end_t) = if at.t < o.start_t {
            (o.start, o.start_t)
        } else {
            (at.times, at.t)
        };
        Event {
            defect: d,
            phase: Phase::End,
            id: o.id,
            start: o.start,
            start_t: o.start_t,
            detected: Some(at.times.running_time.unwrap_or(at.t)),
            duration: Some(end_t - o.start_t),
            end: Some(end),
            reason: Some(reason),
            evidence,
        }
    }

    /// The evidence of a defect as it stands (channel loss is filled in by the caller).
    fn evidence(&self, d: Defect, p: &Params) -> Evidence {
        let t = p.target.unwrap_or(Target {
            loudness: 0.0,
            tolerance: 0.0,
            max_true_peak: 0.0,
        });
        match d {
            Defect::Silence | Defect::ChannelLoss => self.silence_evidence(p),
            Defect::Clipping => Evidence::Clipping {
                clips: self.clips,
                clipped_samples: self.clipped,
                channel_mask: self.clip_mask,
                peak_db: db(self.clip_peak as f64),
            },
            Defect::TruePeak => Evidence::TruePeak {
                max_true_peak_db: db(self.tp_max),
                limit_db: t.max_true_peak,
                overs: self.tp_overs,
            },
            Defect::Loudness => Evidence::Loudness {
                loudness: if self.loud_max > t.loudness + t.tolerance {
                    self.loud_max
                } else {
                    self.loud_min
                },
                target: t.loudness,
                tolerance: t.tolerance,
                min: self.loud_min,
                max: self.loud_max,
            },
            Defect::Phase => Evidence::Correlation {
                correlation: self.phase_extreme,
                threshold: -p.phase_threshold,
            },
            Defect::Mono => Evidence::Correlation {
                correlation: self.mono_extreme,
                threshold: p.mono_threshold,
            },
        }
    }

    fn true_peak(&mut self, block_tp: f64, base: &At, end: &At, p: &Params, ev: &mut Events) {
        let Some(target) = p.target else {
            return;
        };
        if db(block_tp) <= target.max_true_peak {
            return;
        }
        self.tp_max = self.tp_max.max(block_tp);
        self.tp_overs += 1;
        self.tp_last_end = Some(*end);
        if self.tp.is_none() {
            let o = self.open(base);
            self.tp = Some(o);
            self.totals.true_peaks += 1;
            ev.push(self.start_event(Defect::TruePeak, o, base, p));
        }
    }

    /// Clipping and true-peak defects end `hold` after their last incident.
    fn hold_ends(&mut self, now: &At, p: &Params, ev: &mut Events) {
        if let (Some(_), Some(last)) = (self.clipping, self.clip_last_end)
            && now.t.saturating_sub(last.t) >= p.hold
        {
            self.end_clipping(&last, EndReason::Recovered, p, ev);
        }
        if let (Some(_), Some(last)) = (self.tp, self.tp_last_end)
            && now.t.saturating_sub(last.t) >= p.hold
        {
            self.end_true_peak(&last, EndReason::Recovered, p, ev);
        }
    }

    fn end_clipping(&mut self, at: &At, reason: EndReason, p: &Params, ev: &mut Events) {
        if let Some(o) = self.clipping.take() {
            let evidence = self.evidence(Defect::Clipping, p);
            ev.push(self.end_event(Defect::Clipping, o, at, reason, evidence));
        }
        self.clips = 0;
        self.clipped = 0;
        self.clip_mask = 0;
        self.clip_peak = 0.0;
        self.clip_last_end = None;
    }

    fn end_true_peak(&mut self, at: &At, reason: EndReason, p: &Params, ev: &mut Events) {
        if let Some(o) = self.tp.take() {
            let evidence = self.evidence(Defect::TruePeak, p);
            ev.push(self.end_event(Defect::TruePeak, o, at, reason, evidence));
        }
        self.tp_max = f64::NEG_INFINITY;
        self.tp_overs = 0;
        self.tp_last_end = None;
    }

    /// Short-term loudness against the target window, every `LOUDNESS_STEP`.
    fn judge_loudness(&mut self, now: &At, p: &Params, ev: &mut Events) {
        let Some(target) = p.target else {
            return;
        };
        let due = *self.next_loudness.get_or_insert(now.t);
        if !self.reached(now.t, due) {
            return;
        }
        self.next_loudness = Some(due + LOUDNESS_STEP);
        // Short-term loudness (3 s) from the energies of the last 30 steps of 100 ms: the same
        // figure as the meter's, at a tenth of the cost of summing 3 s every 100 ms.
        let block = self
            .meter
            .loudness_window((LOUDNESS_STEP / 1_000_000) as u32)
            .unwrap_or(f64::NEG_INFINITY);
        let i = self.st_n % ST_BLOCKS;
        self.st_energy[i] = if block.is_finite() {
            10f64.powf((block + 0.691) / 10.0)
        } else {
            0.0
        };
        self.st_n += 1;
        // The short-term window is 3 s: judge only once it is full.
        if self.st_n < ST_BLOCKS {
            return;
        }
        let mean = self.st_energy.iter().sum::<f64>() / ST_BLOCKS as f64;
        let st = if mean > 0.0 {
            -0.691 + 10.0 * mean.log10()
        } else {
            f64::NEG_INFINITY
        };
        // The unit tests check the figure against the meter's own short-term loudness.
        #[cfg(test)]
        if let Ok(m) = self.meter.loudness_shortterm()
            && m.is_finite()
        {
            assert!((m - st).abs() < 1e-6, "short-term {st} vs the meter's {m}");
        }
        let out = st > ABSOLUTE_GATE && (st - target.loudness).abs() > target.tolerance;
        if out {
            let since = *self.loud_out_since.get_or_insert(*now);
            if self.loudness.is_none() {
                self.loud_min = self.loud_min.min(st);
                self.loud_max = self.loud_max.max(st);
            }
            if self.loudness.is_none() && now.t - since.t >= p.loudness_min_duration {
                let o = self.open(&since);
                self.loudness = Some(o);
                self.totals.loudness += 1;
                ev.push(self.start_event(Defect::Loudness, o, now, p));
            } else if self.loudness.is_some() {
                self.loud_min = self.loud_min.min(st);
                self.loud_max = self.loud_max.max(st);
            }
        } else {
            self.loud_out_since = None;
            if let Some(o) = self.loudness.take() {
                let evidence = self.evidence(Defect::Loudness, p);
                ev.push(self.end_event(Defect::Loudness, o, now, EndReason::Recovered, evidence));
            }
            self.loud_min = f64::INFINITY;
            self.loud_max = f64::NEG_INFINITY;
        }
    }

    /// Closes a correlation block every 100 ms and judges the 3 s window.
    fn correlation_block(&mut self, end: &At, p: &Params, ev: &mut Events) {
        if self.pair.is_none() {
            return;
        }
        // Blocks are on a 100 ms grid from the first sample.
        let first = self.first.map_or(end.t, |f| f.t);
        let block_end = *self.corr_block_end.get_or_insert(first + CORR_BLOCK);
        if !self.reached(end.t, block_end) {
            return;
        }
        self.corr_block_end =
            Some(block_end + CORR_BLOCK * (1 + end.t.saturating_sub(block_end) / CORR_BLOCK));
        let i = self.corr_blocks % CORR_BLOCKS;
        self.corr_ring[i] = self.corr_acc;
        self.corr_block[i] = correlation(&self.corr_acc, p.silence_threshold).unwrap_or(0.0);
        self.corr_at[i] = self.corr_start.take();
        self.corr_acc = [0.0; 4];
        self.corr_blocks += 1;
        if self.corr_blocks < CORR_BLOCKS {
            return;
        }
        let sum = self.corr_sum();
        let r = correlation(&sum, p.silence_threshold);
        let inverted = r.is_some_and(|r| r <= -p.phase_threshold);
        let mono = p.expect_stereo && r.is_some_and(|r| r >= p.mono_threshold);
        let r = r.unwrap_or(0.0);
        // A transition is placed at the first block of the trailing run that agrees with it.
        let trailing = |want: &dyn Fn(f64) -> bool, blocks: &[f64; CORR_BLOCKS], n: usize| {
            let mut k = 0;
            while k + 1 < CORR_BLOCKS && want(blocks[(n + CORR_BLOCKS - 2 - k) % CORR_BLOCKS]) {
                k += 1;
            }
            (n + CORR_BLOCKS - 1 - k) % CORR_BLOCKS
        };
        let n = self.corr_blocks;
        let th = p.phase_threshold;
        let mth = p.mono_threshold;
        for (which, on) in [(Defect::Phase, inverted), (Defect::Mono, mono)] {
            let slot = if which == Defect::Phase {
                self.phase
            } else {
                self.mono
            };
            match (slot, on) {
                (None, true) => {
                    let k = if which == Defect::Phase {
                        trailing(&|c| c <= -th, &self.corr_block, n)
                    } else {
                        trailing(&|c| c >= mth, &self.corr_block, n)
                    };
                    let at = self.corr_at[k].unwrap_or(*end);
                    let o = self.open(&at);
                    if which == Defect::Phase {
                        self.phase = Some(o);
                        self.phase_extreme = r;
                        self.totals.phase += 1;
                    } else {
                        self.mono = Some(o);
                        self.mono_extreme = r;
                        self.totals.mono += 1;
                    }
                    ev.push(self.start_event(which, o, end, p));
                }
                (Some(o), false) => {
                    let k = if which == Defect::Phase {
                        trailing(&|c| c > -th, &self.corr_block, n)
                    } else {
                        trailing(&|c| c < mth, &self.corr_block, n)
                    };
                    let at = self.corr_at[k].unwrap_or(*end);
                    let evidence = self.evidence(which, p);
                    ev.push(self.end_event(which, o, &at, EndReason::Recovered, evidence));
                    if which == Defect::Phase {
                        self.phase = None;
                    } else {
                        self.mono = None;
                    }
                }
                (Some(_), true) => {
                    if which == Defect::Phase {
                        self.phase_extreme = self.phase_extreme.min(r);
                    } else {
                        self.mono_extreme = self.mono_extreme.max(r);
                    }
                }
                (None, false) => (),
            }
        }
    }

    /// Heartbeats of open interval defects.
    fn updates(&mut self, now: &At, p: &Params, ev: &mut Events) {
        if p.update_interval == 0 {
            return;
        }
        let mut slots: [(Defect, Option<&mut Open>, u32); 6] = [
            (Defect::Silence, self.silence.as_mut(), 0),
            (Defect::Clipping, self.clipping.as_mut(), 0),
            (Defect::TruePeak, self.tp.as_mut(), 0),
            (Defect::Loudness, self.loudness.as_mut(), 0),
            (Defect::Phase, self.phase.as_mut(), 0),
            (Defect::Mono, self.mono.as_mut(), 0),
        ];
        let mut due: [Option<(Defect, Open, u32)>; 6 + MAX_CHANNELS] = [None; 6 + MAX_CHANNELS];
        for (k, (d, slot, c)) in slots.iter_mut().enumerate() {
            if let Some(o) = slot
                && now.t.saturating_sub(o.last_update) >= p.update_interval
            {
                o.last_update += p.update_interval;
                due[k] = Some((*d, **o, *c));
            }
        }
        for c in 0..self.channels {
            if let Some(o) = self.ch_loss[c].as_mut()
                && now.t.saturating_sub(o.last_update) >= p.update_interval
            {
                o.last_update += p.update_interval;
                due[6 + c] = Some((Defect::ChannelLoss, *o, c as u32));
            }
        }
        for (d, o, c) in due.into_iter().flatten() {
            let evidence = if d == Defect::ChannelLoss {
                self.loss_evidence(c as usize, p)
            } else {
                self.evidence(d, p)
            };
            ev.push(Event {
                defect: d,
                phase: Phase::Update,
                id: o.id,
                start: o.start,
                start_t: o.start_t,
                detected: Some(now.times.running_time.unwrap_or(now.t)),
                duration: Some(now.t.saturating_sub(o.start_t)),
                end: None,
                reason: None,
                evidence,
            });
        }
    }

    /// The measurement, when one is due.
    fn reading(&mut self, now: &At, p: &Params) -> Option<Reading> {
        if p.measurement_interval == 0 {
            return None;
        }
        let first = self.first.map_or(now.t, |f| f.t);
        let due = *self
            .next_reading
            .get_or_insert(first + p.measurement_interval);
        if !self.reached(now.t, due) {
            return None;
        }
        // On schedule, unless the stream jumped past more than one interval.
        let next = due + p.measurement_interval;
        self.next_reading = Some(if next > now.t {
            next
        } else {
            now.t + p.measurement_interval
        });
        Some(self.take_reading(now, p))
    }

    fn take_reading(&mut self, now: &At, p: &Params) -> Reading {
        let n = self.dc_n.max(1) as f64;
        let (mut dc, mut dc_channel) = (0f64, 0u32);
        for c in 0..self.channels {
            let m = self.dc_sum[c] / n;
            if m.abs() > dc.abs() {
                dc = m;
                dc_channel = c as u32;
            }
        }
        let correlation = self.window_correlation(p);
        let r = Reading {
            at: now.times,
            t: now.t,
            momentary: self.meter.loudness_momentary().unwrap_or(f64::NEG_INFINITY),
            short_term: self.meter.loudness_shortterm().unwrap_or(f64::NEG_INFINITY),
            integrated: self.meter.loudness_global().unwrap_or(f64::NEG_INFINITY),
            lra: self.meter.loudness_range().unwrap_or(0.0),
            true_peak_db: db(self.int_tp),
            sample_peak_db: db(self.int_peak as f64),
            dc_offset: dc,
            dc_channel,
            correlation,
        };
        self.int_tp = 0.0;
        self.int_peak = 0.0;
        self.dc_sum = [0.0; MAX_CHANNELS];
        self.dc_n = 0;
        r
    }

    fn corr_sum(&self) -> [f64; 4] {
        let mut sum = [0f64; 4];
        for b in &self.corr_ring {
            for (s, v) in sum.iter_mut().zip(b) {
                *s += v;
            }
        }
        sum
    }

    fn window_correlation(&self, p: &Params) -> Option<f64> {
        if self.pair.is_none() || self.corr_blocks < CORR_BLOCKS {
            return None;
        }
        let sum = self.corr_sum();
        correlation(&sum, p.silence_threshold)
    }

    /// The loudness verdict over everything measured so far.
    pub fn verdict(&self, p: &Params, at: Times) -> Verdict {
        let integrated = self.meter.loudness_global().unwrap_or(f64::NEG_INFINITY);
        let lra = self.meter.loudness_range().unwrap_or(0.0);
        let max_true_peak_db = db(self.overall_tp);
        let verdict = match p.target {
            _ if !integrated.is_finite() => "not-measured",
            None => "not-judged",
            Some(t)
                if (integrated - t.loudness).abs() <= t.tolerance
                    && max_true_peak_db <= t.max_true_peak =>
            {
                "pass"
            }
            Some(_) => "fail",
        };
        Verdict {
            at,
            integrated,
            lra,
            max_true_peak_db,
            verdict,
            target: p.target,
        }
    }

    /// Closes every open defect at the end of the data (EOS, flush, caps change, stop, a
    /// timestamp going back); at EOS, a failed integrated verdict is a point `loudness` defect.
    pub fn close(&mut self, reason: EndReason, p: &Params, ev: &mut Events) -> Closed {
        let Some(end) = self.next else {
            return Closed::default();
        };
        let first = self.first;
        self.close_at(&end, reason, p, ev);
        let reading = (self.dc_n > 0).then(|| self.take_reading(&end, p));
        let mut verdict = None;
        if reason == EndReason::Eos
            && let Some(first) = first
        {
            let v = self.verdict(p, end.times);
            verdict = Some(v);
            if let Some(t) = p.target
                && v.verdict == "fail"
            {
                let o = self.open(&first);
                self.totals.loudness += 1;
                ev.push(Event {
                    defect: Defect::Loudness,
                    phase: Phase::Point,
                    id: o.id,
                    start: first.times,
                    start_t: first.t,
                    detected: Some(end.times.running_time.unwrap_or(end.t)),
                    duration: None,
                    end: None,
                    reason: None,
                    evidence: Evidence::Integrated {
                        loudness: v.integrated,
                        target: t.loudness,
                        tolerance: t.tolerance,
                        lra: v.lra,
                        max_true_peak_db: v.max_true_peak_db,
                    },
                });
            }
        }
        Closed { reading, verdict }
    }

    fn close_at(&mut self, end: &At, reason: EndReason, p: &Params, ev: &mut Events) {
        if let Some(o) = self.silence.take() {
            let evidence = self.silence_evidence(p);
            ev.push(self.end_event(Defect::Silence, o, end, reason, evidence));
        }
        for c in 0..self.channels {
            if let Some(o) = self.ch_loss[c].take() {
                let evidence = self.loss_evidence(c, p);
                ev.push(self.end_event(Defect::ChannelLoss, o, end, reason, evidence));
            }
        }
        let clip_end = self.clip_last_end.unwrap_or(*end);
        self.end_clipping(&clip_end, reason, p, ev);
        let tp_end = self.tp_last_end.unwrap_or(*end);
        self.end_true_peak(&tp_end, reason, p, ev);
        for d in [Defect::Loudness, Defect::Phase, Defect::Mono] {
            let slot = match d {
                Defect::Loudness => self.loudness.take(),
                Defect::Phase => self.phase.take(),
                _ => self.mono.take(),
            };
            if let Some(o) = slot {
                let evidence = self.evidence(d, p);
                ev.push(self.end_event(d, o, end, reason, evidence));
            }
        }
        self.silent_since = None;
        self.ch_silent_since = [None; MAX_CHANNELS];
        self.ch_last_sound = [None; MAX_CHANNELS];
        self.clip_run = [0; MAX_CHANNELS];
        self.loud_out_since = None;
        self.loud_min = f64::INFINITY;
        self.loud_max = f64::NEG_INFINITY;
        self.st_n = 0;
        self.next_loudness = None;
        self.corr_acc = [0.0; 4];
        self.corr_blocks = 0;
        self.corr_block_end = None;
        self.corr_start = None;
        self.next = None;
        // The schedules start again from the next sample (a seek may go back in time).
        self.next_reading = None;
        self.first = None;
    }
}

/// Pearson correlation of a stereo pair from its sums, when both channels carry sound (mean
/// square above the silence threshold's).
fn correlation(acc: &[f64; 4], silence: f32) -> Option<f64> {
    let [lr, ll, rr, n] = *acc;
    let floor = (silence as f64) * (silence as f64) * n;
    if n == 0.0 || ll <= floor || rr <= floor {
        return None;
    }
    Some((lr / (ll * rr).sqrt()).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    const RATE: u32 = 48_000;
    const MS: u64 = 1_000_000;

    fn detector(channels: usize) -> Detector {
        let pair = (channels == 2).then_some((0, 1));
        Detector::new(channels, RATE, 0, pair, None, Arc::new(AtomicU64::new(1))).unwrap()
    }

    /// Feeds `seconds` of `f(channel, sample index)` in 10 ms blocks from timeline 0; returns
    /// every event and reading, then closes at EOS.
    fn run(
        d: &mut Detector,
        p: &Params,
        seconds: f64,
        f: impl Fn(usize, u64) -> f32,
    ) -> (Vec<Event>, Vec<Reading>) {
        let ch = d.channels();
        let total = (seconds * RATE as f64) as u64;
        let block = (RATE / 100) as u64;
        let mut buf = vec![0f32; block as usize * ch];
        let (mut events, mut readings) = (Vec::new(), Vec::new());
        let mut n = 0;
        while n < total {
            let len = block.min(total - n);
            for i in 0..len {
                for c in 0..ch {
                    buf[i as usize * ch + c] = f(c, n + i);
                }
            }
            let origin = Times {
                pts: Some(0),
                running_time: Some(0),
                stream_time: Some(0),
            };
            let mut ev = Events::default();
            if let Some(r) = d.push(&buf[..len as usize * ch], (origin, 0), n, p, &mut ev) {
                readings.push(r);
            }
            events.extend(ev.iter().copied());
            n += len;
        }
        let mut ev = Events::default();
        readings.extend(d.close(EndReason::Eos, p, &mut ev).reading);
        events.extend(ev.iter().copied());
        (events, readings)
    }

    fn sine(n: u64, freq: f64, amp: f64) -> f32 {
        (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / RATE as f64).sin()) as f32
    }

    /// (defect, start ns, end ns) of every ended interval defect.
    fn spans(events: &[Event]) -> Vec<(Defect, u64, u64, Option<EndReason>)> {
        events
            .iter()
            .filter(|e| e.phase == Phase::End)
            .map(|e| {
                (
                    e.defect,
                    e.start_t,
                    e.start_t + e.duration.unwrap(),
                    e.reason,
                )
            })
            .collect()
    }

    /// Sample `n`'s time, rounded down as GStreamer timestamps buffers.
    fn sample_ns(n: u64) -> u64 {
        n * 1_000_000_000 / RATE as u64
    }

    #[test]
    fn sample_times_do_not_overflow_on_a_long_stream() {
        // Just below and past 2^64 / 10^9 samples (4.4 days at 48 kHz): the same clock.
        let edge = u64::MAX / 1_000_000_000;
        for k in [edge - 48_000, edge, edge + 1, edge + 48_000] {
            assert_eq!(
                sample_time(k, 48_000),
                (u128::from(k) * 62_500 / 3) as u64,
                "{k}"
            );
        }
        // A year at 192 kHz from one origin: 6.1e12 samples.
        let k = 365 * 86_400 * 192_000u64;
        assert_eq!(sample_time(k, 192_000), 365 * 86_400 * 1_000_000_000);
        assert_eq!(
            sample_time(k + 1, 192_000),
            365 * 86_400 * 1_000_000_000 + 5_208
        );
    }

    #[test]
    fn silence_runs_from_first_to_first_loud_frame() {
        let mut d = detector(1);
        let p = DEFAULT_PARAMS;
        // Tone, silence from sample 48_123 to 168_000 (2.497 s), tone again; then 1.9 s of
        // silence: too short.
        let (a, b) = (48_123u64, 168_000u64);
        let (c, e) = (240_000u64, 240_000 + 91_200);
        let (ev, _) = run(&mut d, &p, 8.0, |_, n| {
            if (a..b).contains(&n) || (c..e).contains(&n) {
                0.0005
            } else {
                sine(n, 1000.0, 0.5)
                    + if sine(n, 1000.0, 0.5).abs() < 0.001 {
                        0.01
                    } else {
                        0.0
                    }
            }
        });
        let s = spans(&ev);
        assert_eq!(
            s,
            vec![(
                Defect::Silence,
                sample_ns(a),
                sample_ns(b),
                Some(EndReason::Recovered)
            )],
            "{ev:#?}"
        );
        let start = ev.iter().find(|e| e.phase == Phase::Start).unwrap();
        // Confirmed once it had lasted 2 s, within a block.
        let det = start.detected.unwrap();
        assert!(det >= sample_ns(a) + 2_000 * MS && det <= sample_ns(a) + 2_010 * MS);
    }

    #[test]
    fn channel_loss_needs_another_channel_with_sound() {
        let mut d = detector(2);
        let p = DEFAULT_PARAMS;
        // Right channel drops out at 1 s for 3 s; then both are silent 5..8 s (silence, and no
        // new channel loss).
        let (ev, _) = run(&mut d, &p, 9.0, |c, n| {
            let t = n as f64 / RATE as f64;
            if (5.0..8.0).contains(&t) || (c == 1 && (1.0..4.0).contains(&t)) {
                0.0
            } else {
                0.3 + sine(n, 200.0, 0.1)
            }
        });
        let s = spans(&ev);
        assert_eq!(
            s,
            vec![
                (
                    Defect::ChannelLoss,
                    1_000 * MS,
                    4_000 * MS,
                    Some(EndReason::Recovered)
                ),
                (
                    Defect::Silence,
                    5_000 * MS,
                    8_000 * MS,
                    Some(EndReason::Recovered)
                ),
            ],
            "{ev:#?}"
        );
        let loss = ev.iter().find(|e| e.defect == Defect::ChannelLoss).unwrap();
        assert!(matches!(
            loss.evidence,
            Evidence::ChannelLoss { channel: 1, .. }
        ));
    }

    #[test]
    fn runs_that_end_inside_a_block_count_from_the_sample() {
        // Silences of 2 s and 3 samples that start and end inside 10 ms blocks: no block end
        // sees them last 2 s, the sample that ends them does (as silencedetect counts). Then the
        // same run in the right channel alone, and in the left alone: channel losses. Runs 3
        // samples shorter than 2 s: nothing.
        let (a, len) = (48_100u64, 96_003u64);
        let (right, left) = (288_050u64, 480_130u64);
        for (short, want) in [(0, true), (6, false)] {
            let mut d = detector(2);
            let p = DEFAULT_PARAMS;
            let (ev, _) = run(&mut d, &p, 14.0, |ch, n| {
                let len = len - short;
                let quiet = (a..a + len).contains(&n)
                    || (ch == 1 && (right..right + len).contains(&n))
                    || (ch == 0 && (left..left + len).contains(&n));
                if quiet {
                    0.0005
                } else {
                    0.3 + sine(n, 200.0, 0.1)
                }
            });
            let expect: Vec<_> = if want {
                [
                    (Defect::Silence, a),
                    (Defect::ChannelLoss, right),
                    (Defect::ChannelLoss, left),
                ]
                .map(|(d, s)| {
                    (
                        d,
                        sample_ns(s),
                        sample_ns(s + len),
                        Some(EndReason::Recovered),
                    )
                })
                .into()
            } else {
                vec![]
            };
            assert_eq!(spans(&ev), expect, "{ev:#?}");
        }
    }

    #[test]
    fn a_clip_run_across_blocks_starts_at_its_first_sample() {
        // Full-scale samples 1_438..1_442: the run begins in the third 10 ms block and reaches
        // `clip_min_run` in the fourth.
        let mut d = detector(1);
        let p = DEFAULT_PARAMS;
        let (ev, _) = run(&mut d, &p, 3.0, |_, n| {
            if (1_438..1_442).contains(&n) {
                1.0
            } else {
                sine(n, 200.0, 0.1)
            }
        });
        assert_eq!(
            spans(&ev),
            vec![(
                Defect::Clipping,
                sample_ns(1_438),
                sample_ns(1_442),
                Some(EndReason::Recovered)
            )],
            "{ev:#?}"
        );
    }

    #[test]
    fn clips_close_together_are_one_defect_ending_at_the_last() {
        let mut d = detector(1);
        let p = DEFAULT_PARAMS;
        // Full-scale runs of 5 samples at 1.0 s, 1.5 s and 1.9 s; a run of 2 (too short) at 4 s.
        let run_at = |n: u64, at: u64, len: u64| n >= at && n < at + len;
        let (ev, _) = run(&mut d, &p, 6.0, |_, n| {
            if run_at(n, 48_000, 5) || run_at(n, 72_000, 5) || run_at(n, 91_200, 5) {
                1.0
            } else if run_at(n, 192_000, 2) {
                -1.0
            } else {
                sine(n, 440.0, 0.5)
            }
        });
        assert_eq!(
            spans(&ev),
            vec![(
                Defect::Clipping,
                sample_ns(48_000),
                sample_ns(91_205),
                Some(EndReason::Recovered)
            )],
            "{ev:#?}"
        );
        let end = ev.iter().find(|e| e.phase == Phase::End).unwrap();
        assert_eq!(
            end.evidence,
            Evidence::Clipping {
                clips: 3,
                clipped_samples: 15,
                channel_mask: 1,
                peak_db: 0.0
            }
        );
    }

    #[test]
    fn inverted_polarity_is_placed_to_the_block() {
        let mut d = detector(2);
        let p = DEFAULT_PARAMS;
        let mut noise = 1u32;
        let mut vals = vec![0f32; 20 * RATE as usize];
        for v in vals.iter_mut() {
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *v = ((noise >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.4;
        }
        let (ev, _) = run(&mut d, &p, 20.0, |c, n| {
            let t = n as f64 / RATE as f64;
            let x = vals[n as usize];
            if c == 1 && (6.0..12.0).contains(&t) {
                -x
            } else {
                x
            }
        });
        let s = spans(&ev);
        assert_eq!(s.len(), 1, "{ev:#?}");
        let (defect, start, end, _) = s[0];
        assert_eq!(defect, Defect::Phase);
        assert!(start.abs_diff(6_000 * MS) <= 100 * MS, "start {start}");
        assert!(end.abs_diff(12_000 * MS) <= 100 * MS, "end {end}");
        // Dual mono only when asked for: the in-phase stretches are identical channels.
        let mut d = detector(2);
        let p = Params {
            expect_stereo: true,
            ..DEFAULT_PARAMS
        };
        let (ev, _) = run(&mut d, &p, 8.0, |_, n| vals[n as usize]);
        assert_eq!(spans(&ev)[0].0, Defect::Mono, "{ev:#?}");
    }

    #[test]
    fn short_term_loudness_out_of_window_for_long_enough() {
        let mut d = detector(2);
        let p = Params {
            target: Some(Standard::EbuR128.target()),
            ..DEFAULT_PARAMS
        };
        // 1 kHz at -23 dBFS per channel is -23 LUFS; +6 dB from 10 s to 25 s; a 6 s step of
        // +6 dB from 35 s is too short (out of the window for about 8.5 s: 6 s and the window).
        let amp = |db: f64| 10f64.powf(db / 20.0) * std::f64::consts::SQRT_2;
        let (ev, readings) = run(&mut d, &p, 50.0, |_, n| {
            let t = n as f64 / RATE as f64;
            let g = if (10.0..25.0).contains(&t) || (35.0..41.0).contains(&t) {
                -17.0
            } else {
                -23.0
            };
            sine(n, 997.0, amp(g) / std::f64::consts::SQRT_2)
        });
        let s: Vec<_> = spans(&ev)
            .into_iter()
            .filter(|s| s.0 == Defect::Loudness)
            .collect();
        assert_eq!(s.len(), 1, "{s:?}");
        // Short-term (3 s) leaves the +/-1 LU window a little after the step up, and comes back
        // a little after the step down.
        assert!(s[0].1 > 10_000 * MS && s[0].1 < 11_000 * MS, "{s:?}");
        assert!(s[0].2 > 25_000 * MS && s[0].2 < 28_000 * MS, "{s:?}");
        // The integrated loudness is over target + tolerance: the verdict fails at EOS.
        let point = ev.iter().find(|e| e.phase == Phase::Point).unwrap();
        assert!(matches!(point.evidence, Evidence::Integrated { .. }));
        assert!(readings.len() >= 49);
        let last = readings.last().unwrap();
        assert!(last.integrated > -22.0, "{last:?}");
    }

    #[test]
    fn a_gap_restarts_runs_and_time_going_back_closes() {
        let mut d = detector(1);
        let p = DEFAULT_PARAMS;
        let times = |t: u64| Times {
            pts: Some(t),
            running_time: Some(t),
            stream_time: Some(t),
        };
        let silent = vec![0f32; 480];
        let mut ev = Events::default();
        // 1.5 s of silence, 1 s lost, 1.5 s of silence: no 2 s of observed silence.
        for k in 0..150u64 {
            d.push(&silent, (times(k * 10 * MS), k * 10 * MS), 0, &p, &mut ev);
        }
        for k in 250..400u64 {
            d.push(&silent, (times(k * 10 * MS), k * 10 * MS), 0, &p, &mut ev);
        }
        assert!(ev.is_empty(), "{:?}", ev.iter().collect::<Vec<_>>());
        assert_eq!(d.totals.discontinuities, 1);
        for k in 400..500u64 {
            d.push(&silent, (times(k * 10 * MS), k * 10 * MS), 0, &p, &mut ev);
        }
        let start = ev.iter().next().unwrap();
        assert_eq!((start.defect, start.start_t), (Defect::Silence, 2_500 * MS));
        // Back in time: closed as discont where the stream had got to.
        let mut ev = Events::default();
        d.push(&silent, (times(0), 0), 0, &p, &mut ev);
        let end = ev.iter().next().unwrap();
        assert_eq!(
            (end.phase, end.reason, end.start_t + end.duration.unwrap()),
            (Phase::End, Some(EndReason::Discont), 5_000 * MS)
        );
    }

    #[test]
    fn readings_go_on_after_a_seek_back() {
        let mut d = detector(1);
        let p = DEFAULT_PARAMS;
        let (_, before) = run(&mut d, &p, 5.0, |_, n| sine(n, 440.0, 0.5));
        assert_eq!(before.len(), 5);
        // A flush, then the stream again from 0: readings every second as before.
        let (_, after) = run(&mut d, &p, 3.0, |_, n| sine(n, 440.0, 0.5));
        let at: Vec<u64> = after.iter().map(|r| r.t).collect();
        assert_eq!(at, [1_000 * MS, 2_000 * MS, 3_000 * MS]);
    }

    #[test]
    fn readings_carry_dc_and_peaks() {
        let mut d = detector(2);
        let p = DEFAULT_PARAMS;
        let (_, readings) = run(&mut d, &p, 4.0, |c, n| {
            sine(n, 1000.0, 0.5) + if c == 1 { 0.05 } else { 0.0 }
        });
        assert_eq!(readings.len(), 4);
        let r = readings[1];
        assert_eq!(r.dc_channel, 1);
        assert!((r.dc_offset - 0.05).abs() < 1e-3, "{r:?}");
        assert!((r.sample_peak_db - db(0.55)).abs() < 0.01, "{r:?}");
        assert!(r.true_peak_db >= r.sample_peak_db - 0.01, "{r:?}");
    }
}
