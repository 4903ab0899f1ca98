// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

/**
 * SECTION:element-vqaudio
 *
 * vqaudio watches raw audio inline and reports silence, channel loss, clipping, loudness and
 * true-peak violations and stereo phase faults, and measures loudness (EBU R128 / ITU-R BS.1770
 * with the `ebur128` crate). Buffers pass through untouched: each is mapped read-only and
 * unpacked 10 ms at a time into a scratch block allocated once per format. Any raw audio
 * GStreamer can unpack is accepted: integer and float, interleaved or not, 1 to 16 channels,
 * 8 to 192 kHz.
 *
 * Silence: FFmpeg `silencedetect` semantics (`silence-threshold`, default 0.001 = -60 dB, is its
 * `noise`; `silence-duration`, default 2 s, its `d`). A frame is silent when every channel's
 * sample magnitude is below the threshold; a `silence` defect runs from the first silent frame
 * of a run lasting at least `silence-duration` to the first frame that is not silent.
 *
 * Channel loss: one channel silent for `silence-duration` while another carries sound over that
 * time is a `channel-loss` defect for that channel (LFE channels are not watched unless
 * `ignore-lfe` is off: silent LFE is normal). `loss-channels`, a comma-separated list of channel
 * positions (`front-left`, `front-center`, `lfe1`, `rear-left`, ...) or numbers, watches those
 * channels only (and only their sound counts as another channel's); channels it names that the
 * audio does not have are a warning on the bus. An invalid `loss-channels` or
 * `loudness-standard` keeps the previous value, posts a warning, and fails the next start with
 * the reason.
 *
 * Clipping: `clip-min-run` (default 3) consecutive samples of one channel at the format's full
 * scale (1 LSB below it for integer formats; beyond it for float), or at `clip-level-db` for a
 * flat top below full scale, make one clip. Clips less than `hold` (1 s) apart form one
 * `clipping` defect, which ends at the end of its last clip.
 *
 * Loudness: a `loudness` measurement every `measurement-interval` (1 s) gives momentary,
 * short-term and integrated loudness (LUFS), loudness range (LU), the true peak and sample peak
 * over the interval (dBTP, dBFS), the largest DC offset of a channel over the interval (fraction
 * of full scale) and the stereo correlation. With a `loudness-standard` (`ebu-r128`: -23 LUFS
 * +/-1 LU, -1 dBTP; `atsc-a85`: -24 LKFS +/-2, -2 dBTP; `streaming-14`, `streaming-16`: +/-1 LU,
 * -1 dBTP; or `custom` values in `target-loudness`, `loudness-tolerance`, `true-peak-limit`):
 * short-term loudness outside the window for `loudness-min-duration` (10 s) is a `loudness`
 * defect (silence below the -70 LUFS absolute gate does not count); a 10 ms block whose true peak
 * is above the limit opens a `true-peak` defect, which ends `hold` after the last such block;
 * at EOS a `loudness-verdict` measurement gives `pass` or `fail` for the integrated loudness and
 * the true peak, and a failed verdict is also a point `loudness` defect with `scope` =
 * `integrated`. The default standard is `none`: loudness is measured, never judged.
 *
 * Phase: the correlation of the stereo pair (front left and right) over the last 3 s, both
 * channels carrying sound, at or below -`phase-threshold` (0.5) is a `phase` defect (inverted
 * polarity); at or above `mono-threshold` (0.995) with `expect-stereo` it is a `mono` defect
 * (dual mono). Transitions are placed to 100 ms.
 *
 * Open defects are closed at EOS, flush, new segment, caps change and stop, with the reason; a
 * timestamp going back closes them as `discont`. A timestamp gap (audio lost) neither starts nor
 * ends a defect, and the time it covers counts as neither silence nor sound; so does a GAP
 * event. Timestamps within 40 ms of where the samples before them end (jitter, drift) are taken
 * as contiguous: times are counted from the samples, as audio sinks do. Buffers without timestamps are placed after the previous one (one warning is posted).
 * Buffers that do not hold whole frames pass through unanalysed, are counted in `stats`, and the
 * first one posts a warning.
 *
 * ## Messages
 *
 * Defects are `vqmon-defect` element messages (see docs/messages.md), `defect` one of `silence`,
 * `channel-loss`, `clipping`, `true-peak`, `loudness`, `phase`, `mono`, with evidence:
 *
 * - silence: `max-level-db`, `threshold-db` (gdouble, dBFS; -200 stands for digital zero).
 * - channel-loss: `channel` (guint), `position` (string), `max-level-db`, `threshold-db`.
 * - clipping: `clips`, `clipped-samples` (guint64), `channels` (string, comma-separated
 *   indices), `peak-db` (gdouble).
 * - true-peak: `max-true-peak-db`, `limit-db` (gdouble), `overs` (guint64, 10 ms blocks).
 * - loudness: `scope` (`short-term` or `integrated`), `loudness`, `target`, `tolerance`, then
 *   `min-short-term`, `max-short-term` (short-term) or `loudness-range`, `max-true-peak-db`
 *   (integrated).
 * - phase, mono: `correlation`, `threshold` (gdouble).
 *
 * Measurements are `vqmon-measurement` messages named `loudness` and `loudness-verdict`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m uridecodebin uri=file:///path/to/file.mp4 ! audioconvert ! vqaudio loudness-standard=ebu-r128 ! fakesink
 * ]|
 *
 * Since: 0.1.0
 */
use gst::glib;
use gst::prelude::*;

pub mod detect;
mod imp;

glib::wrapper! {
    pub struct VqAudio(ObjectSubclass<imp::VqAudio>)
        @extends gst_audio::AudioFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "vqaudio",
        gst::Rank::NONE,
        VqAudio::static_type(),
    )
}
