// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

/**
 * SECTION:element-vqartifact
 *
 * vqartifact watches raw video inline for block corruption (packet loss, decoder errors,
 * concealment), for frames the decoder dropped, and for compression blockiness. Buffers pass
 * through untouched (the frame is mapped read-only, QoS is off) unless `draw` is set.
 *
 * One pass over the luma measures, for every 16x16 cell (macroblock), the step across each of its
 * four edges against the steps just beside it, its interior activity and its mean, and the
 * picture's column and row gradient profiles.
 *
 * Corruption: a cell is *boxed* when at least `sides-min` of its edges step by `edge-step` code
 * values more than, and `edge-ratio` times, the steps beside them (misplaced or wrongly predicted
 * macroblocks; while the smoothed blockiness is below `blockiness-warning`, the coding leaves no
 * grid edge of its own and `clean-edge-step` applies instead, and so does a box of fainter edges,
 * 0.6 of the step, around a cell whose mean jumped by 3 or more since the last frame within a shot:
 * a concealed block that popped up, counted in the clusters of the next 2 frames too, as one
 * loss's blocks appear over successive frames); *fill* when it is exactly constant
 * at a concealment colour (green: luma below the black level, as all-zero YUV renders; grey:
 * mid-level) next to a textured cell; *smear* when its rows (or columns) repeat exactly while it
 * has structure the other way and the cell below or above (beside) is smeared too (rows copied
 * down, streaks; at a hard cut, where a new shot's straight edges repeat row after row too, only
 * in a slice's tail: the three picture rows' worth of cells from or to it in raster order,
 * fewer at the picture's end or start but at least one row, are 80 % without structure along
 * the copy direction and a quarter of them copied lines); *stale* when, at a hard cut, a
 * textured cell that usually changes kept its content (concealment from the old picture), or,
 * within a shot on such clean coding, when it is part of a *copied slice*: from some cell in raster
 * order (where a slice's damage begins) to the end, at least 8 cells that moved (mean change of 3
 * or more) in the last frame stopped dead (under 0.25) while 70 % of those before it still changed
 * and at least 8 of them, and a quarter as many as stopped, moved by 3 again (70 % of the voters
 * after it stopped; a repeated picture stops everything, but for what its encoder refines a little,
 * and is no copied slice), the next frame moves half of them again and the one after does not stop
 * 90 % of them dead again (content on twos does): a decoder concealing the slice by copying the
 * last picture. Cells that stopped dead after moving in the 24 frames before do not count (content
 * on threes, for instance). It is confirmed two frames late and the event starts on the copied
 * frame. Only new flags count: not seen in the
 * cell in the previous frame(s), and not in a *chronic* cell (flagged in more than
 * `chronic-fraction` of about the last 250 frames: logos, pillarbox edges, tickers, screen
 * content). On such clean coding a textured cell with *seams* new in this frame on two sides or
 * more (blocky sides across texture: the mean step beside them is 2 or more; a seam running on
 * straight over 4 cells or more is the edge of something new on the grid and does not count) is
 * *displaced*: a macroblock decoded with a wrong motion vector, its content shifted against the
 * texture around it (counted as boxed). A frame triggers when at
 * least `cluster-min` new cells lie within `cluster-radius` cells of one (twice as many at a scene
 * cut, see `scenecut-threshold`), or 2 displaced cells, of this frame or held from the last two
 * within the shot, lie within `cluster-radius` rows of one of this frame's (the event then starts
 * on the oldest), and their count exceeds by 2 the 95th
 * percentile of the channel's
 * own recent frames over `baseline-window` (learnt from the first second on; frames of events older
 * than 2 s feed it too, so a persistently bad channel raises its own bar). While the smoothed
 * blockiness is at alarm level, or the frame's score jumps by more than 1 above its last second's
 * (a change of coding, which local damage does not cause), boxed and smeared cells are the codec's
 * own and only fills and stale cells count. A buffer flagged CORRUPTED by the decoder
 * (`use-decoder-flags`) and frames missing from the timeline (`use-lost-frames`: a timestamp gap in
 * a stream of fixed frame rate, since decoders drop what they cannot repair and do not pass DISCONT
 * on; in variable-rate streams only a gap before a DISCONT buffer) are evidence too, and so are
 * transport errors (`use-transport-errors`): the continuity warnings an upstream demuxer (tsdemux)
 * posts on the bus for a stream that feeds this element, read through sync-message emission (the
 * application keeps its bus). The error lands on the frame the demuxer pushes next; an error while
 * an event is open is fused into it. tsdemux discards the damaged unit, so the frames predicted
 * from it are damaged until the next picture decodable on its own; once the stream has shown 25
 * units that are all reference pictures (H.264, H.265, MPEG-2, read from the demuxer's output after
 * the first error), the event lasts to that recovery point (at most 10 s). With non-reference
 * pictures in the stream the lost unit may have been one, and the event keeps the extent the other
 * evidence gives. The first evidence opens a `corruption` defect (for lost frames it starts where
 * the first missing frame was due); it stays open while evidence continues and for `hangover` after
 * the last (propagated damage is smeared, not blocky, and is not seen again), and ends at the end
 * of the last frame with evidence. Damage the pixels show is carried further along the prediction
 * chain (`propagate-damage`): from the caps on, the element reads the pictures of the encoded
 * stream upstream (the nearest H.264, H.265 or MPEG-2 video pad, a parser's output, with start
 * codes or MP4's length-prefixed units), matches them to the decoded frames by running time, and,
 * once the stream has shown a picture decodable on its own (IDR, IRAP or I picture), keeps the
 * event open from a frame with pixel evidence to the next such picture, where it ends at once
 * (at most 10 s), as does any event open then: damage on or after it is a new event, and the
 * hangover does not join them. Before the first such picture read (the stream's first one was
 * decoded before the caps reached the element), an event with pixel evidence still open there
 * (within the hangover) lasts to it too. Damage on a picture nothing is predicted
 * from ends with it, but cannot be told from damage inherited from a reference shown after it,
 * and is carried all the same.
 *
 * Blockiness: per frame, the mean horizontal (vertical) step on the 8-pixel grid lines over the
 * mean step elsewhere (each column or row capped at 4 times the mean and 16 times the median, so a
 * few sharp edges of graphics or bars on the grid are not a grid, on flat pictures too), the larger
 * of both directions (1.0 = no visible grid), from that frame alone; `score-16` is the same on the
 * 16-pixel grid. With `estimate-grid`, the grid's period and phase are estimated every second from
 * the profiles accumulated over that second, so upscaled (fractional grids) and shifted video is
 * scored on its real grid. The score smoothed over 1 s that stays above `blockiness-warning` for
 * `blockiness-min-duration` opens a `blockiness` defect; it becomes an alarm (update message) once
 * above `blockiness-alarm` for as long, and ends at the first frame back below the warning level.
 * With `measurement-interval`, a `blockiness` vqmon-measurement is posted at that interval for time
 * series.
 *
 * Crop metadata: when buffers carry a #GstVideoCropMeta, only the visible rectangle is analysed;
 * cells stay on the coded grid (the first whole cell inside the rectangle), and the reported
 * boxes are in buffer pixels.
 *
 * `draw` outlines the cells flagged new in each frame in the luma plane (white: boxed; black:
 * fill, smear and stale) so a person can see what the element saw; the element then writes to
 * every frame (8-bit planar luma only).
 *
 * `frame-step` N analyses the pixels of every N-th frame only (timestamps, decoder flags and lost
 * frames still on every frame); `frame-step-phase` chooses which, by default one per instance so
 * that many streams started together spread the work over the N frames. `stats` reports
 * `frames`, `analysed-frames`, `duration` (ns of stream time seen), the `frame-step-phase` in use,
 * event and input-problem counters and the last blockiness score and grid.
 *
 * Open defects are closed at EOS, flush, new segment, stream start, caps change and stop, with the
 * reason; a backwards timestamp closes them as `discont` at the previous frame's end. Buffers
 * without timestamps are placed after the previous frame (one warning); buffers that cannot be
 * mapped pass through unanalysed, are counted in `stats` and the first posts a warning.
 *
 * ## Messages
 *
 * Element messages named `vqmon-defect` (see docs/messages.md), `defect` one of:
 *
 * - corruption: `source` (string: the kinds of evidence joined by `+`: `pixels`, `decoder` for the
 *   CORRUPTED flag or lost frames, `transport` for demuxer continuity errors), `signature`
 *   (string, the dominant evidence: `boxed`, `fill-green`, `fill-grey`, `smear`, `stale`,
 *   `decoder`, `startup-unrecovered` for flagged frames before the decoder ever recovered,
 *   `lost-frames`, `transport-errors`), `x`, `y`, `width`, `height` (guint64, pixel box of all
 *   flagged clusters, the whole picture without pixel evidence), `mb-row-first`, `mb-row-last`
 *   (guint64, 16-pixel rows), `area-fraction` (gdouble, peak flagged cells over all cells),
 *   `peak-cells`, `frames`, `pixel-frames`, `decoder-frames`, `lost-frames`, `transport-frames`,
 *   `transport-errors`, `propagated-frames` (carried from a damaged picture), `boxed-cells`,
 *   `fill-cells`, `smear-cells`, `stale-cells` (guint64),
 *   `mean-cells`, `blockiness` (gdouble, peak score during the event), `scene-cut` (gboolean).
 * - blockiness: `severity` (string: `warning`, `alarm`), `frames` (guint64), `peak-score`,
 *   `mean-score`, `peak-score-16`, `grid-period-x`, `grid-phase-x`, `grid-period-y`,
 *   `grid-phase-y` (gdouble).
 *
 * Measurement `blockiness` (`vqmon-measurement`): `score`, `score-16`, `smoothed`, `mean`, `min`,
 * `max` (gdouble), `frames`, `corrupted-frames` (guint64), and the grid (gdouble).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m uridecodebin uri=file:///path/to/file.ts ! vqartifact ! fakesink
 * ]|
 *
 * Since: 0.1.0
 */
use gst::glib;
use gst::prelude::*;

pub mod cells;
pub mod decide;
pub mod events;
pub mod features;
pub mod grid;
mod imp;

glib::wrapper! {
    pub struct VqArtifact(ObjectSubclass<imp::VqArtifact>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "vqartifact",
        gst::Rank::NONE,
        VqArtifact::static_type(),
    )
}
