// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The per-frame path allocates nothing: a counting allocator watches the streaming thread while
//! frames that raise no defect (moving pictures, short holds) pass through vqfreeze, avsyncmon
//! and vqartifact.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // try_with: the thread-locals may be gone while a thread exits.
        let _ = COUNTING.try_with(|c| {
            if c.get() {
                let _ = COUNT.try_with(|n| n.set(n.get() + 1));
            }
        });
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn steady_state_frames_allocate_nothing() {
    const FPS: u64 = 30;
    // Odd size (partial blocks) and a format that needs unpacking take the slower paths too.
    for (caps_format, width, height) in [("I420", 320u32, 240u32), ("I420", 330, 250)] {
        let info = i420_info(width, height, FPS as i32);
        let scene = Scene::new(width as usize, height as usize);
        let mut bufs: Vec<gst::Buffer> = (0..200u64)
            .map(|i| {
                // A 0.5 s freeze every 40 frames: runs, confirmations, ends and the cadence are
                // all decided (posting is off: building a message allocates, and it is rare).
                let content = if i % 40 < 25 { i } else { i - i % 40 + 24 };
                let mut b = scene.buffer(
                    &Shot {
                        content,
                        ..Shot::moving(i)
                    },
                    &info,
                );
                stamp(&mut b, i, FPS);
                b
            })
            .collect();
        let mut h = gst_check::Harness::new("vqfreeze");
        h.element().unwrap().set_property("post-messages", false);
        h.set_src_caps(info.to_caps().unwrap());
        // Warm up: state is built on the first frames.
        for b in bufs.drain(..20) {
            h.push(b).unwrap();
            h.pull().unwrap();
        }
        let mut pushed = Vec::new();
        COUNT.with(|n| n.set(0));
        for b in bufs.drain(..) {
            COUNTING.with(|c| c.set(true));
            let r = h.push(b);
            COUNTING.with(|c| c.set(false));
            r.unwrap();
            pushed.push(h.pull().unwrap());
        }
        let n = COUNT.with(|n| n.get());
        assert_eq!(
            n, 0,
            "{caps_format} {width}x{height}: {n} allocations in 180 frames"
        );
        let stats = h.element().unwrap().property::<gst::Structure>("stats");
        assert_eq!(stats.get::<u64>("frames").unwrap(), 200);
        assert_eq!(stats.get::<u64>("freezes").unwrap(), 5, "{stats}");
    }
}

#[test]
fn avsyncmon_buffers_allocate_nothing() {
    init();
    // Moving textured video and noisy audio without test signals: every tier runs, nothing to post
    // (the first content estimate is due after 5 s).
    let sig = common::avsignal::AvSignal::new(25, 100, |_| 0);
    // The signal's first flash is at frame 75: stop before it.
    let elem = gst::ElementFactory::make("avsyncmon").build().unwrap();
    let mut hv = gst_check::Harness::with_element(&elem, Some("video_sink"), Some("video_src"));
    let mut ha = gst_check::Harness::with_element(&elem, Some("audio_sink"), Some("audio_src"));
    hv.set_src_caps(sig.video_caps());
    ha.set_src_caps(sig.audio_caps());
    hv.play();
    ha.play();
    let mut count = 0u64;
    let mut frames = 0u64;
    for i in 0..74u64 {
        let v = sig.video_buffer(i);
        let a = sig.audio_buffer(i * 1920, 1920);
        let counting = i >= 25;
        COUNT.with(|n| n.set(0));
        COUNTING.with(|c| c.set(counting));
        let rv = hv.push(v);
        let ra = ha.push(a);
        COUNTING.with(|c| c.set(false));
        count += COUNT.with(|n| n.get());
        rv.unwrap();
        ra.unwrap();
        hv.pull().unwrap();
        ha.pull().unwrap();
        frames += counting as u64;
    }
    assert_eq!(
        count, 0,
        "{count} allocations in {frames} video + audio buffers"
    );
    let stats = elem.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("video-frames").unwrap(), 74);
}

#[test]
fn vqartifact_frames_allocate_nothing() {
    // Moving pictures with grid estimation every second (60 frames at 30 fps) and, in 10-bit, the
    // unpacking path: nothing to post, nothing allocated.
    for format in [
        gst_video::VideoFormat::I420,
        gst_video::VideoFormat::I42010le,
    ] {
        init();
        let info = gst_video::VideoInfo::builder(format, 330, 250)
            .fps(gst::Fraction::new(30, 1))
            .build()
            .unwrap();
        let scene = Scene::new(330, 250);
        let i420 = i420_info(330, 250, 30);
        let mut h = gst_check::Harness::new("vqartifact");
        h.set_src_caps(info.to_caps().unwrap());
        let mut count = 0;
        for i in 0..150u64 {
            let src = scene.buffer(&Shot::moving(i), &i420);
            let mut b = if format == gst_video::VideoFormat::I420 {
                src
            } else {
                // Widen the 8-bit luma into 10-bit samples.
                let mut b = gst::Buffer::with_size(info.size()).unwrap();
                {
                    let s = gst_video::VideoFrameRef::from_buffer_ref_readable(src.as_ref(), &i420)
                        .unwrap();
                    let bm = b.get_mut().unwrap();
                    let mut d =
                        gst_video::VideoFrameRef::from_buffer_ref_writable(bm, &info).unwrap();
                    let (ss, ds) = (s.plane_stride()[0] as usize, d.plane_stride()[0] as usize);
                    let sp = s.plane_data(0).unwrap();
                    let dp = d.plane_data_mut(0).unwrap();
                    for y in 0..250 {
                        for x in 0..330 {
                            let v = u16::from(sp[y * ss + x]) << 2;
                            dp[y * ds + 2 * x..y * ds + 2 * x + 2]
                                .copy_from_slice(&v.to_le_bytes());
                        }
                    }
                }
                b
            };
            stamp(&mut b, i, 30);
            let counting = i >= 20;
            COUNT.with(|n| n.set(0));
            COUNTING.with(|c| c.set(counting));
            let r = h.push(b);
            COUNTING.with(|c| c.set(false));
            count += COUNT.with(|n| n.get());
            r.unwrap();
            h.pull().unwrap();
        }
        assert_eq!(count, 0, "{format:?}: {count} allocations in 130 frames");
        let stats = h.element().unwrap().property::<gst::Structure>("stats");
        assert_eq!(stats.get::<u64>("frames").unwrap(), 150);
        assert_eq!(stats.get::<u64>("corruption-events").unwrap(), 0);
    }
}

#[test]
fn vqaudio_buffers_allocate_nothing() {
    init();
    // Stereo S16 interleaved and 5.1 F32 non-interleaved: tone with silences and clipped runs,
    // judged against EBU R128 (every decision path runs; posting is off).
    for (format, channels, layout) in [
        (
            gst_audio::AudioFormat::S16le,
            2u32,
            gst_audio::AudioLayout::Interleaved,
        ),
        (
            gst_audio::AudioFormat::F32le,
            6,
            gst_audio::AudioLayout::NonInterleaved,
        ),
    ] {
        let rate = 48_000u32;
        let info = gst_audio::AudioInfo::builder(format, rate, channels)
            .layout(layout)
            .build()
            .unwrap();
        let per = 1024u64;
        let bpf = info.bpf() as usize;
        let finfo = info.format_info();
        let width = (finfo.width() / 8) as usize;
        let bufs: Vec<gst::Buffer> = (0..600u64)
            .map(|k| {
                let mut data = vec![0u8; per as usize * bpf];
                for i in 0..per {
                    let n = k * per + i;
                    let t = n as f64 / rate as f64;
                    let x = if (t % 5.0) > 2.5 && (t % 5.0) < 4.9 {
                        0.0
                    } else if (t % 1.0) < 0.01 {
                        1.0
                    } else {
                        0.5 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                    };
                    for c in 0..channels as usize {
                        let bytes: Vec<u8> = if format == gst_audio::AudioFormat::S16le {
                            ((x * 32767.0) as i16).to_le_bytes().to_vec()
                        } else {
                            (x as f32).to_le_bytes().to_vec()
                        };
                        let idx = if layout == gst_audio::AudioLayout::Interleaved {
                            (i as usize * channels as usize + c) * width
                        } else {
                            (c * per as usize + i as usize) * width
                        };
                        data[idx..idx + width].copy_from_slice(&bytes);
                    }
                }
                let mut b = gst::Buffer::from_mut_slice(data);
                {
                    let b = b.get_mut().unwrap();
                    b.set_pts(gst::ClockTime::from_nseconds(
                        k * per * 1_000_000_000 / rate as u64,
                    ));
                    if layout == gst_audio::AudioLayout::NonInterleaved {
                        gst_audio::AudioMeta::add(b, &info, per as usize, &[]).unwrap();
                    }
                }
                b
            })
            .collect();
        let mut h = gst_check::Harness::new("vqaudio");
        let elem = h.element().unwrap();
        elem.set_property("post-messages", false);
        elem.set_property("loudness-standard", "ebu-r128");
        h.set_src_caps(info.to_caps().unwrap());
        let mut count = 0;
        for (k, b) in bufs.into_iter().enumerate() {
            let counting = k >= 100;
            COUNT.with(|n| n.set(0));
            COUNTING.with(|c| c.set(counting));
            let r = h.push(b);
            COUNTING.with(|c| c.set(false));
            count += COUNT.with(|n| n.get());
            r.unwrap();
            h.pull().unwrap();
        }
        assert_eq!(
            count, 0,
            "{format:?} {channels} ch: {count} allocations in 500 buffers"
        );
        let stats = elem.property::<gst::Structure>("stats");
        assert_eq!(stats.get::<u64>("samples").unwrap(), 600 * per, "{stats}");
        assert!(stats.get::<u64>("silences").unwrap() >= 2, "{stats}");
        assert!(stats.get::<u64>("clippings").unwrap() >= 2, "{stats}");
    }
}

#[test]
fn vqaudio_posting_allocates_only_for_messages() {
    init();
    // Posting on, measurements off, a steady tone: nothing to post, so nothing allocated (the
    // message path must not run for blocks that decide nothing).
    let rate = 48_000u32;
    let info = gst_audio::AudioInfo::builder(gst_audio::AudioFormat::F32le, rate, 2)
        .build()
        .unwrap();
    let per = 1024u64;
    let bufs: Vec<gst::Buffer> = (0..300u64)
        .map(|k| {
            let mut data = Vec::with_capacity(per as usize * 8);
            for i in 0..per {
                let t = (k * per + i) as f64 / rate as f64;
                let x = (0.3 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32;
                data.extend_from_slice(&x.to_le_bytes());
                data.extend_from_slice(&x.to_le_bytes());
            }
            let mut b = gst::Buffer::from_mut_slice(data);
            b.get_mut().unwrap().set_pts(gst::ClockTime::from_nseconds(
                k * per * 1_000_000_000 / rate as u64,
            ));
            b
        })
        .collect();
    let mut h = gst_check::Harness::new("vqaudio");
    let elem = h.element().unwrap();
    elem.set_property("measurement-interval", 0u64);
    h.set_src_caps(info.to_caps().unwrap());
    let mut count = 0;
    for (k, b) in bufs.into_iter().enumerate() {
        let counting = k >= 50;
        COUNT.with(|n| n.set(0));
        COUNTING.with(|c| c.set(counting));
        let r = h.push(b);
        COUNTING.with(|c| c.set(false));
        count += COUNT.with(|n| n.get());
        r.unwrap();
        h.pull().unwrap();
    }
    assert_eq!(
        count, 0,
        "{count} allocations in 250 buffers with nothing to post"
    );
}
