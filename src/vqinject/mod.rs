// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

/**
 * SECTION:element-vqinject
 *
 * vqinject inserts known defects at known times into a raw video or raw audio stream (one
 * element per stream; the same schedule can be given to both, each takes the entries of its
 * media), so a pipeline can test and calibrate its own monitoring. It posts what it injected as
 * ground truth: `vqmon-injection` element messages with exactly the fields of a `vqmon-defect`
 * message (start and end, times of the first affected buffer, exclusive end), whose `defect` is
 * what a vqmon detector should report.
 *
 * The schedule is the `schedule` property and/or the file `location` (a regular file of at most
 * 1 MiB; anything else fails the start with the reason): entries
 * `kind@start+duration[:params]` separated by `;` or newlines (`#` comments), times in running
 * time with a unit (`ns`, `us`, `ms`, `s`, `m`, `h`):
 *
 * | kind | media | what it does | expected defect |
 * |---|---|---|---|
 * | `freeze[:noise=N]` | video | repeats the first picture of the window (N > 0: +/- N luma noise, a re-encoded look) | `freeze` |
 * | `black` | video | black luma (16, or 0 full range), neutral chroma; RGB all zero | `black` |
 * | `drop` | video | drops every frame: a gap in timestamps | `stall` |
 * | `stutter[:every=N,hold=D]` | video | hitches: holds a picture for D (default 200 ms, at least three frames), then shows about N (default 20) frames irregularly before the next | `stutter` |
 * | `corrupt[:area=F]` | video | concealment-failure damage in a macroblock-aligned region covering F of the picture: misplaced macroblocks, grey and green fills, smeared rows | `corruption` |
 * | `blocky[:q=N]` | video | re-quantises every 8x8 luma block (step N) | `blockiness` |
 * | `offset:D` | audio | delays the audio content by D (timestamps stay honest) | `av-offset` |
 * | `drift:Nppm` | audio | audio timestamps run off the content clock by N ppm (the shift stays after the window) | `clock-drift` |
 * | `gap` | audio | drops audio buffers | `ts-discont` |
 * | `silence` | audio | silence | `silence` |
 * | `clip[:gain=NdB]` | audio | a gain of N dB (default 12) limited at full scale: the waveform clips | `clipping` |
 * | `gain:NdB` | audio | a gain of N dB (+ or -): a loudness step | `loudness` |
 * | `mute[:channel=C]` | audio | zeroes channel C (default 1, the second) | `channel-loss` |
 * | `invert[:channel=C]` | audio | inverts the polarity of channel C (default 1) | `phase` |
 *
 * The `inject` action signal takes one entry at run time (`freeze+2s` starts at the next buffer).
 * Every random choice derives from `seed`, so a run is repeatable. While nothing is due the
 * element is in passthrough: buffers are neither copied nor touched, and an empty schedule
 * changes no byte of the stream.
 *
 * Limits: audio can only be delayed, not advanced (that would need samples that have not arrived);
 * `offset` needs interleaved audio; `corrupt` and `blocky` need a writable luma plane (not packed
 * RGB). Injections still open at EOS, flush, caps change or stop end there, with the reason.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m videotestsrc pattern=ball num-buffers=500 ! vqinject schedule="freeze@5s+3s" ! vqfreeze ! fakesink
 * ]|
 *
 * Since: 0.1.0
 */
use gst::glib;
use gst::prelude::*;

mod imp;
pub mod picture;
pub mod schedule;

glib::wrapper! {
    pub struct VqInject(ObjectSubclass<imp::VqInject>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "vqinject",
        gst::Rank::NONE,
        VqInject::static_type(),
    )
}
