// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! A/V sync test media: textured moving video with a white flash every `period` frames, and
//! audio with a 1 kHz beep whose first sample lies `offset(k)` after flash `k`.

use super::{Rng, SECOND};

pub struct AvSignal {
    pub width: usize,
    pub height: usize,
    pub fps: u64,
    pub rate: u32,
    pub channels: usize,
    /// Frames between flashes (the first flash is at frame `period`).
    pub period: u64,
    /// Offset of beep `k` after flash `k`, ns (positive: audio late).
    pub offset: Box<dyn Fn(u64) -> i64 + Send + Sync>,
    pub frames: u64,
    /// Real-content style: instead of periodic flashes and tones, an object lands at these frames
    /// (a bright object jumps to a new place in the picture) with a broadband knock in the audio.
    pub impacts: Option<Vec<u64>>,
    /// Audio knocks independent of the picture (uncorrelated content).
    pub uncorrelated: bool,
    /// Peak of a white-noise programme bed under the beeps (fraction of full scale; 0: none,
    /// only +/-20 LSB of hiss).
    pub bed: f64,
}

impl AvSignal {
    pub fn new(fps: u64, frames: u64, offset: impl Fn(u64) -> i64 + Send + Sync + 'static) -> Self {
        AvSignal {
            width: 160,
            height: 120,
            fps,
            rate: 48_000,
            channels: 2,
            period: 3 * fps,
            offset: Box::new(offset),
            frames,
            impacts: None,
            uncorrelated: false,
            bed: 0.0,
        }
    }

    /// Real-content style media: impacts at random frames, 0.3 to 2.3 s apart.
    pub fn impacts(fps: u64, frames: u64, seed: u64, offset_ns: i64) -> Self {
        let mut s = AvSignal::new(fps, frames, move |_| offset_ns);
        let mut rng = Rng::new(seed);
        let mut f = fps / 2;
        let mut ev = Vec::new();
        while f < frames {
            ev.push(f);
            f += fps * 3 / 10 + (rng.unit() * 2.0 * fps as f64) as u64;
        }
        s.impacts = Some(ev);
        s
    }

    /// Audio event starts (samples) and length.
    fn audio_events(&self) -> (Vec<i64>, i64) {
        match &self.impacts {
            None => (
                (0..self.flashes() + 1)
                    .map(|k| self.beep_sample(k))
                    .collect(),
                (self.rate / 10) as i64,
            ),
            Some(ev) => {
                let mut rng = Rng::new(99);
                let starts = ev
                    .iter()
                    .map(|&f| {
                        let f = if self.uncorrelated {
                            (rng.unit() * self.frames as f64) as u64
                        } else {
                            f
                        };
                        let t = (f * SECOND / self.fps) as i128 + (self.offset)(0) as i128;
                        ((t * self.rate as i128) / SECOND as i128) as i64
                    })
                    .collect();
                (starts, (self.rate / 33) as i64)
            }
        }
    }

    pub fn video_caps(&self) -> gst::Caps {
        gst_video::VideoInfo::builder(
            gst_video::VideoFormat::I420,
            self.width as u32,
            self.height as u32,
        )
        .fps(gst::Fraction::new(self.fps as i32, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap()
    }

    pub fn audio_caps(&self) -> gst::Caps {
        gst_audio::AudioInfo::builder(
            gst_audio::AudioFormat::S16le,
            self.rate,
            self.channels as u32,
        )
        .build()
        .unwrap()
        .to_caps()
        .unwrap()
    }

    /// Running time of flash `k` (ns).
    pub fn flash_time(&self, k: u64) -> u64 {
        (k + 1) * self.period * SECOND / self.fps
    }

    pub fn flashes(&self) -> u64 {
        (self.frames - 1) / self.period
    }

    /// First sample of beep `k`.
    pub fn beep_sample(&self, k: u64) -> i64 {
        let t = self.flash_time(k) as i128 + (self.offset)(k) as i128;
        ((t * self.rate as i128 + SECOND as i128 / 2) / SECOND as i128) as i64
    }

    pub fn video_buffer(&self, i: u64) -> gst::Buffer {
        let (w, h) = (self.width, self.height);
        let mut data = vec![128u8; w * h * 3 / 2];
        let lit = self.impacts.is_none() && i >= self.period && i % self.period < 2;
        // Real-content style: at each impact the object jumps to a new place and stays there.
        let patch = self.impacts.as_ref().and_then(|ev| {
            ev.iter().rev().find(|&&f| i >= f).map(|&f| {
                let mut r = Rng::new(f);
                (
                    (r.unit() * (w - 40) as f64) as usize,
                    (r.unit() * (h - 40) as f64) as usize,
                )
            })
        });
        let mut rng = Rng::new(i / 4 + 1);
        for y in 0..h {
            for x in 0..w {
                data[y * w + x] = if lit {
                    // Two different bright frames: a repeated frame would be a stutter.
                    if i.is_multiple_of(self.period) {
                        235
                    } else {
                        205
                    }
                } else {
                    // Dark texture with a bar moving 3 px per frame.
                    let bar = ((x as u64 + 1000 * w as u64 - 3 * i) % w as u64) < 12;
                    let tex = ((x * 7 + y * 13) % 23) as u8;
                    if bar {
                        90
                    } else {
                        30 + tex + (rng.next_u32() % 3) as u8
                    }
                };
                if let Some((px, py)) = patch
                    && x >= px
                    && x < px + 40
                    && y >= py
                    && y < py + 40
                {
                    data[y * w + x] = 200 + ((x + y) % 20) as u8;
                }
            }
        }
        let mut b = gst::Buffer::from_mut_slice(data);
        {
            let b = b.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(i * SECOND / self.fps));
            b.set_duration(gst::ClockTime::from_nseconds(
                (i + 1) * SECOND / self.fps - i * SECOND / self.fps,
            ));
        }
        b
    }

    /// Audio samples `[start, start + n)`, with low noise and the beeps (100 ms, 1 kHz, -12 dBFS).
    pub fn audio_buffer(&self, start: u64, n: u64) -> gst::Buffer {
        let (beeps, len) = self.audio_events();
        let knock = self.impacts.is_some();
        let mut rng = Rng::new(start + 7);
        let mut data = Vec::with_capacity(n as usize * self.channels * 2);
        for s in start..start + n {
            let s = s as i64;
            let mut v = (rng.next_u32() % 41) as f64 - 20.0;
            if self.bed > 0.0 {
                v += (rng.unit() * 2.0 - 1.0) * self.bed * 32767.0;
            }
            if let Some(b) = beeps.iter().find(|&&b| s >= b && s < b + len) {
                let t = (s - b) as f64 / self.rate as f64;
                v += if knock {
                    // Decaying broadband knock.
                    (rng.unit() - 0.5) * 16000.0 * (-t * 100.0).exp()
                } else {
                    8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()
                };
            }
            for _ in 0..self.channels {
                data.extend_from_slice(&(v as i16).to_le_bytes());
            }
        }
        let mut b = gst::Buffer::from_mut_slice(data);
        {
            let b = b.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(
                start * SECOND / self.rate as u64,
            ));
            b.set_duration(gst::ClockTime::from_nseconds(
                (start + n) * SECOND / self.rate as u64 - start * SECOND / self.rate as u64,
            ));
        }
        b
    }

    /// Total audio samples matching the video duration.
    pub fn samples(&self) -> u64 {
        self.frames * self.rate as u64 / self.fps
    }

    /// Feeds both appsrcs in timestamp order (20 ms audio buffers), then EOS on both.
    pub fn feed(&self, vsrc: &gst_app::AppSrc, asrc: &gst_app::AppSrc) {
        vsrc.set_caps(Some(&self.video_caps()));
        asrc.set_caps(Some(&self.audio_caps()));
        let chunk = self.rate as u64 / 50;
        let (mut i, mut s) = (0u64, 0u64);
        let total = self.samples();
        while i < self.frames || s < total {
            let vt = i * SECOND / self.fps;
            let at = s * SECOND / self.rate as u64;
            if i < self.frames && (s >= total || vt <= at) {
                vsrc.push_buffer(self.video_buffer(i)).unwrap();
                i += 1;
            } else {
                let n = chunk.min(total - s);
                asrc.push_buffer(self.audio_buffer(s, n)).unwrap();
                s += n;
            }
        }
        vsrc.end_of_stream().unwrap();
        asrc.end_of_stream().unwrap();
    }
}
