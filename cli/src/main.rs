// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `vqmon`: the vqmon detectors as one command. `vqmon analyze` gives a QC verdict on files and
//! URIs; `vqmon monitor` watches a line-up of live streams as a service (docs/vqmon.md). The plugin is linked in and registered statically: no
//! `GST_PLUGIN_PATH` is needed.

mod analyze;
mod html;
mod input;
mod monitor;
mod plan;
mod profile;
mod set;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vqmon",
    version,
    about = "Inline audio/video quality monitoring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse files or URIs with every detector that applies, and give a verdict.
    ///
    /// Exit status: 0 when nothing at or above --fail-on was found, 1 when something was, 2 when
    /// an input could not be analysed.
    Analyze(AnalyzeArgs),
    /// Monitor a line-up of live streams: metrics for Prometheus, events to NDJSON and webhooks.
    Monitor {
        /// The configuration (TOML, docs/vqmon.md); SIGHUP or a change of the file reloads it.
        config: PathBuf,
    },
    /// List the shipped profiles (--profile NAME) and what each sets.
    Profiles,
}

/// How grave a defect is: the message model's severity.
pub use gstvqmon::Severity;

/// `--fail-on`: the severity names, listed in `--help`.
fn severity_arg() -> impl TypedValueParser<Value = Severity> {
    clap::builder::PossibleValuesParser::new([
        clap::builder::PossibleValue::new("minor").help(
            "Short or mild defects too (a freeze under its alarm duration, blockiness at \
             warning level, timestamp faults, stutter)",
        ),
        clap::builder::PossibleValue::new("major").help(
            "Only defects a viewer cannot miss (long freezes and black, corruption, blockiness \
             at alarm level, A/V offsets out of tolerance, stalls)",
        ),
    ])
    .map(|s| s.parse::<Severity>().expect("one of the possible values"))
}

#[derive(clap::Args)]
pub struct AnalyzeArgs {
    /// Media files or URIs (file://, http://, rtsp://, ...).
    #[arg(required = true, value_name = "FILE|URI")]
    pub inputs: Vec<String>,
    /// Write the JSON report (vqreport's schema) here; with several inputs, REPORT-1.json,
    /// REPORT-2.json, ... in the order given.
    #[arg(long, value_name = "REPORT.json")]
    pub report: Option<PathBuf>,
    /// Write the HTML report: one self-contained file with a timeline per detector and defect
    /// type, the measurements over time, and every event with its evidence and first frame
    /// (numbered as --report with several inputs).
    #[arg(long, value_name = "REPORT.html")]
    pub html: Option<PathBuf>,
    /// Write every defect as an NDJSON line as it starts, is updated and ends (numbered as
    /// --report with several inputs).
    #[arg(long, value_name = "EVENTS.ndjson")]
    pub ndjson: Option<PathBuf>,
    /// Threshold preset: a shipped profile (broadcast, ott, strict; see `vqmon profiles`) or a
    /// TOML file of your own. --set and --fail-on on the command line win over it.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    /// Set a detector property, e.g. vqfreeze.min-duration=500000000 (repeatable). The element
    /// is vqfreeze, vqartifact, avsyncmon or vqreport; it applies to every instance.
    #[arg(long = "set", value_name = "ELEMENT.PROPERTY=VALUE")]
    pub sets: Vec<String>,
    /// Fail (exit 1) on defects of this severity or graver [default: the profile's, else major].
    #[arg(long, value_parser = severity_arg())]
    pub fail_on: Option<Severity>,
    /// Stop after this much media time, in seconds (a live stream is watched until then, or until
    /// Ctrl-C). The report covers what was analysed.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub duration: Option<f64>,
    /// Inputs analysed at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// No progress bar and no defect lines while running; the summary only.
    #[arg(long, short)]
    pub quiet: bool,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = gst::init() {
        eprintln!("vqmon: GStreamer cannot start: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = gstvqmon::plugin_register_static() {
        eprintln!("vqmon: the vqmon elements cannot be registered: {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Analyze(args) => ExitCode::from(analyze::run(&args)),
        Command::Monitor { config } => ExitCode::from(monitor::run(&config)),
        Command::Profiles => match profile::listing() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vqmon: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// GStreamer with the vqmon elements, for the unit tests (once: registering the plugin from two
/// test threads at once is not safe).
#[cfg(test)]
fn test_init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gst::init().unwrap();
        gstvqmon::plugin_register_static().unwrap();
    });
}
