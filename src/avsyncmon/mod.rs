// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

/**
 * SECTION:element-avsyncmon
 *
 * avsyncmon measures audio/video sync inline. It has two independent pass-through pad pairs,
 * `video_sink`/`video_src` (any raw video) and `audio_sink`/`audio_src` (any raw audio): buffers,
 * events and queries go only to the partner pad, and neither branch ever waits for the other, so
 * the element adds no latency and changes no timing. Buffers are mapped read-only and passed on
 * untouched.
 *
 * Sign convention everywhere: `offset` = t(audio) - t(video), **positive means audio late**. All
 * comparisons are on running time (each pad's own segment), never raw PTS.
 *
 * Tier 1, timestamps (always on): per stream, gaps, overlaps and backwards timestamps against
 * where the previous buffer ended (audio: samples / rate, jumps beyond `alignment-threshold`,
 * 40 ms like audiobasesink; video: the nominal frame duration, jumps beyond half a frame, with
 * the frames missing). A jump is reported once it has persisted for `discont-wait` (1 s) or at
 * once when the buffer carries DISCONT; one that returns to the old timeline is jitter. Drift of
 * each stream's timestamps against its own content clock (ppm, fitted over `drift-window`);
 * a jump of one stream that the other does not share within 1 s is a potential timeline shift
 * (a real loss of samples looks the same, so the content tiers settle it); in live pipelines, a
 * stream that does not advance while the other advances by `stall-threshold` is stalled (in
 * non-live pipelines the branches run at their own pace, and a stall shows as a gap when the
 * stream resumes). GAP events advance a stream: signalled silence is not a stall.
 *
 * Tier 2, test signals (`test-signals`, on by default): flashes (a full frame or a box rising by
 * `flash-threshold` luma code values in one frame, as in FFmpeg `avsynctest`) and beeps (a tone
 * burst between `beep-min-freq` and `beep-max-freq`, onset found to the sample) are paired within
 * `max-offset` when each is the other's nearest cue (mutual nearest neighbours): a missed first
 * flash, a lost beep or an extra cue leaves one cue unpaired instead of shifting every later pair
 * by a period. Each pair posts a `vqmon-measurement` with the offset, a smoothed value (median of
 * the last 5), its drift (ms per minute) and a confidence. Offsets are unambiguous up to half the
 * test pattern's period.
 *
 * Tier 3, real content (`content-analysis`, on by default, advisory): audio onset strength is
 * cross-correlated with visual change over `content-window`; an estimate is posted every
 * `content-interval` with its confidence, or with `available=false` and the reason when the
 * correlation has no clear peak. It never raises an alarm.
 *
 * Out-of-tolerance test-signal offsets are `av-offset` interval defects, judged against
 * `profile` (ITU-R BT.1359 detectability by default) once `min-measurements` consecutive
 * measurements are outside it; the defect ends at the first measurement back inside.
 *
 * Open defects are closed at EOS (of both streams for `av-offset`), flush, new segment, caps
 * change and stop, with the reason. Buffers without timestamps are placed after the previous one
 * (one warning); buffers that cannot be mapped are passed on, counted in `stats`, and the first
 * one posts a warning. Video formats without a readable luma plane keep tier 1 only.
 *
 * ## Messages
 *
 * `vqmon-defect` element messages (docs/messages.md) with `defect` one of:
 *
 * - `ts-discont` (point): `stream` (video/audio), `kind` (gap/overlap/backwards), `delta` (gint64
 *   ns, running time minus where the buffer was expected), `units` (guint64 frames or samples
 *   missing or repeated), `unit` (frames/samples), `flagged` (the buffer carried DISCONT),
 *   `expected-running-time` (guint64).
 * - `timeline-shift` (point): `stream`, `delta`, `offset-change` (gint64 ns: how the A/V offset
 *   moves at the renderer if no content was lost).
 * - `clock-drift` (interval): `stream`, `ppm` (gdouble), `divergence`, `max-divergence` (gint64
 *   ns), `window` (guint64 ns).
 * - `stream-stall` (interval, live pipelines): `stream` (the stalled one), `other-advance`
 *   (guint64 ns).
 * - `av-offset` (interval): `source`, `profile`, `early-limit`, `late-limit` (guint64 ns),
 *   `first-offset`, `worst-offset`, `last-offset` (gint64 ns), `measurements` (guint64).
 *
 * `vqmon-measurement` element messages with `measurement` = `av-offset`, times of the flash frame
 * and a `values` structure: `source` (`test-signal` or `content`), `available` (gboolean),
 * `offset`, `smoothed` (gint64 ns), `drift` (gdouble ms/min, once known), `confidence` (gdouble
 * 0..1), `flash-running-time`, `beep-running-time`, `count` (guint64); content estimates carry
 * `psr`, `z-score`, `chance` (the best chance peak: the peak must stand above it, and so must
 * the peak of the events other than the two strongest, at the same lag; how far that one does
 * caps the confidence), `window` and, when not available, `reason`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m uridecodebin uri=file:///path/to/file.mp4 name=d avsyncmon name=m \
 *   d. ! videoconvert ! m.video_sink m.video_src ! fakesink \
 *   d. ! audioconvert ! m.audio_sink m.audio_src ! fakesink
 * ]|
 *
 * Since: 0.1.0
 */
use gst::glib;
use gst::prelude::*;

pub mod content;
pub mod cues;
mod imp;
pub mod timeline;

/// Tolerance profiles for measured A/V offsets.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAvSyncMonProfile")]
pub enum Profile {
    /// ITU-R BT.1359 detectability: audio early by more than 45 ms or late by more than 125 ms.
    #[enum_value(name = "ITU-R BT.1359 detectability (-45/+125 ms)", nick = "bt1359")]
    Bt1359 = 0,
    /// EBU R37: audio early by more than 40 ms or late by more than 60 ms.
    #[enum_value(name = "EBU R37 (-40/+60 ms)", nick = "ebu-r37")]
    EbuR37 = 1,
    /// ATSC IS-191: audio early by more than 15 ms or late by more than 45 ms.
    #[enum_value(name = "ATSC IS-191 (-15/+45 ms)", nick = "atsc-is191")]
    AtscIs191 = 2,
    /// The `early-limit` and `late-limit` properties.
    #[enum_value(name = "Custom limits (early-limit/late-limit)", nick = "custom")]
    Custom = 3,
}

impl Profile {
    /// The limits of a fixed profile; `None` for `Custom`.
    pub fn limits(self) -> Option<cues::Limits> {
        const MS: u64 = 1_000_000;
        let (early, late) = match self {
            Profile::Bt1359 => (45, 125),
            Profile::EbuR37 => (40, 60),
            Profile::AtscIs191 => (15, 45),
            Profile::Custom => return None,
        };
        Some(cues::Limits {
            early: early * MS,
            late: late * MS,
        })
    }

    pub fn nick(self) -> &'static str {
        match self {
            Profile::Bt1359 => "bt1359",
            Profile::EbuR37 => "ebu-r37",
            Profile::AtscIs191 => "atsc-is191",
            Profile::Custom => "custom",
        }
    }
}

glib::wrapper! {
    pub struct AvSyncMon(ObjectSubclass<imp::AvSyncMon>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    Profile::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "avsyncmon",
        gst::Rank::NONE,
        AvSyncMon::static_type(),
    )
}
