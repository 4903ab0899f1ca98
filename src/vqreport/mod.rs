// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

/**
 * SECTION:element-vqreport
 *
 * vqreport collects the defects of every vqmon element in its pipeline and writes them as JSON
 * reports. It needs no wiring: add it anywhere in the pipeline, as a lone element without links,
 * and it finds every vqmon detector, in bins too and added later.
 *
 * Mechanism: when it goes to READY, vqreport enables sync-message emission on its top-level
 * pipeline's bus and connects to the `sync-message` signal. It thus sees every message in the
 * thread that posts it, without removing, delaying or reordering anything the application reads
 * from the bus, and alongside any sync handler the application has set. The handler only takes a
 * reference to the messages it wants (vqmon-defect, WARNING, ERROR, QOS, EOS) and hands them to
 * vqreport's own thread, which does all JSON formatting and file I/O.
 *
 * Reports (layout: docs/vqreport.schema.json, schema version 1):
 * - the final report, at EOS, or when the pipeline stops before EOS (then `"complete": false`).
 *   At EOS it is written before the application sees the EOS message: the file is complete and
 *   the `vqreport` message is on the bus ahead of EOS. It is
 *   written atomically to `location` (`-` for standard output; through `<location>.<pid>.tmp`,
 *   and such files of writers that died are removed at the next start), posted on the bus as a
 *   `vqreport` element message (fields `kind` = `final`, `complete`, `json`) and kept in the
 *   `report` property;
 * - with `interval` (0 = none, else at least 100 ms; shorter fails the change to READY), a
 *   summary every interval of wall-clock time: one NDJSON line on
 *   `ndjson-location` (appended, each line and its newline in one write, so a crash loses
 *   nothing already written and never leaves half a line; a write that fails part-way, on a full
 *   disk, is cut back off; a file left without a final newline gets one first, so a new line
 *   never glues onto a torn one) and a `vqreport` message with `kind` = `summary`; a summary lists the events that
 *   started, changed or ended since the previous one;
 * - with `event-lines`, every defect as its own NDJSON line the moment it starts, is updated and
 *   ends.
 *
 * Each report says what was watched (`watched`: the `label` property, the host, and every source
 * with a URI or file location, as URIs), names the pipeline and vqreport, lists what every
 * detector watched (caps, frames, duration, every setting, its `stats`), sums up each defect type
 * (count, open, total and longest duration with the longest event, first and last start), and
 * lists every event with its start and end times (PTS, running time, stream time, UTC for live
 * pipelines; the running times and the duration also in seconds: `start-seconds`, `end-seconds`,
 * `duration-seconds`), the running time it was detected at, the detector's evidence, and the pipeline messages (warnings, errors, QoS) within
 * 1 s of it. A point event (avsyncmon's `ts-discont`, `timeline-shift`) is a closed event that
 * ends at its start: duration 0, no end reason.
 *
 * Memory is bounded for 24/7 runs: the last 2 000 ended events (and every open one) and the last
 * 2 000 pipeline messages are kept in full; older ones are counted in `summary` (which covers
 * every defect of the run) and in `events-omitted` and `pipeline-messages-omitted`. A summary
 * line lists only the events that changed since the previous one.
 *
 * An application can add its own account of what it analysed and what not, and why: the
 * `analysis` property, a JSON object written into every report as `analysis` (`vqmon analyze`
 * sets it; docs/vqmon.md). Text that is not a JSON object fails the change to READY.
 *
 * An unwritable `location` or `ndjson-location` fails the change to READY with an error message.
 * A failed write of the final report posts an error, but the bus message and the `report`
 * property still carry it.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 uridecodebin uri=file:///path/to/clip.mp4 ! videoconvert ! vqfreeze ! fakesink vqreport location=report.json
 * ]|
 *
 * Since: 0.1.0
 */
use gst::glib;
use gst::prelude::*;

mod imp;
pub mod lines;
pub mod report;

pub use imp::REPORT_STRUCTURE;

glib::wrapper! {
    pub struct VqReport(ObjectSubclass<imp::VqReport>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "vqreport",
        gst::Rank::NONE,
        VqReport::static_type(),
    )
}
