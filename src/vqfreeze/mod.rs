// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

/**
 * SECTION:element-vqfreeze
 *
 * vqfreeze watches raw video inline and reports frozen pictures, black pictures, stalls (no frame
 * for too long) and stutter (short, off-cadence runs of repeated frames). Buffers pass through
 * untouched: the frame is mapped read-only, never copied or changed, and QoS is off so the
 * element never drops a frame itself.
 *
 * Freeze: luma is compared per 16x16 block with the previous frame and with the reference picture
 * held since the picture last changed. A picture is still when the mean absolute frame difference
 * is below `noise` (FFmpeg `freezedetect` semantics: a fraction of full scale, 0.001 = -60 dB, also
 * settable in dB with `noise-db`) and no block differs by more than `block-threshold`, so a small
 * moving object keeps the picture alive. With `grain-tolerant` (the default), changing grain or
 * noise over a still picture is discounted: noise raises every block alike and averages out of
 * block means, motion does not. Encoders refine and refresh a frozen picture: a weak change
 * (below `refresh-threshold`) followed by two still frames is a refresh, and does not split a
 * freeze; the refinement of the first repeat does not move its start; weak frames that keep the
 * frozen picture's block means (an I-frame, grain the encoder stops coding) do not move its end.
 * Still frames whose block means drift from the frozen picture by more than twice their
 * frame-to-frame jitter (and at least half `block-threshold`) are slow motion, not a freeze.
 * A freeze is confirmed once the picture has been shown for `min-duration` (default 0.3 s) and
 * longer than the stream's cadence shows a picture; its start is the first frame showing the
 * frozen picture, its end (exclusive) the first frame showing a new one. Its `severity` is
 * `minor`, and `major` from `alarm-duration` (default 2 s) on, with an `update` message when it
 * becomes major. FFmpeg `freezedetect` measures `d` from the first to the last frame shown, so
 * `freezedetect=d=D` reports what `min-duration` = D + one frame does; `severity=major` is what
 * its default reports.
 *
 * Black: FFmpeg `blackdetect` semantics. A pixel is black when its luma is at or below
 * `black-pixel-threshold` of the luma range (16..235 for limited range, 0..255 for full range and
 * RGB); a picture is black when at least `black-picture-threshold` of its pixels are; a black
 * defect lasts at least `black-min-duration` (default 0.3 s, blackdetect's `d`, whose default is
 * 2 s: the holds of fades through black are reported), with the same `severity`. A black picture
 * is never a freeze unless something visible on it is frozen (a block with at least 1/8 of its
 * pixels not black: credits, a logo); then it is black and a freeze.
 *
 * Stall: a gap of at least `stall-timeout` between the end of one frame and the start of the next,
 * in running time, is reported when the next frame arrives. In live pipelines a wall-clock watchdog
 * also reports the stall as soon as no frame has arrived for `stall-timeout`, and ends it when one
 * does.
 *
 * Stutter: hitches, pictures held off the cadence for less than `min-duration`. The cadence is the
 * mean number of frames a picture was shown over the last 64 frames, rounded up (frame-rate
 * conversion by repetition shows every picture for the whole numbers of frames around the rate
 * ratio, periodically or not: 2:3 pulldown, 24 to 25 fps, 10 or 8 to 25 fps). A hitch shows its
 * picture at least 2 frames and 100 ms longer than that, in moving content (a strong change into
 * the held picture and out of it); shorter extra holds are natural duplicates, counted in
 * `stats` (`duplicate-holds`), never a defect. The first hitch opens a stutter defect; it stays
 * open while hitches keep coming and ends 2 s after the last one, with the count, the longest
 * hold and the rate per minute.
 *
 * Reduced cost: `row-step=N` analyses every N-th luma row only (blocks become 16 pixels wide and
 * 16 analysed rows tall). Thresholds keep their meaning and timing stays exact to the frame; the
 * accuracy measured for N = 2 and 4 is in the README (at N = 4, motion confined to a line two
 * rows high is not seen). Changing `row-step` or `regions` while
 * playing restarts the comparison from the next frame.
 *
 * A `regions` value that cannot be honoured is an error, never a silent fallback: a malformed one
 * keeps the previous regions with a warning while playing and fails the next start (READY to
 * PAUSED) with the reason; regions that leave no 16x16 block of the picture fail negotiation (or
 * the stream, when changed while playing) with an error naming the picture size.
 *
 * Open defects are closed at EOS, flush, new segment, caps change and stop, with the reason. A
 * backwards timestamp closes them as `discont`. Buffers without timestamps are placed after the
 * previous frame (one warning is posted); a frame's duration is its buffer duration, else the caps
 * frame rate, else (variable frame rate) the step from the previous PTS. Buffers that cannot be
 * mapped (truncated, corrupt) pass through unanalysed, are counted in `stats`, and the first one
 * posts a warning. GAP events extend the last picture, so a signalled gap is not a stall.
 *
 * ## Messages
 *
 * Every message is an element message named `vqmon-defect` (see docs/messages.md), with `defect`
 * one of `freeze`, `black`, `stall`, `stutter`, and an `evidence` structure named after it:
 *
 * - freeze: `kind` (string: `exact` bit-identical repeats, `flagged` duplicates flagged GAP
 *   upstream, `content` still pixels with changing bytes, `noisy` still picture under changing
 *   grain), `severity` (string: `minor`, `major`), `frames`, `exact-frames`, `flagged-frames`,
 *   `noisy-frames`, `refreshes`, `black-frames` (guint64), `max-drift`, `jitter`, `max-mafd`,
 *   `max-block-mad`, `max-ref-delta`, `noise-floor`, `mean-luma` (gdouble, 8-bit code values).
 * - black: `severity` (string), `frames` (guint64), `min-black-ratio` (gdouble, 0..1),
 *   `max-mean-luma` (gdouble).
 * - stall: `source` (string: `timestamp-gap` or `watchdog`), `missing-frames` (guint64).
 * - stutter: `runs`, `repeated-frames`, `longest-run-frames` (guint64), `longest-run-duration`
 *   (guint64, ns), `rate-per-minute` (gdouble), `cadence-frames` (guint64).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m uridecodebin uri=file:///path/to/file.mp4 ! videoconvert ! vqfreeze ! fakesink
 * ]|
 *
 * Since: 0.1.0
 */
use gst::glib;
use gst::prelude::*;

mod imp;
pub mod stillness;
pub mod tracker;

glib::wrapper! {
    pub struct VqFreeze(ObjectSubclass<imp::VqFreeze>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "vqfreeze",
        gst::Rank::NONE,
        VqFreeze::static_type(),
    )
}
