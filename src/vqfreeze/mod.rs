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
 * block means, motion does not. Re-encoding refreshes of a frozen picture (a weak, picture-wide
 * change followed by at least two still frames, below `refresh-threshold`) do not split a freeze.
 * A freeze is confirmed once the picture has been shown for `min-duration`; its start is the first
 * frame showing the frozen picture, its end (exclusive) the first frame showing a new one.
 *
 * Black: FFmpeg `blackdetect` semantics and defaults. A pixel is black when its luma is at or below
 * `black-pixel-threshold` of the luma range (16..235 for limited range, 0..255 for full range and
 * RGB); a picture is black when at least `black-picture-threshold` of its pixels are; a black
 * defect lasts at least `black-min-duration`. Black pictures are never reported as freezes.
 *
 * Stall: a gap of at least `stall-timeout` between the end of one frame and the start of the next,
 * in running time, is reported when the next frame arrives. In live pipelines a wall-clock watchdog
 * also reports the stall as soon as no frame has arrived for `stall-timeout`, and ends it when one
 * does.
 *
 * Stutter: runs of strictly repeated frames (bit-identical, below `noise`, or flagged GAP upstream)
 * that end before `stutter-max-duration` and do not fit the cadence of the last 48 frames
 * (pulldown, frame-rate conversion and animation on twos repeat periodically and are ignored). The
 * first such run opens a stutter defect; it stays open while runs keep coming and ends 2 s after
 * the last one, with the count, the longest run and the rate per minute.
 *
 * Reduced cost: `row-step=N` analyses every N-th luma row only (blocks become 16 pixels wide and
 * 16 analysed rows tall). Thresholds keep their meaning and timing stays exact to the frame; the
 * accuracy measured for N = 2 and 4 is in the README (at N = 4, motion confined to a line two
 * rows high is not seen). Changing `row-step` or `regions` while
 * playing restarts the comparison from the next frame.
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
 *   grain), `frames`, `exact-frames`, `flagged-frames`, `noisy-frames`, `refreshes` (guint64),
 *   `max-mafd`, `max-block-mad`, `max-ref-delta`, `noise-floor`, `mean-luma` (gdouble, 8-bit code
 *   values).
 * - black: `frames` (guint64), `min-black-ratio` (gdouble, 0..1), `max-mean-luma` (gdouble).
 * - stall: `source` (string: `timestamp-gap` or `watchdog`), `missing-frames` (guint64).
 * - stutter: `runs`, `repeated-frames`, `longest-run-frames` (guint64), `longest-run-duration`
 *   (guint64, ns), `rate-per-minute` (gdouble).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m uridecodebin uri=file:///path/to/file.mp4 ! vqfreeze min-duration=1000000000 ! fakesink
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
