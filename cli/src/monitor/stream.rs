// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! One monitored stream: its own pipeline (`uridecodebin`, then the branches `vqmon analyze`
//! builds: vqfreeze and vqartifact on video, vqaudio on audio, avsyncmon on the first pair) and
//! a thread that watches its bus. A source that errors, ends (unless looped) or delivers nothing
//! for `source-timeout` is a `source-loss` defect; the pipeline is rebuilt with capped
//! exponential backoff until data flows again. Nothing is shared with the other streams but the
//! event sinks: one failing stream never affects the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstvqmon::DefectMessage;

use super::config::Checked;
use super::events::{Endpoint, Sinks};
use super::state::StreamState;
use crate::analyze::{self, Taps};
use crate::input::{self, Media};

/// Timing of the source watch.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub source_timeout: Duration,
    pub max_backoff: Duration,
    /// `max-threads` of the libav decoders (0: their default).
    pub decoder_threads: u32,
}

/// A running stream: stop it by dropping it.
pub struct Stream {
    pub checked: Checked,
    pub state: Arc<Mutex<StreamState>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stream {
    pub fn start(checked: Checked, sinks: Arc<Sinks>, timing: Timing, queue: usize) -> Stream {
        let state = Arc::new(Mutex::new(StreamState::new(
            &checked.config.name,
            &checked.config.labels,
            Instant::now(),
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let own: Vec<Endpoint> = checked
            .config
            .webhook
            .iter()
            .map(|h| {
                Endpoint::start(
                    h.clone(),
                    queue,
                    sinks.counters.clone(),
                    timing.max_backoff.as_secs_f64(),
                )
            })
            .collect();
        let runner = Runner {
            checked: checked.clone(),
            state: state.clone(),
            stop: stop.clone(),
            sinks,
            own,
            timing,
        };
        let thread = std::thread::Builder::new()
            .name(format!("vqmon-{}", checked.config.name))
            .spawn(move || runner.run())
            .expect("a thread starts");
        Stream {
            checked,
            state,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Runner {
    checked: Checked,
    state: Arc<Mutex<StreamState>>,
    stop: Arc<AtomicBool>,
    sinks: Arc<Sinks>,
    own: Vec<Endpoint>,
    timing: Timing,
}

/// How a pipeline's run ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl Runner {
    fn emit(&self, m: &DefectMessage) {
        let line = self.state.lock().unwrap().defect(m, Instant::now());
        self.sinks.emit(&line, &self.own);
    }

    fn lost(&self, why: &str) {
        let m = self.state.lock().unwrap().source_lost(why);
        if let Some(m) = m {
            eprintln!(
                "vqmon monitor: {}: source lost: {why}",
                self.checked.config.name
            );
            self.emit(&m);
        }
    }

    fn back(&self) {
        let m = self.state.lock().unwrap().source_back();
        if let Some(m) = m {
            eprintln!("vqmon monitor: {}: source back", self.checked.config.name);
            self.emit(&m);
        }
    }

    fn run(self) {
        let mut backoff = Duration::from_millis(500);
        let mut first = true;
        while !self.stop.load(Ordering::Acquire) {
            if !first {
                self.state.lock().unwrap().reconnects += 1;
            }
            first = false;
            let healthy_since = Instant::now();
            let ended = match self.build() {
                Ok((pipeline, taps)) => {
                    let e = self.watch(&pipeline, &taps);
                    let _ = pipeline.set_state(gst::State::Null);
                    e
                }
                Err(e) => Ended::Lost(e),
            };
            match ended {
                Ended::Stopped => break,
                Ended::Lost(why) => self.lost(&why),
            }
            // A run that delivered for a while starts the backoff again.
            if healthy_since.elapsed() > self.timing.max_backoff {
                backoff = Duration::from_millis(500);
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
            }
            backoff = (backoff * 2).min(self.timing.max_backoff);
        }
    }

    fn build(&self) -> Result<(gst::Pipeline, Arc<Taps>), String> {
        let settings = &self.checked.settings;
        let pipeline = gst::Pipeline::with_name(&format!("vqmon-{}", self.checked.config.name));
        let src = analyze::element("uridecodebin", None, settings)?;
        src.set_property("uri", &self.checked.uri);
        let threads = self.timing.decoder_threads as i32;
        pipeline.connect_deep_element_added(move |_, _, e| {
            let libav = e.factory().is_some_and(|f| f.name().starts_with("avdec_"));
            if libav && e.find_property("max-threads").is_some() {
                e.set_property("max-threads", threads);
            }
        });
        let avsync = analyze::element("avsyncmon", Some("avsyncmon0".into()), settings)?;
        pipeline
            .add_many([&src, &avsync])
            .map_err(|e| e.to_string())?;
        let taps = Arc::new(Taps {
            realtime: true,
            ..Taps::default()
        });
        taps.frames
            .current
            .lock()
            .unwrap()
            .resize_with(4, || (gst::glib::WeakRef::new(), None));
        let counts = Mutex::new([0usize; 3]);
        let weak = pipeline.downgrade();
        let settings = settings.clone();
        let branch_taps = taps.clone();
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let media = input::media_of(&caps);
            if media == Media::Other {
                return;
            }
            let index = {
                let mut c = counts.lock().unwrap();
                let i = c[media as usize];
                c[media as usize] += 1;
                i
            };
            // The first video and the first audio stream meet in avsyncmon.
            let sync = (index == 0).then_some(&avsync);
            if let Err(e) =
                analyze::link_branch(&pipeline, pad, media, index, sync, &settings, &branch_taps)
            {
                gst::element_error!(
                    pipeline,
                    gst::CoreError::Negotiation,
                    ("cannot analyse {} stream {index}: {e}", media.as_str())
                );
            }
        });
        if pipeline.set_state(gst::State::Playing).is_err() {
            let bus = pipeline.bus().unwrap();
            let why = bus
                .pop_filtered(&[gst::MessageType::Error])
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(e) => Some(input::explain(e)),
                    _ => None,
                })
                .unwrap_or_else(|| "the pipeline cannot start".into());
            let _ = pipeline.set_state(gst::State::Null);
            return Err(why);
        }
        Ok((pipeline, taps))
    }

    /// Watches a playing pipeline until the stream is stopped or its source is lost.
    fn watch(&self, pipeline: &gst::Pipeline, taps: &Taps) -> Ended {
        let bus = pipeline.bus().unwrap();
        let started = gst::glib::monotonic_time();
        let timeout_us = self.timing.source_timeout.as_micros() as i64;
        loop {
            if self.stop.load(Ordering::Acquire) {
                // Close what is open: EOS through the detectors, briefly.
                pipeline.send_event(gst::event::Eos::new());
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline {
                    match bus.timed_pop(gst::ClockTime::from_mseconds(50)) {
                        Some(m) if matches!(m.view(), gst::MessageView::Eos(_)) => break,
                        Some(m) => self.message(&m),
                        None => (),
                    }
                }
                return Ended::Stopped;
            }
            if let Some(m) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
                match m.view() {
                    gst::MessageView::Eos(_) => {
                        if self.checked.config.looped
                            && pipeline
                                .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
                                .is_ok()
                        {
                            continue;
                        }
                        return Ended::Lost("end of stream".into());
                    }
                    gst::MessageView::Error(e) => return Ended::Lost(input::explain(e)),
                    _ => self.message(&m),
                }
            }
            // Data flow: frames, detector time and the last buffer.
            let last = taps.cost.last_buffer_us.load(Ordering::Relaxed);
            let now = gst::glib::monotonic_time();
            {
                let mut s = self.state.lock().unwrap();
                s.frames = taps.cost.frames.load(Ordering::Relaxed);
                s.detector_ns = taps.cost.busy.load(Ordering::Relaxed);
                if last > 0 {
                    s.last_buffer =
                        Some(Instant::now() - Duration::from_micros((now - last).max(0) as u64));
                }
            }
            let quiet_since = if last > 0 { last } else { started };
            // Long silent: rebuild the pipeline (a stalled connection does not always error).
            if now - quiet_since >= (4 * timeout_us).max(10_000_000) {
                return Ended::Lost(format!(
                    "no data for {:.1} s: reconnecting",
                    (now - quiet_since) as f64 / 1e6
                ));
            }
            if now - quiet_since >= timeout_us {
                self.lost(&format!(
                    "no data for {:.1} s",
                    self.timing.source_timeout.as_secs_f64()
                ));
            } else if last > 0 {
                self.back();
            }
        }
    }

    fn message(&self, m: &gst::Message) {
        if let Some(Ok(d)) = DefectMessage::from_message(m) {
            self.emit(&d);
        } else if let Some(Ok(meas)) = gstvqmon::Measurement::from_message(m) {
            let values = gstvqmon::vqreport::report::structure_to_json(&meas.values);
            self.state
                .lock()
                .unwrap()
                .measurement(&meas.measurement, &values);
        }
    }
}
