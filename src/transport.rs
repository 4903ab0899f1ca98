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
    let mut todo = vec![sink.clone()];
    let mut walked = 0;
    while let Some(pad) = todo.pop() {
        walked += 1;
        if walked > MAX_WALK {
            return false;
        }
        let Some(peer) = pad.peer() else { continue };
        if peer == *src {
            return true;
        }
        todo.extend(peer.iterate_internal_links().into_iter().flatten());
    }
    false
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

/// The picture of an access unit (Annex B byte stream, or an MPEG-2 video elementary stream),
/// from its first slice's header: H.264 IDR or I (SI) slices, H.265 IRAP pictures and MPEG-2 I
/// pictures are recovery points; H.264 `nal_ref_idc` 0, H.265 sub-layer non-reference types
/// and MPEG-2 B pictures are not references.
pub fn picture(codec: Codec, data: &[u8]) -> Option<Picture> {
    let mut i = 0;
    while i + 4 < data.len() {
        if data[i] != 0 || data[i + 1] != 0 || data[i + 2] != 1 {
            i += 1;
            continue;
        }
        let unit = &data[i + 3..];
        match codec {
            Codec::H264 => match unit[0] & 0x1f {
                5 => return Some(Picture::Recovery),
                1 if h264_intra_slice(&unit[1..]) => return Some(Picture::Recovery),
                1 if unit[0] & 0x60 == 0 => return Some(Picture::NonReference),
                1 => return Some(Picture::Reference),
                _ => (),
            },
            Codec::H265 => match (unit[0] >> 1) & 0x3f {
                16..=21 => return Some(Picture::Recovery),
                t @ 0..=14 if t % 2 == 0 => return Some(Picture::NonReference),
                0..=14 => return Some(Picture::Reference),
                _ => (),
            },
            Codec::Mpeg2 => {
                // picture_start_code: 10 bits temporal_reference, then picture_coding_type.
                if unit[0] == 0 && unit.len() >= 3 {
                    return match (unit[2] >> 3) & 0x07 {
                        1 => Some(Picture::Recovery),
                        2 => Some(Picture::Reference),
                        3 => Some(Picture::NonReference),
                        _ => None,
                    };
                }
            }
        }
        i += 3;
    }
    None
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

#[derive(Default)]
struct Inner {
    upstream: Vec<Watched>,
    elsewhere: VecDeque<glib::WeakRef<gst::Pad>>,
    marks: Marks,
    /// Continuity errors reported for pads that feed the element.
    errors: u64,
}

struct Shared {
    sink: glib::WeakRef<gst::Pad>,
    inner: Mutex<Inner>,
}

/// Listens to the bus of the pipeline that holds an element for continuity errors of the
/// streams that feed its sink pad. Dropping it stops listening and removes its pad probes.
pub struct Watch {
    bus: gst::Bus,
    handler: Option<glib::SignalHandlerId>,
    shared: Arc<Shared>,
}

impl Watch {
    /// Watches the bus of the outermost bin holding `element`, for errors that reach `sink`.
    /// None when the element is in no bin with a bus (a harness, say).
    pub fn new(element: &gst::Element, sink: &gst::Pad) -> Option<Watch> {
        let mut top: gst::Object = element.clone().upcast();
        while let Some(parent) = top.parent() {
            top = parent;
        }
        if top == *element.upcast_ref::<gst::Object>() {
            return None;
        }
        let bus = top.downcast_ref::<gst::Element>()?.bus()?;
        let shared = Arc::new(Shared {
            sink: sink.downgrade(),
            inner: Mutex::new(Inner::default()),
        });
        bus.enable_sync_message_emission();
        let weak = Arc::downgrade(&shared);
        let handler = bus.connect_sync_message(Some("warning"), move |_, msg| {
            if let Some(shared) = weak.upgrade() {
                on_warning(&shared, msg);
            }
        });
        Some(Watch {
            bus,
            handler: Some(handler),
            shared,
        })
    }

    /// Takes the marks of a frame `[start, until)` in running time (see [`Marks::take`]).
    pub fn take(&self, start: Option<u64>, until: Option<u64>) -> TransportFrame {
        self.shared.inner.lock().unwrap().marks.take(start, until)
    }

    /// Forgets waiting marks (flush: what they pointed at is gone).
    pub fn clear(&self) {
        self.shared.inner.lock().unwrap().marks.clear();
    }

    /// Continuity errors of the streams feeding the element, and marks lost to overflow.
    pub fn counts(&self) -> (u64, u64) {
        let inner = self.shared.inner.lock().unwrap();
        (inner.errors, inner.marks.overflowed)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(h) = self.handler.take() {
            self.bus.disconnect(h);
            self.bus.disable_sync_message_emission();
        }
        let mut inner = self.shared.inner.lock().unwrap();
        for w in inner.upstream.drain(..) {
            if let (Some(pad), Some(probe)) = (w.pad.upgrade(), w.probe) {
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
        let codec = pad.current_caps().and_then(|c| Codec::from_caps(&c));
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, info| {
                let Some(buf) = first_timed(info) else {
                    return gst::PadProbeReturn::Ok;
                };
                let pic = codec.and_then(|c| {
                    buf.map_readable()
                        .ok()
                        .and_then(|m| picture(c, &m[..m.len().min(PARSED)]))
                });
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
        TransportFrame { errors, propagated }
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

    #[test]
    fn pictures() {
        use Picture::*;
        // H.264: IDR after an SPS; non-IDR slices with slice_type 7 (I) or 5 (P): ue(0) = 1,
        // ue(7) = 0001000, ue(5) = 00110; nal_ref_idc 0 (0x01) is a non-reference.
        let h264 = |d: &[u8]| picture(Codec::H264, d);
        assert_eq!(
            h264(&[0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88]),
            Some(Recovery)
        );
        assert_eq!(h264(&[0, 0, 1, 0x41, 0b1000_1000, 0]), Some(Recovery));
        assert_eq!(h264(&[0, 0, 1, 0x41, 0b1001_1000, 0]), Some(Reference));
        assert_eq!(h264(&[0, 0, 1, 0x01, 0b1001_1000, 0]), Some(NonReference));
        assert_eq!(h264(&[0, 0, 1, 0x41]), None);
        // H.265: CRA (21) after a VPS (32); TRAIL_R (1), TRAIL_N (0).
        let h265 = |d: &[u8]| picture(Codec::H265, d);
        assert_eq!(
            h265(&[0, 0, 1, 0x40, 1, 0, 0, 1, 0x2a, 1, 0]),
            Some(Recovery)
        );
        assert_eq!(h265(&[0, 0, 1, 0x02, 1, 0, 0]), Some(Reference));
        assert_eq!(h265(&[0, 0, 1, 0x00, 1, 0, 0]), Some(NonReference));
        // MPEG-2: picture headers with coding type 1 (I), 2 (P) and 3 (B).
        let mpeg2 = |d: &[u8]| picture(Codec::Mpeg2, d);
        assert_eq!(mpeg2(&[0, 0, 1, 0, 0x00, 0x0f, 0xff, 0]), Some(Recovery));
        assert_eq!(mpeg2(&[0, 0, 1, 0, 0x00, 0x17, 0xff, 0]), Some(Reference));
        assert_eq!(
            mpeg2(&[0, 0, 1, 0, 0x00, 0x1f, 0xff, 0]),
            Some(NonReference)
        );
        assert_eq!(mpeg2(&[]), None);
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
