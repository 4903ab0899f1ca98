// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Transport errors upstream of an element, placed on the frames they damage.
//!
//! A demuxer that loses packets of a stream says so on the bus: tsdemux posts a warning whose
//! details carry `warning-type` = `continuity-mismatch` and the `pad-name` of the damaged stream.
//! The message has no timestamp, but the demuxer posts it while it assembles the damaged access
//! unit, so the next buffer it pushes on that pad is the damaged one (or, when the loss took the
//! start of the unit, the first one after the hole). [`Watch`] listens to the pipeline's bus
//! without taking it from the application (sync-message emission, which any number of
//! listeners share), keeps only the errors of pads that feed the element (walked upstream
//! through peers and internal links, so another program's or the audio's errors never count),
//! and records the running time of that next buffer. The damage then propagates along the
//! prediction chain until the next picture decodable on its own: for H.264 (IDR or I slices),
//! H.265 (IRAP) and MPEG-2 (I pictures) the watch finds it in the stream and records it too.
//! [`Marks`] holds those times until the element sees the frames they decode to.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gst::glib;
use gst::prelude::*;

use crate::event::pad_running_time;

/// What a demuxer pushed, at a running time (`None` when its segment was not known: the mark
/// then applies to the next frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The access unit pushed right after a transport error; `tracked` when the stream's
    /// recovery point will be marked too.
    Damage { at: Option<u64>, tracked: bool },
    /// The first picture decodable on its own after a damage: the damage ends there.
    Recovery { at: Option<u64> },
}

impl Mark {
    fn at(&self) -> Option<u64> {
        match *self {
            Mark::Damage { at, .. } | Mark::Recovery { at } => at,
        }
    }
}

/// Damage propagated from a tracked transport error ends at the recovery point, or this long
/// after the error if none comes (a stream refreshed without pictures decodable on their own).
pub const MAX_PROPAGATION: u64 = 10_000_000_000;

/// What the marks say about one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportFrame {
    /// Transport errors whose damaged unit decodes to this frame (or was lost before it).
    pub errors: u32,
    /// The frame is predicted from a damaged one: a tracked error came before it and its
    /// stream's recovery point has not.
    pub propagated: bool,
    /// What the frame's picture is to the prediction chain of the encoded stream upstream, once
    /// that stream has shown a recovery point ([`Pictures::take`]).
    pub picture: Option<Picture>,
}

/// Marks waiting for the frame they decode to, and the damage propagating from the last error.
/// GStreamer-free; bounded.
#[derive(Debug)]
pub struct Marks {
    marks: VecDeque<Mark>,
    /// Running time of the tracked error whose damage propagates.
    propagating: Option<u64>,
    /// Marks dropped because too many were waiting (the oldest go first).
    pub overflowed: u64,
}

/// Marks that may wait at once: more than a second of frames, each with its own error.
pub const MAX_MARKS: usize = 128;

impl Default for Marks {
    fn default() -> Self {
        Marks {
            marks: VecDeque::with_capacity(MAX_MARKS),
            propagating: None,
            overflowed: 0,
        }
    }
}

impl Marks {
    pub fn push(&mut self, mark: Mark) {
        if self.marks.len() == MAX_MARKS {
            self.marks.pop_front();
            self.overflowed += 1;
        }
        self.marks.push_back(mark);
    }

    /// Takes the marks that belong to a frame `[start, until)` in running time: those before its
    /// end (a damage mark before its start was an access unit lost in the gap before it, since
    /// the error is always posted before the damaged unit is decoded), and those without a
    /// time; with `until` unknown, every mark. Marks later than the frame wait (a reordered
    /// unit decodes to a later frame). A recovery mark in the frame ends the propagation: the
    /// frame itself is clean.
    pub fn take(&mut self, start: Option<u64>, until: Option<u64>) -> TransportFrame {
        let mut out = TransportFrame::default();
        let mut recovered = false;
        while let Some(m) = self.marks.front().copied() {
            if let (Some(at), Some(end)) = (m.at(), until)
                && at >= end
            {
                break;
            }
            self.marks.pop_front();
            match m {
                Mark::Damage { at, tracked } => {
                    out.errors += 1;
                    recovered = false;
                    if tracked {
                        self.propagating = Some(at.or(start).unwrap_or(0));
                    }
                }
                Mark::Recovery { .. } => {
                    recovered = true;
                    self.propagating = None;
                }
            }
        }
        if let (Some(since), Some(now)) = (self.propagating, start)
            && now >= since + MAX_PROPAGATION
        {
            self.propagating = None;
        }
        out.propagated = !recovered && self.propagating.is_some();
        out
    }

    pub fn clear(&mut self) {
        self.marks.clear();
        self.propagating = None;
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

/// Bytes of an access unit read for its first slice header (parameter sets and SEI come first).
const PARSED: usize = 4096;

/// Pads walked at most when looking for a path from a demuxer pad to the element.
const MAX_WALK: usize = 512;
/// Pads remembered as feeding something else.
const MAX_ELSEWHERE: usize = 32;

/// True when buffers pushed on `src` reach `sink`: walks upstream from `sink` through peers and
/// internal links (ghost pads, queues, decoders, multiqueue pairs).
pub fn feeds(src: &gst::Pad, sink: &gst::Pad) -> bool {
    upstream(sink, |pad| pad == src).is_some()
}

/// The nearest pad upstream of `sink` (through peers and internal links, breadth first) for
/// which `wanted` holds.
fn upstream(sink: &gst::Pad, mut wanted: impl FnMut(&gst::Pad) -> bool) -> Option<gst::Pad> {
    let mut todo = VecDeque::from([sink.clone()]);
    let mut walked = 0;
    while let Some(pad) = todo.pop_front() {
        walked += 1;
        if walked > MAX_WALK {
            return None;
        }
        let Some(peer) = pad.peer() else { continue };
        if wanted(&peer) {
            return Some(peer);
        }
        todo.extend(peer.iterate_internal_links().into_iter().flatten());
    }
    None
}

struct Watched {
    pad: glib::WeakRef<gst::Pad>,
    probe: Option<gst::PadProbeId>,
    /// An error was posted for this pad; the next buffer with a timestamp is marked.
    pending: Arc<AtomicBool>,
}

/// Pictures decodable on their own, by codec (the pad's caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Mpeg2,
}

impl Codec {
    pub fn from_caps(caps: &gst::CapsRef) -> Option<Codec> {
        let s = caps.structure(0)?;
        match s.name().as_str() {
            "video/x-h264" => Some(Codec::H264),
            "video/x-h265" => Some(Codec::H265),
            "video/mpeg" if s.get::<i32>("mpegversion").is_ok_and(|v| v <= 2) => Some(Codec::Mpeg2),
            _ => None,
        }
    }
}

/// What an access unit's picture is to the prediction chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    /// Decodable on its own: damage before it ends here.
    Recovery,
    /// Other pictures may be predicted from it.
    Reference,
    /// Nothing is predicted from it.
    NonReference,
}

/// How an access unit carries its NAL units: after start codes (H.264/H.265 byte-stream, and
/// MPEG-2 video always), or each after its length in this many bytes (the `avc`/`avc3` and
/// `hvc1`/`hev1` stream formats MP4 holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    StartCodes,
    Length(usize),
}

/// An encoded video stream whose pictures can be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    pub codec: Codec,
    pub framing: Framing,
}

impl Stream {
    pub fn from_caps(caps: &gst::CapsRef) -> Option<Stream> {
        let codec = Codec::from_caps(caps)?;
        let s = caps.structure(0)?;
        let length_prefixed = codec != Codec::Mpeg2
            && matches!(
                s.get::<&str>("stream-format"),
                Ok("avc" | "avc3" | "hvc1" | "hev1")
            );
        let framing = if length_prefixed {
            // lengthSizeMinusOne: the low bits of byte 4 of an AVCDecoderConfigurationRecord,
            // of byte 21 of an HEVCDecoderConfigurationRecord.
            let at = if codec == Codec::H264 { 4 } else { 21 };
            let size = s
                .get::<gst::Buffer>("codec_data")
                .ok()
                .and_then(|b| {
                    b.map_readable()
                        .ok()?
                        .get(at)
                        .map(|v| usize::from(v & 3) + 1)
                })
                .unwrap_or(4);
            Framing::Length(size)
        } else {
            Framing::StartCodes
        };
        Some(Stream { codec, framing })
    }
}

/// The picture of an access unit, from its first slice's header: H.264 IDR or I (SI) slices,
/// H.265 IRAP pictures and MPEG-2 I pictures are recovery points; H.264 `nal_ref_idc` 0, H.265
/// sub-layer non-reference types and MPEG-2 B pictures are not references.
pub fn picture(stream: Stream, data: &[u8]) -> Option<Picture> {
    match stream.framing {
        Framing::StartCodes => {
            let mut i = 0;
            while i + 4 < data.len() {
                if data[i] != 0 || data[i + 1] != 0 || data[i + 2] != 1 {
                    i += 1;
                    continue;
                }
                if let Some(p) = unit_picture(stream.codec, &data[i + 3..]) {
                    return Some(p);
                }
                i += 3;
            }
            None
        }
        Framing::Length(size) => {
            let mut i = 0;
            while i + size < data.len() {
                let len = data[i..i + size]
                    .iter()
                    .fold(0usize, |n, &b| (n << 8) | usize::from(b));
                let start = i + size;
                let end = start.saturating_add(len).min(data.len());
                if len > 0
                    && let Some(p) = unit_picture(stream.codec, &data[start..end])
                {
                    return Some(p);
                }
                if len == 0 {
                    return None;
                }
                i = end;
            }
            None
        }
    }
}

/// The picture a NAL unit (or MPEG-2 start code's payload) says the access unit is, if it is a
/// slice (a picture header).
fn unit_picture(codec: Codec, unit: &[u8]) -> Option<Picture> {
    let &first = unit.first()?;
    match codec {
        Codec::H264 => match first & 0x1f {
            5 => Some(Picture::Recovery),
            1 if h264_intra_slice(&unit[1..]) => Some(Picture::Recovery),
            1 if first & 0x60 == 0 => Some(Picture::NonReference),
            1 => Some(Picture::Reference),
            _ => None,
        },
        Codec::H265 => match (first >> 1) & 0x3f {
            16..=21 => Some(Picture::Recovery),
            t @ 0..=14 if t % 2 == 0 => Some(Picture::NonReference),
            0..=14 => Some(Picture::Reference),
            _ => None,
        },
        // picture_start_code: 10 bits temporal_reference, then picture_coding_type.
        Codec::Mpeg2 if first == 0 && unit.len() >= 3 => match (unit[2] >> 3) & 0x07 {
            1 => Some(Picture::Recovery),
            2 => Some(Picture::Reference),
            3 => Some(Picture::NonReference),
            _ => None,
        },
        Codec::Mpeg2 => None,
    }
}

/// Access units a stream must have shown, all of them references, before a loss is taken to
/// propagate: a lost non-reference picture damages nothing else, and what tsdemux discards
/// cannot be looked at.
pub const MIN_HISTORY: u32 = 25;

/// What the watch learns of one stream's prediction chain from the access units it pushes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Chain {
    /// Access units seen, and whether any was not a reference.
    seen: u32,
    non_reference: bool,
    /// A tracked damage waits for its recovery point.
    awaiting: bool,
}

impl Chain {
    /// One access unit at running time `at`, of picture `pic` (None: not known), pushed right
    /// after a transport error when `damaged`. Returns the mark to record, if any.
    pub fn unit(&mut self, damaged: bool, pic: Option<Picture>, at: Option<u64>) -> Option<Mark> {
        // Damage propagates only along a chain known to hold nothing but references.
        let tracked = pic.is_some() && self.seen >= MIN_HISTORY && !self.non_reference;
        if pic.is_some() {
            self.seen = self.seen.saturating_add(1);
        }
        if pic == Some(Picture::NonReference) {
            self.non_reference = true;
        }
        if damaged {
            self.awaiting = tracked;
            return Some(Mark::Damage { at, tracked });
        }
        if self.awaiting && matches!(pic, Some(Picture::Recovery | Picture::NonReference)) {
            // The recovery point; or the chain has non-references after all, and how far
            // the damage went is no longer known.
            self.awaiting = false;
            return Some(Mark::Recovery { at });
        }
        None
    }
}

/// Pictures an encoded stream carried, waiting for the frames they decode to.
pub const MAX_PICTURES: usize = 512;

/// What each frame is to the prediction chain of the encoded stream feeding the element, read
/// where the stream is still encoded (a parser's output) and matched to the decoded frames by
/// running time. GStreamer-free; preallocated and bounded.
#[derive(Debug)]
pub struct Pictures {
    /// (running time, picture, known), in the order the stream carried them (decode order);
    /// `known` when a picture decodable on its own came before or is this one: from there on
    /// the prediction chain, and how far damage propagates, is known.
    waiting: VecDeque<(u64, Picture, bool)>,
    /// A picture decodable on its own has been read since the stream was first read (or last
    /// forgotten).
    recovery_seen: bool,
    /// Pictures dropped because too many were waiting (the oldest go first).
    pub overflowed: u64,
}

impl Default for Pictures {
    fn default() -> Self {
        Pictures {
            waiting: VecDeque::with_capacity(MAX_PICTURES),
            recovery_seen: false,
            overflowed: 0,
        }
    }
}

impl Pictures {
    pub fn push(&mut self, at: u64, pic: Picture) {
        if self.waiting.len() == MAX_PICTURES {
            self.waiting.pop_front();
            self.overflowed += 1;
        }
        self.recovery_seen |= pic == Picture::Recovery;
        self.waiting.push_back((at, pic, self.recovery_seen));
    }

    /// The picture of the frame `[start, until)` in running time, when a recovery point came
    /// before it in the stream (decode order: what the element has seen of the stream so far
    /// does not matter, so the answer does not depend on how far the parser runs ahead); None
    /// when unknown. Frames arrive in presentation order, so pictures timed before the frame are
    /// past (their frames were shown, or dropped) and are forgotten; later ones wait.
    pub fn take(&mut self, start: u64, until: u64) -> Option<Picture> {
        let mut found = None;
        self.waiting.retain(|&(at, pic, known)| {
            if at >= start && at < until && found.is_none() {
                found = known.then_some(pic);
            }
            at >= until
        });
        found
    }

    pub fn clear(&mut self) {
        self.waiting.clear();
        self.recovery_seen = false;
    }

    /// Pictures waiting for their frames.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// Whether an H.264 slice header (after the NAL header byte) is of an I or SI slice:
/// `first_mb_in_slice` and `slice_type`, both unsigned Exp-Golomb.
fn h264_intra_slice(header: &[u8]) -> bool {
    let mut bits = header
        .iter()
        .take(8)
        .flat_map(|b| (0..8).rev().map(move |k| (b >> k) & 1));
    let mut ue = || -> Option<u32> {
        let mut zeros = 0;
        while bits.next()? == 0 {
            zeros += 1;
            if zeros > 16 {
                return None;
            }
        }
        let mut v = 1u32;
        for _ in 0..zeros {
            v = (v << 1) | u32::from(bits.next()?);
        }
        Some(v - 1)
    };
    ue().is_some() && ue().is_some_and(|t| matches!(t % 5, 2 | 4))
}

/// The encoded stream upstream whose pictures are read.
struct Followed {
    pad: glib::WeakRef<gst::Pad>,
    probe: Option<gst::PadProbeId>,
}

#[derive(Default)]
struct Inner {
    upstream: Vec<Watched>,
    elsewhere: VecDeque<glib::WeakRef<gst::Pad>>,
    marks: Marks,
    /// Continuity errors reported for pads that feed the element.
    errors: u64,
    followed: Option<Followed>,
    pictures: Pictures,
}

struct Shared {
    sink: glib::WeakRef<gst::Pad>,
    inner: Mutex<Inner>,
}

/// Listens to the bus of the pipeline that holds an element for continuity errors of the
/// streams that feed its sink pad, and reads the pictures of the encoded stream that feeds it.
/// Dropping it stops listening and removes its pad probes.
pub struct Watch {
    bus: Option<(gst::Bus, glib::SignalHandlerId)>,
    shared: Arc<Shared>,
}

impl Watch {
    /// A watch for what reaches `sink`; with `errors`, it listens to the bus of the outermost
    /// bin holding `element` for continuity errors. None when the element is in no bin (a
    /// harness, say: nothing is upstream but the test).
    pub fn new(element: &gst::Element, sink: &gst::Pad, errors: bool) -> Option<Watch> {
        let mut top: gst::Object = element.clone().upcast();
        while let Some(parent) = top.parent() {
            top = parent;
        }
        if top == *element.upcast_ref::<gst::Object>() {
            return None;
        }
        let shared = Arc::new(Shared {
            sink: sink.downgrade(),
            inner: Mutex::new(Inner::default()),
        });
        let bus = match top.downcast_ref::<gst::Element>().and_then(|e| e.bus()) {
            Some(bus) if errors => {
                bus.enable_sync_message_emission();
                let weak = Arc::downgrade(&shared);
                let handler = bus.connect_sync_message(Some("warning"), move |_, msg| {
                    if let Some(shared) = weak.upgrade() {
                        on_warning(&shared, msg);
                    }
                });
                Some((bus, handler))
            }
            _ => None,
        };
        Some(Watch { bus, shared })
    }

    /// Reads the pictures of the nearest encoded stream upstream (H.264, H.265 or MPEG-2
    /// video, usually a parser's output) from now on, if it is not read already. Call it when
    /// the sink's caps arrive: the decoder upstream is linked then.
    pub fn follow_pictures(&self) {
        let Some(sink) = self.shared.sink.upgrade() else {
            return;
        };
        // Walked without the lock: the path may cross elements that are busy.
        let found = upstream(&sink, |pad| {
            pad.current_caps()
                .is_some_and(|c| Stream::from_caps(&c).is_some())
        });
        let mut inner = self.shared.inner.lock().unwrap();
        let current = inner.followed.as_ref().and_then(|f| f.pad.upgrade());
        if current == found {
            return;
        }
        if let Some(old) = inner.followed.take()
            && let (Some(pad), Some(probe)) = (old.pad.upgrade(), old.probe)
        {
            pad.remove_probe(probe);
        }
        inner.pictures.clear();
        let Some(pad) = found else { return };
        let Some(stream) = pad.current_caps().and_then(|c| Stream::from_caps(&c)) else {
            return;
        };
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        // Streaming thread only; a mutex because probes must be Sync. New caps may change the
        // framing (or end it: another codec).
        let stream = Mutex::new(Some(stream));
        let probe = pad.add_probe(
            gst::PadProbeType::BUFFER
                | gst::PadProbeType::BUFFER_LIST
                | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                let record = |buf: &gst::BufferRef| {
                    let s = *stream.lock().unwrap();
                    if let Some(pic) = s.and_then(|s| read_picture(s, buf))
                        && let Some(at) = pad_running_time(pad, buf)
                        && let Some(shared) = weak.upgrade()
                    {
                        shared
                            .inner
                            .lock()
                            .unwrap()
                            .pictures
                            .push(at.nseconds(), pic);
                    }
                };
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => record(b),
                    Some(gst::PadProbeData::BufferList(l)) => l.iter().for_each(record),
                    Some(gst::PadProbeData::Event(e)) => {
                        if let gst::EventView::Caps(c) = e.view() {
                            *stream.lock().unwrap() = Stream::from_caps(c.caps());
                        }
                    }
                    _ => (),
                }
                gst::PadProbeReturn::Ok
            },
        );
        inner.followed = Some(Followed {
            pad: pad.downgrade(),
            probe,
        });
    }

    /// Takes the marks of a frame `[start, until)` in running time (see [`Marks::take`]).
    /// With it, the frame's picture, when the stream upstream is read (see [`Pictures::take`]).
    pub fn take(&self, start: Option<u64>, until: Option<u64>) -> TransportFrame {
        let mut inner = self.shared.inner.lock().unwrap();
        let mut out = inner.marks.take(start, until);
        if let (Some(start), Some(until)) = (start, until) {
            out.picture = inner.pictures.take(start, until);
        }
        out
    }

    /// Forgets waiting marks and pictures (flush: what they pointed at is gone).
    pub fn clear(&self) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.marks.clear();
        inner.pictures.clear();
    }

    /// Continuity errors of the streams feeding the element, and marks lost to overflow.
    pub fn counts(&self) -> (u64, u64) {
        let inner = self.shared.inner.lock().unwrap();
        (inner.errors, inner.marks.overflowed)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((bus, handler)) = self.bus.take() {
            bus.disconnect(handler);
            bus.disable_sync_message_emission();
        }
        let mut inner = self.shared.inner.lock().unwrap();
        let followed = inner.followed.take().map(|f| (f.pad, f.probe));
        for (pad, probe) in inner
            .upstream
            .drain(..)
            .map(|w| (w.pad, w.probe))
            .chain(followed)
        {
            if let (Some(pad), Some(probe)) = (pad.upgrade(), probe) {
                pad.remove_probe(probe);
            }
        }
    }
}

/// The pad a continuity warning is about, if it is one.
fn damaged_pad(msg: &gst::MessageRef) -> Option<gst::Pad> {
    let gst::MessageView::Warning(w) = msg.view() else {
        return None;
    };
    let details = w.details()?;
    if details.get::<&str>("warning-type").ok()? != "continuity-mismatch" {
        return None;
    }
    let name = details.get::<&str>("pad-name").ok()?;
    msg.src()?.downcast_ref::<gst::Element>()?.static_pad(name)
}

fn on_warning(shared: &Arc<Shared>, msg: &gst::MessageRef) {
    let Some(pad) = damaged_pad(msg) else { return };
    {
        let mut inner = shared.inner.lock().unwrap();
        if let Some(w) = inner
            .upstream
            .iter()
            .find(|w| w.pad.upgrade().is_some_and(|p| p == pad))
        {
            w.pending.store(true, Ordering::Release);
            inner.errors += 1;
            return;
        }
        if inner
            .elsewhere
            .iter()
            .any(|w| w.upgrade().is_some_and(|p| p == pad))
        {
            return;
        }
    }
    // Walked without the lock: the path may cross elements that are busy.
    let Some(sink) = shared.sink.upgrade() else {
        return;
    };
    let upstream = feeds(&pad, &sink);
    let mut inner = shared.inner.lock().unwrap();
    if !upstream {
        if inner.elsewhere.len() == MAX_ELSEWHERE {
            inner.elsewhere.pop_front();
        }
        inner.elsewhere.push_back(pad.downgrade());
        return;
    }
    inner.errors += 1;
    let pending = Arc::new(AtomicBool::new(true));
    let probe = {
        let pending = pending.clone();
        let weak: Weak<Shared> = Arc::downgrade(shared);
        // Streaming thread only; a mutex because probes must be Sync.
        let chain = Mutex::new(Chain::default());
        let stream = pad.current_caps().and_then(|c| Stream::from_caps(&c));
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, info| {
                let Some(buf) = first_timed(info) else {
                    return gst::PadProbeReturn::Ok;
                };
                let pic = stream.and_then(|s| read_picture(s, buf));
                let damaged = pending.swap(false, Ordering::AcqRel);
                let mark = chain.lock().unwrap().unit(
                    damaged,
                    pic,
                    pad_running_time(pad, buf).map(gst::ClockTime::nseconds),
                );
                if let Some(mark) = mark
                    && let Some(shared) = weak.upgrade()
                {
                    shared.inner.lock().unwrap().marks.push(mark);
                }
                gst::PadProbeReturn::Ok
            },
        )
    };
    inner.upstream.push(Watched {
        pad: pad.downgrade(),
        probe,
        pending,
    });
}

/// The picture of an access unit, from its first bytes (parameter sets and SEI come first).
fn read_picture(stream: Stream, buf: &gst::BufferRef) -> Option<Picture> {
    let map = buf.map_readable().ok()?;
    picture(stream, &map[..map.len().min(PARSED)])
}

/// The first buffer of a push that has a timestamp.
fn first_timed<'a>(info: &'a gst::PadProbeInfo<'_>) -> Option<&'a gst::BufferRef> {
    match &info.data {
        Some(gst::PadProbeData::Buffer(b)) => b.pts().is_some().then_some(b.as_ref()),
        Some(gst::PadProbeData::BufferList(l)) => l.iter().find(|b| b.pts().is_some()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damage(at: u64) -> Mark {
        Mark::Damage {
            at: Some(at),
            tracked: true,
        }
    }

    fn untracked(at: u64) -> Mark {
        Mark::Damage {
            at: Some(at),
            tracked: false,
        }
    }

    fn frame(errors: u32, propagated: bool) -> TransportFrame {
        TransportFrame {
            errors,
            propagated,
            picture: None,
        }
    }

    #[test]
    fn marks_wait_for_their_frame() {
        let mut m = Marks::default();
        m.push(untracked(100));
        m.push(untracked(300));
        // A frame ending at 100 is before the first mark.
        assert_eq!(m.take(Some(60), Some(100)), frame(0, false));
        // The frame [100, 140) holds it; untracked damage does not propagate.
        assert_eq!(m.take(Some(100), Some(140)), frame(1, false));
        assert_eq!(m.take(Some(140), Some(180)), frame(0, false));
        assert_eq!(m.len(), 1);
        // A frame after a gap takes what was due in the gap.
        assert_eq!(m.take(Some(460), Some(500)), frame(1, false));
        assert!(m.is_empty());
    }

    #[test]
    fn damage_propagates_to_the_recovery_point() {
        let mut m = Marks::default();
        m.push(damage(400));
        m.push(Mark::Recovery { at: Some(2_000) });
        assert_eq!(m.take(Some(360), Some(400)), frame(0, false));
        assert_eq!(m.take(Some(400), Some(440)), frame(1, true));
        for t in (440..2_000).step_by(40) {
            assert_eq!(m.take(Some(t), Some(t + 40)), frame(0, true), "{t}");
        }
        // The recovery frame is clean, and so is what follows.
        assert_eq!(m.take(Some(2_000), Some(2_040)), frame(0, false));
        assert_eq!(m.take(Some(2_040), Some(2_080)), frame(0, false));
    }

    #[test]
    fn propagation_without_recovery_is_bounded() {
        let mut m = Marks::default();
        m.push(damage(0));
        assert_eq!(m.take(Some(0), Some(40)), frame(1, true));
        assert!(
            m.take(Some(MAX_PROPAGATION - 40), Some(MAX_PROPAGATION))
                .propagated
        );
        assert!(
            !m.take(Some(MAX_PROPAGATION), Some(MAX_PROPAGATION + 40))
                .propagated
        );
        // A flush forgets it all.
        m.push(damage(MAX_PROPAGATION * 2));
        m.clear();
        assert_eq!(m.take(None, None), frame(0, false));
    }

    #[test]
    fn marks_without_time_go_to_the_next_frame() {
        let mut m = Marks::default();
        m.push(Mark::Damage {
            at: None,
            tracked: true,
        });
        m.push(damage(1_000));
        assert_eq!(m.take(Some(0), Some(40)), frame(1, true));
        assert_eq!(m.take(None, None), frame(1, true));
        assert!(m.is_empty());
    }

    #[test]
    fn marks_are_bounded() {
        let mut m = Marks::default();
        for i in 0..(MAX_MARKS as u64 + 5) {
            m.push(damage(i));
        }
        assert_eq!(m.len(), MAX_MARKS);
        assert_eq!(m.overflowed, 5);
        // The oldest went first.
        assert_eq!(m.take(Some(0), Some(6)).errors, 1);
    }

    fn start_codes(codec: Codec) -> Stream {
        Stream {
            codec,
            framing: Framing::StartCodes,
        }
    }

    #[test]
    fn pictures() {
        use Picture::*;
        // H.264: IDR after an SPS; non-IDR slices with slice_type 7 (I) or 5 (P): ue(0) = 1,
        // ue(7) = 0001000, ue(5) = 00110; nal_ref_idc 0 (0x01) is a non-reference.
        let h264 = |d: &[u8]| picture(start_codes(Codec::H264), d);
        assert_eq!(
            h264(&[0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88]),
            Some(Recovery)
        );
        assert_eq!(h264(&[0, 0, 1, 0x41, 0b1000_1000, 0]), Some(Recovery));
        assert_eq!(h264(&[0, 0, 1, 0x41, 0b1001_1000, 0]), Some(Reference));
        assert_eq!(h264(&[0, 0, 1, 0x01, 0b1001_1000, 0]), Some(NonReference));
        assert_eq!(h264(&[0, 0, 1, 0x41]), None);
        // H.265: CRA (21) after a VPS (32); TRAIL_R (1), TRAIL_N (0).
        let h265 = |d: &[u8]| picture(start_codes(Codec::H265), d);
        assert_eq!(
            h265(&[0, 0, 1, 0x40, 1, 0, 0, 1, 0x2a, 1, 0]),
            Some(Recovery)
        );
        assert_eq!(h265(&[0, 0, 1, 0x02, 1, 0, 0]), Some(Reference));
        assert_eq!(h265(&[0, 0, 1, 0x00, 1, 0, 0]), Some(NonReference));
        // MPEG-2: picture headers with coding type 1 (I), 2 (P) and 3 (B).
        let mpeg2 = |d: &[u8]| picture(start_codes(Codec::Mpeg2), d);
        assert_eq!(mpeg2(&[0, 0, 1, 0, 0x00, 0x0f, 0xff, 0]), Some(Recovery));
        assert_eq!(mpeg2(&[0, 0, 1, 0, 0x00, 0x17, 0xff, 0]), Some(Reference));
        assert_eq!(
            mpeg2(&[0, 0, 1, 0, 0x00, 0x1f, 0xff, 0]),
            Some(NonReference)
        );
        assert_eq!(mpeg2(&[]), None);
        // Length-prefixed (avc, 4 and 2 bytes): an access unit delimiter (type 9), then a P
        // slice; an SEI that claims more bytes than there are hides nothing after it.
        let avc = |size, d: &[u8]| {
            picture(
                Stream {
                    codec: Codec::H264,
                    framing: Framing::Length(size),
                },
                d,
            )
        };
        assert_eq!(
            avc(4, &[0, 0, 0, 2, 0x09, 0x10, 0, 0, 0, 2, 0x41, 0b1001_1000]),
            Some(Reference)
        );
        assert_eq!(
            avc(2, &[0, 2, 0x09, 0x10, 0, 2, 0x01, 0b1001_1000]),
            Some(NonReference)
        );
        assert_eq!(avc(4, &[0, 0, 0, 3, 0x65, 0x88, 0x80]), Some(Recovery));
        assert_eq!(
            avc(4, &[0, 0, 0, 99, 0x06, 5, 0, 0, 0, 2, 0x65, 0x88]),
            None
        );
        assert_eq!(avc(4, &[0, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]), None);
        // Start codes inside length-prefixed data are payload, not units.
        assert_eq!(avc(4, &[0, 0, 0, 5, 0x06, 0, 0, 1, 0x65]), None);
    }

    #[test]
    fn pictures_are_matched_to_their_frames() {
        use Picture::*;
        let mut p = Pictures::default();
        // Decode order I0 P3 B1 B2 (frames of 40): nothing is known before a recovery point,
        // even when the recovery point has already been read when the frame is taken.
        p.push(120, Reference);
        p.push(160, Reference);
        assert_eq!(p.take(120, 160), None);
        p.push(200, Recovery);
        assert_eq!(p.take(160, 200), None);
        p.push(320, Reference);
        p.push(240, NonReference);
        p.push(280, Reference);
        assert_eq!(p.take(200, 240), Some(Recovery));
        assert_eq!(p.take(240, 280), Some(NonReference));
        assert_eq!(p.take(280, 320), Some(Reference));
        assert_eq!(p.take(320, 360), Some(Reference));
        assert_eq!(p.waiting(), 0);
        // A frame without a picture (timestamps changed on the way) is not known; pictures
        // before a frame are past (the decoder dropped theirs).
        p.push(400, Reference);
        p.push(440, Reference);
        assert_eq!(p.take(360, 400), None);
        assert_eq!(p.waiting(), 2);
        assert_eq!(p.take(441, 481), None);
        assert_eq!(p.waiting(), 0);
        // Bounded; a flush forgets everything, the recovery point seen too.
        for i in 0..MAX_PICTURES as u64 + 3 {
            p.push(1_000 + i, Reference);
        }
        assert_eq!((p.waiting(), p.overflowed), (MAX_PICTURES, 3));
        assert_eq!(p.take(1_003, 1_004), Some(Reference));
        p.clear();
        p.push(5_000, Reference);
        assert_eq!(p.take(5_000, 5_040), None);
    }

    #[test]
    fn chain_tracks_losses_of_reference_only_streams() {
        use Picture::*;
        let mut c = Chain::default();
        // Without history a loss is not followed.
        assert_eq!(c.unit(true, Some(Reference), Some(0)), Some(untracked(0)));
        assert_eq!(c.unit(false, Some(Recovery), Some(40)), None);
        for i in 2..MIN_HISTORY as u64 + 1 {
            assert_eq!(c.unit(false, Some(Reference), Some(i * 40)), None);
        }
        assert_eq!(
            c.unit(true, Some(Reference), Some(2_000)),
            Some(damage(2_000))
        );
        assert_eq!(c.unit(false, Some(Reference), Some(2_040)), None);
        assert_eq!(
            c.unit(false, Some(Recovery), Some(2_080)),
            Some(Mark::Recovery { at: Some(2_080) })
        );
        // A non-reference picture: the stream has them, losses are no longer followed.
        assert_eq!(c.unit(false, Some(NonReference), Some(2_120)), None);
        assert_eq!(
            c.unit(true, Some(Reference), Some(2_160)),
            Some(untracked(2_160))
        );
        // An unknown picture is never followed.
        let mut c = Chain::default();
        for i in 0..2 * MIN_HISTORY as u64 {
            c.unit(false, None, Some(i));
        }
        assert!(matches!(
            c.unit(true, None, Some(0)),
            Some(Mark::Damage { tracked: false, .. })
        ));
    }
}
