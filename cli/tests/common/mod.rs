// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! What the vqmon program's tests share: GStreamer with the vqmon elements, a directory, and
//! the MP4 files they analyse.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use gst::prelude::*;

pub const FPS: u64 = 25;

pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        gst::init().unwrap();
        gstvqmon::plugin_register_static().unwrap();
    });
}

/// A directory of the tests' own under cargo's temporary directory.
pub fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes an MP4 of `seconds` s: a moving zone plate with `schedule` injected (None: no video), and a
/// tone (when `audio`).
pub fn make(path: &Path, seconds: u64, video: Option<&str>, audio: bool) -> PathBuf {
    init();
    let path = path.to_path_buf();
    let mut desc = format!(
        "mp4mux name=mux ! filesink location=\"{}\" ",
        path.display()
    );
    if let Some(schedule) = video {
        desc += &format!(
            "videotestsrc pattern=zone-plate kt=2 kx2=20 ky2=20 num-buffers={} ! \
             video/x-raw,width=320,height=240,framerate={FPS}/1 ! vqinject schedule=\"{schedule}\" ! \
             videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast key-int-max=25 ! \
             h264parse ! queue ! mux. ",
            seconds * FPS
        );
    }
    if audio {
        desc += &format!(
            "audiotestsrc wave=sine volume=0.3 samplesperbuffer=1920 num-buffers={} ! \
             audio/x-raw,rate=48000,channels=2 ! audioconvert ! avenc_aac ! aacparse ! queue ! mux. ",
            seconds * 25
        );
    }
    run_to_eos(&desc);
    path
}

/// Runs a pipeline that writes a file to its EOS; an error or 120 s without EOS fails the test.
pub fn run_to_eos(desc: &str) {
    let p = gst::parse::launch(desc).unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the file is written");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    p.set_state(gst::State::Null).unwrap();
}
