// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

/**
 * plugin-vqmon:
 *
 * Inline audio/video quality monitoring: freezes, black, stalls and stutter (vqfreeze), block
 * corruption and blockiness (vqartifact), audio/video sync (avsyncmon), silence, loudness,
 * clipping and channel faults (vqaudio), posted as
 * `vqmon-defect` element messages with one shared model (see docs/messages.md), and collected into
 * JSON reports by vqreport.
 *
 * Since: 0.1.0
 */
use gst::glib;

pub mod avsyncmon;
pub mod event;
pub mod luma;
pub mod message;
pub mod regions;
pub mod transport;
pub mod vqartifact;
pub mod vqaudio;
pub mod vqfreeze;
pub mod vqinject;
pub mod vqreport;

pub use message::{
    DEFECT_STRUCTURE, DefectMessage, EndReason, INJECTION_STRUCTURE, MEASUREMENT_STRUCTURE,
    Measurement, Phase, Severity, Stamp,
};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    vqfreeze::register(plugin)?;
    avsyncmon::register(plugin)?;
    vqartifact::register(plugin)?;
    vqinject::register(plugin)?;
    vqaudio::register(plugin)?;
    vqreport::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    vqmon,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    // FIXME: MPL-2.0 is only allowed since 1.18.3 (as "MPL"), keep the short form GStreamer accepts
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
