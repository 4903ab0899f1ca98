// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! What an input holds: its streams as decoded, those that cannot be decoded, its duration.
//! Found by prerolling the input once (uridecodebin into fakesinks), before the analysis pipeline
//! is built for exactly those streams.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

/// How long an input may take to preroll.
const PREROLL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a live input may take to show all its streams.
const LIVE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Video,
    Audio,
    Other,
}

impl Media {
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Video => "video",
            Media::Audio => "audio",
            Media::Other => "other",
        }
    }
}

/// One decoded stream of the input.
#[derive(Debug, Clone)]
pub struct Stream {
    pub media: Media,
    /// Index among the streams of its media type, in the order uridecodebin exposed them.
    pub index: usize,
    pub caps: String,
    /// A readable description: the codec (from the stream's tags) and the decoded format.
    pub description: String,
}

/// What the preroll found.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub uri: String,
    pub streams: Vec<Stream>,
    /// Streams found but not decodable (no decoder): their description.
    pub undecodable: Vec<String>,
    pub duration: Option<gst::ClockTime>,
    pub live: bool,
}

impl Discovered {
    pub fn count(&self, media: Media) -> usize {
        self.streams.iter().filter(|s| s.media == media).count()
    }
}

/// The URI of a command-line input: a URI as given, or an existing file.
pub fn to_uri(input: &str) -> Result<String, String> {
    if input.contains("://") {
        return Ok(input.to_string());
    }
    let path = Path::new(input);
    if !path.exists() {
        return Err(format!("{input}: no such file"));
    }
    if path.is_dir() {
        return Err(format!("{input}: is a directory, not a media file"));
    }
    let abs = std::fs::canonicalize(path).map_err(|e| format!("{input}: {e}"))?;
    gst::glib::filename_to_uri(&abs, None)
        .map(|u| u.to_string())
        .map_err(|e| format!("{input}: {e}"))
}

/// A pad uridecodebin exposed: its caps, and the codec its tags name.
type Exposed = (gst::Caps, Option<String>);

/// Prerolls `uri` and reports its streams, or why it cannot be analysed.
pub fn discover(uri: &str) -> Result<Discovered, String> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("uridecodebin")
        .property("uri", uri)
        .build()
        .map_err(|e| format!("uridecodebin is missing ({e}): install gstreamer1.0-plugins-base"))?;
    pipeline.add(&src).map_err(|e| e.to_string())?;
    let found: Arc<Mutex<Vec<Exposed>>> = Arc::default();
    let undecodable: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let found = found.clone();
        let weak = pipeline.downgrade();
        src.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let slot = {
                let mut f = found.lock().unwrap();
                f.push((caps, None));
                f.len() - 1
            };
            // The codec comes in the stream's tags, ahead of the first buffer.
            let tags = found.clone();
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::EventView::Tag(t)) = info.event().map(|e| e.view()) {
                    let list = t.tag();
                    let codec = list
                        .get::<gst::tags::VideoCodec>()
                        .map(|v| v.get().to_string())
                        .or_else(|| {
                            list.get::<gst::tags::AudioCodec>()
                                .map(|v| v.get().to_string())
                        })
                        .or_else(|| list.get::<gst::tags::Codec>().map(|v| v.get().to_string()));
                    if let Some(c) = codec {
                        tags.lock().unwrap()[slot].1.get_or_insert(c);
                    }
                }
                gst::PadProbeReturn::Ok
            });
            let Ok(sink) = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
            else {
                return;
            };
            if pipeline.add(&sink).is_ok() {
                let _ = sink.sync_state_with_parent();
                let _ = pad.link(&sink.static_pad("sink").unwrap());
            }
        });
    }
    {
        let undecodable = undecodable.clone();
        src.connect("unknown-type", false, move |args| {
            if let Ok(caps) = args[2].get::<gst::Caps>() {
                undecodable.lock().unwrap().push(describe_encoded(&caps));
            }
            None
        });
    }
    let no_more_pads = Arc::new(AtomicBool::new(false));
    {
        let done = no_more_pads.clone();
        src.connect_no_more_pads(move |_| done.store(true, Ordering::Release));
    }
    let bus = pipeline.bus().unwrap();
    let outcome = match pipeline.set_state(gst::State::Paused) {
        Err(_) => Err(failure(&bus).unwrap_or_else(|| "the input cannot be opened".into())),
        // A live source does not preroll: it plays until its streams are all exposed.
        Ok(gst::StateChangeSuccess::NoPreroll) => {
            wait_live(&pipeline, &bus, &no_more_pads).map(|()| true)
        }
        Ok(_) => wait_preroll(&bus).map(|()| false),
    };
    let duration = pipeline.query_duration::<gst::ClockTime>();
    let _ = pipeline.set_state(gst::State::Null);
    let live = outcome?;
    let mut streams = Vec::new();
    let mut counts = [0usize; 3];
    for (caps, codec) in found.lock().unwrap().iter() {
        let media = media_of(caps);
        let n = &mut counts[media as usize];
        streams.push(Stream {
            media,
            index: *n,
            caps: caps.to_string(),
            description: describe(caps, codec.as_deref()),
        });
        *n += 1;
    }
    let undecodable = undecodable.lock().unwrap().clone();
    if streams.is_empty() && !undecodable.is_empty() {
        return Err(format!(
            "no decoder installed for {}: install the GStreamer plugin that decodes it (gstreamer1.0-libav or gstreamer1.0-plugins-bad)",
            undecodable.join(", ")
        ));
    }
    if streams.is_empty() && !live {
        return Err("the input has no stream that can be decoded".into());
    }
    Ok(Discovered {
        uri: uri.to_string(),
        streams,
        undecodable,
        duration,
        live,
    })
}

fn wait_preroll(bus: &gst::Bus) -> Result<(), String> {
    let deadline = std::time::Instant::now() + PREROLL_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the input did not start within {} s",
                PREROLL_TIMEOUT.as_secs()
            ));
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(left.as_millis() as u64),
            &[gst::MessageType::AsyncDone, gst::MessageType::Error],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::AsyncDone(_) => return Ok(()),
            gst::MessageView::Error(e) => return Err(explain(e)),
            _ => (),
        }
    }
}

/// Plays a live input until uridecodebin has exposed all its streams (or `LIVE_TIMEOUT`, with
/// what it has then).
fn wait_live(pipeline: &gst::Pipeline, bus: &gst::Bus, done: &AtomicBool) -> Result<(), String> {
    if pipeline.set_state(gst::State::Playing).is_err() {
        return Err(failure(bus).unwrap_or_else(|| "the live input cannot start".into()));
    }
    let deadline = std::time::Instant::now() + LIVE_TIMEOUT;
    while !done.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[gst::MessageType::Error],
        ) && let gst::MessageView::Error(e) = msg.view()
        {
            return Err(explain(e));
        }
    }
    Ok(())
}

fn failure(bus: &gst::Bus) -> Option<String> {
    let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(explain(e)),
        _ => None,
    }
}

/// A GStreamer error in words a user can act on.
pub fn explain(e: &gst::message::Error) -> String {
    let err = e.error();
    let detail = e.debug().and_then(|d| d.lines().last().map(str::to_string));
    if err.matches(gst::StreamError::CodecNotFound) || err.matches(gst::CoreError::MissingPlugin) {
        // The debug text names the stream: "Missing decoder: KLV Metadata (meta/x-klv, ...)".
        let what = detail
            .as_deref()
            .map(|d| d.trim_start_matches("Missing decoder: ").to_string())
            .unwrap_or_else(|| err.message().to_string());
        return format!(
            "no decoder installed for {what}: install the GStreamer plugin that decodes it \
             (gstreamer1.0-libav or gstreamer1.0-plugins-bad)"
        );
    }
    let what = if err.matches(gst::StreamError::TypeNotFound) {
        "unsupported format: the type of the data cannot be determined (not a media file, or a corrupt one)".to_string()
    } else if err.matches(gst::StreamError::Demux)
        || err.matches(gst::StreamError::Decode)
        || err.matches(gst::StreamError::Format)
    {
        format!(
            "the input cannot be read (corrupt or truncated): {}",
            err.message()
        )
    } else if err.matches(gst::ResourceError::NotFound) {
        format!("not found: {}", err.message())
    } else if err.matches(gst::ResourceError::OpenRead) || err.matches(gst::ResourceError::Read) {
        format!("cannot be read: {}", err.message())
    } else {
        err.message().to_string()
    };
    match detail {
        Some(d) if !d.is_empty() => format!("{what} ({d})"),
        _ => what,
    }
}

/// Video, audio or neither, from a stream's caps.
pub fn media_of(caps: &gst::CapsRef) -> Media {
    match caps.structure(0).map(|s| s.name().as_str()) {
        Some(n) if n.starts_with("video/") => Media::Video,
        Some(n) if n.starts_with("audio/") => Media::Audio,
        _ => Media::Other,
    }
}

/// A decoded stream in words: codec, size and rate, or channels and sample rate.
pub fn describe(caps: &gst::CapsRef, codec: Option<&str>) -> String {
    let Some(s) = caps.structure(0) else {
        return "unknown".into();
    };
    let mut out = Vec::new();
    if let Some(c) = codec {
        out.push(c.to_string());
    }
    match media_of(caps) {
        Media::Video => {
            if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
                out.push(format!("{w}x{h}"));
            }
            if let Ok(f) = s.get::<gst::Fraction>("framerate") {
                if f.numer() > 0 && f.denom() > 0 {
                    let fps = f64::from(f.numer()) / f64::from(f.denom());
                    out.push(format!("{} fps", trim(fps)));
                } else {
                    out.push("variable frame rate".into());
                }
            }
        }
        Media::Audio => {
            if let Ok(r) = s.get::<i32>("rate") {
                out.push(format!("{} kHz", trim(f64::from(r) / 1000.0)));
            }
            if let Ok(c) = s.get::<i32>("channels") {
                out.push(match c {
                    1 => "mono".into(),
                    2 => "stereo".into(),
                    n => format!("{n} channels"),
                });
            }
        }
        Media::Other => out.push(s.name().to_string()),
    }
    if let Ok(f) = s.get::<&str>("format") {
        out.push(format!("({f})"));
    }
    out.join(" ")
}

/// An encoded stream nobody can decode, in words.
fn describe_encoded(caps: &gst::CapsRef) -> String {
    let Some(s) = caps.structure(0) else {
        return "an unknown stream".into();
    };
    let name = s.name().as_str();
    let known = match name {
        "video/x-h264" => Some("H.264 video"),
        "video/x-h265" => Some("H.265 video"),
        "video/x-vp8" => Some("VP8 video"),
        "video/x-vp9" => Some("VP9 video"),
        "video/x-av1" => Some("AV1 video"),
        "video/mpeg" => Some("MPEG video"),
        "audio/mpeg" => Some("MPEG audio (AAC or MP3)"),
        "audio/x-ac3" | "audio/ac3" => Some("AC-3 audio"),
        "audio/x-eac3" => Some("E-AC-3 audio"),
        "audio/x-opus" => Some("Opus audio"),
        _ => None,
    };
    match known {
        Some(k) => format!("{k} ({name})"),
        None => name.to_string(),
    }
}

/// A number without trailing zeros (25, 29.97, 44.1).
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_described_in_words() {
        gst::init().unwrap();
        let v = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", 1280)
            .field("height", 720)
            .field("framerate", gst::Fraction::new(30000, 1001))
            .build();
        assert_eq!(
            describe(&v, Some("H.264 (High Profile)")),
            "H.264 (High Profile) 1280x720 29.97 fps (I420)"
        );
        let a = gst::Caps::builder("audio/x-raw")
            .field("format", "F32LE")
            .field("rate", 44100)
            .field("channels", 2)
            .build();
        assert_eq!(describe(&a, None), "44.1 kHz stereo (F32LE)");
        let h = gst::Caps::builder("video/x-h265").build();
        assert_eq!(describe_encoded(&h), "H.265 video (video/x-h265)");
    }

    #[test]
    fn inputs_become_uris() {
        gst::init().unwrap();
        assert_eq!(to_uri("rtsp://cam/1").unwrap(), "rtsp://cam/1");
        assert_eq!(
            to_uri("/nonexistent/clip.mp4").unwrap_err(),
            "/nonexistent/clip.mp4: no such file"
        );
        assert!(to_uri("/").unwrap_err().contains("is a directory"));
        let f = std::env::temp_dir().join(format!("vqmon uri {}.ts", std::process::id()));
        std::fs::write(&f, b"x").unwrap();
        let uri = to_uri(f.to_str().unwrap()).unwrap();
        std::fs::remove_file(&f).unwrap();
        assert!(uri.starts_with("file:///"), "{uri}");
        assert!(uri.contains("vqmon%20uri"), "{uri}");
    }
}
