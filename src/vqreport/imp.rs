// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

// Threads: the bus's sync-message handler runs in whatever thread posts a message; it only refs the
// message into a channel. vqreport's own worker thread owns the collected state, formats JSON and
// does all file I/O. Locks (`settings`, `running`, `latest`) are never held across a channel wait,
// a post or a write.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::lines::LineWriter;
use super::report::{
    Collector, Detector, Generator, PipelineMessage, Report, ReportKind, Source, Watched,
    location_uri, structure_to_json, value_to_json,
};
use crate::message::{self, DEFECT_STRUCTURE, DefectMessage, Phase};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "vqreport",
        gst::DebugColorFlags::empty(),
        Some("vqmon report aggregator"),
    )
});

/// Name of the element message vqreport posts with each report.
pub const REPORT_STRUCTURE: &str = "vqreport";

const DEFAULT_INTERVAL: u64 = 0;
/// Shortest summary interval: a summary is a report; more often than this it is a flood (1 ns
/// wrote 18 MB/s).
const MIN_INTERVAL: u64 = 100_000_000;
const DEFAULT_EVENT_LINES: bool = false;
const DEFAULT_POST_MESSAGES: bool = true;
/// How long a state change waits for the final report to be written.
const FINISH_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    ndjson_location: Option<String>,
    interval: u64,
    event_lines: bool,
    post_messages: bool,
    label: Option<String>,
    /// The application's account of what it analysed (a JSON object), checked at start.
    analysis: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: None,
            ndjson_location: None,
            interval: DEFAULT_INTERVAL,
            event_lines: DEFAULT_EVENT_LINES,
            post_messages: DEFAULT_POST_MESSAGES,
            label: None,
            analysis: None,
        }
    }
}

enum Cmd {
    Message(gst::Message),
    /// A buffer flagged CORRUPTED passed `pad` of `element`.
    Corrupted {
        element: String,
        pad: String,
        pts: Option<gst::ClockTime>,
        running_time: Option<gst::ClockTime>,
    },
    Finish {
        complete: bool,
        done: mpsc::Sender<()>,
    },
    Quit,
}

struct Running {
    bus: gst::Bus,
    handler: Option<glib::SignalHandlerId>,
    top: gst::Bin,
    added_handler: Option<glib::SignalHandlerId>,
    probes: Arc<Mutex<Vec<(gst::Pad, gst::PadProbeId)>>>,
    tx: mpsc::Sender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
pub struct VqReport {
    settings: Mutex<Settings>,
    running: Mutex<Option<Running>>,
    latest: Arc<Mutex<Option<String>>>,
}

#[glib::object_subclass]
impl ObjectSubclass for VqReport {
    const NAME: &'static str = "GstVqReport";
    type Type = super::VqReport;
    type ParentType = gst::Element;
}

impl ObjectImpl for VqReport {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("File for the final JSON report, written atomically at EOS or stop ('-' = standard output, unset = none)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("ndjson-location")
                    .nick("NDJSON location")
                    .blurb("File to append NDJSON lines to (interval summaries, event lines, the final report), flushed line by line ('-' = standard output)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("interval")
                    .nick("Interval")
                    .blurb("Interval (ns, wall clock) of summary lines on ndjson-location and on the bus (0 = none, else at least 100 ms)")
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("event-lines")
                    .nick("Event lines")
                    .blurb("Write every defect to ndjson-location the moment it starts, is updated and ends")
                    .default_value(DEFAULT_EVENT_LINES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post each report as a 'vqreport' element message carrying the JSON")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("label")
                    .nick("Label")
                    .blurb("The stream's name for the operator, written into every report (watched.label)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("analysis")
                    .nick("Analysis")
                    .blurb("The application's account of what it analysed and what not, and why (a JSON object), written into every report as 'analysis'")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("report")
                    .nick("Report")
                    .blurb("The latest report (JSON)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => {
                s.location = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|l| !l.is_empty())
            }
            "ndjson-location" => {
                s.ndjson_location = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|l| !l.is_empty())
            }
            "interval" => s.interval = value.get().expect("type checked upstream"),
            "event-lines" => s.event_lines = value.get().expect("type checked upstream"),
            "post-messages" => s.post_messages = value.get().expect("type checked upstream"),
            "label" => {
                s.label = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|l| !l.is_empty())
            }
            "analysis" => {
                s.analysis = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .filter(|l| !l.is_empty())
            }
            _ => unimplemented!(),
        }
        gst::info!(CAT, imp = self, "{} set", pspec.name());
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location.to_value(),
            "ndjson-location" => s.ndjson_location.to_value(),
            "interval" => s.interval.to_value(),
            "event-lines" => s.event_lines.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "label" => s.label.to_value(),
            "analysis" => s.analysis.to_value(),
            "report" => self.latest.lock().unwrap().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for VqReport {}

impl ElementImpl for VqReport {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "vqmon report",
                "Generic",
                "Collects every vqmon defect of its pipeline, with the pipeline's warnings, errors and QoS, into JSON reports",
                "The vqmon developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        &[]
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::NullToReady => self.start()?,
            gst::StateChange::PausedToReady => self.finish(false),
            gst::StateChange::ReadyToNull => self.stop(),
            _ => (),
        }
        self.parent_change_state(transition)
    }
}

impl VqReport {
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        let obj = self.obj();
        let mut top: gst::Object = obj.clone().upcast();
        while let Some(p) = top.parent() {
            top = p;
        }
        let Ok(top) = top.downcast::<gst::Bin>() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::StateChange,
                ("vqreport must be placed in a pipeline")
            );
            return Err(gst::StateChangeError);
        };
        let Some(bus) = top.bus() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::StateChange,
                ("vqreport found no bus on its pipeline {}", top.name())
            );
            return Err(gst::StateChangeError);
        };
        if settings.interval > 0 && settings.interval < MIN_INTERVAL {
            gst::element_imp_error!(
                self,
                gst::LibraryError::Settings,
                (
                    "interval must be 0 (no summaries) or at least {} ms, not {} ns",
                    MIN_INTERVAL / 1_000_000,
                    settings.interval
                )
            );
            return Err(gst::StateChangeError);
        }
        let analysis = match settings
            .analysis
            .as_deref()
            .map(analysis_object)
            .transpose()
        {
            Ok(a) => a,
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Settings,
                    ("analysis must be a JSON object: {}", e)
                );
                return Err(gst::StateChangeError);
            }
        };
        if let Some(loc) = settings.location.as_deref().filter(|l| *l != "-")
            && let Err(e) = check_writable(Path::new(loc))
        {
            gst::element_imp_error!(
                self,
                gst::ResourceError::OpenWrite,
                ("Cannot write the report to '{}': {}", loc, e)
            );
            return Err(gst::StateChangeError);
        }
        let ndjson = match settings.ndjson_location.as_deref() {
            None => None,
            Some(loc) => match LineWriter::open(loc) {
                Ok(w) => Some(w),
                Err(e) => {
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::OpenWrite,
                        ("Cannot open '{}' for NDJSON lines: {}", loc, e)
                    );
                    return Err(gst::StateChangeError);
                }
            },
        };

        let (tx, rx) = mpsc::channel();
        let handler_tx = tx.clone();
        bus.enable_sync_message_emission();
        let handler = bus.connect_sync_message(None, move |_, msg| {
            if let gst::MessageView::Eos(_) = msg.view() {
                // Finish before the application sees EOS: the report is then written, in the
                // property, and its bus message queued ahead of EOS.
                let (done, wait) = mpsc::channel();
                if handler_tx
                    .send(Cmd::Finish {
                        complete: true,
                        done,
                    })
                    .is_ok()
                {
                    let _ = wait.recv_timeout(FINISH_TIMEOUT);
                }
            } else if wanted(msg) {
                let _ = handler_tx.send(Cmd::Message(msg.clone()));
            }
        });
        // Buffers flagged CORRUPTED: probe decoders' outputs and detectors' inputs, including
        // elements added later.
        let probes = Arc::new(Mutex::new(Vec::new()));
        for e in top.iterate_recurse().into_iter().flatten() {
            probe_element(&e, &tx, &probes);
        }
        let added_tx = tx.clone();
        let added_probes = probes.clone();
        let added_handler = top.connect_deep_element_added(move |_, _, e| {
            probe_element(e, &added_tx, &added_probes);
        });
        let mut worker = Worker {
            element: obj.downgrade(),
            top: top.downgrade(),
            pipeline: top.name().to_string(),
            name: obj.name().to_string(),
            settings,
            ndjson,
            latest: self.latest.clone(),
            collector: Collector::default(),
            analysis,
            touched: Vec::new(),
            finished: false,
        };
        *self.latest.lock().unwrap() = None;
        let thread = std::thread::Builder::new()
            .name("vqreport".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::StateChange,
                    ("Cannot start the report thread: {}", e)
                );
                gst::StateChangeError
            })?;
        *self.running.lock().unwrap() = Some(Running {
            bus,
            handler: Some(handler),
            top: top.clone(),
            added_handler: Some(added_handler),
            probes,
            tx,
            thread: Some(thread),
        });
        gst::debug!(CAT, imp = self, "collecting from pipeline {}", top.name());
        Ok(())
    }

    /// Writes the final report unless EOS already did, and waits until it is out.
    fn finish(&self, complete: bool) {
        let tx = self.running.lock().unwrap().as_ref().map(|r| r.tx.clone());
        let Some(tx) = tx else { return };
        let (done_tx, done_rx) = mpsc::channel();
        if tx
            .send(Cmd::Finish {
                complete,
                done: done_tx,
            })
            .is_ok()
            && done_rx.recv_timeout(FINISH_TIMEOUT).is_err()
        {
            gst::warning!(CAT, imp = self, "the final report took too long to write");
        }
    }

    fn stop(&self) {
        let Some(mut running) = self.running.lock().unwrap().take() else {
            return;
        };
        if let Some(h) = running.handler.take() {
            running.bus.disconnect(h);
        }
        running.bus.disable_sync_message_emission();
        if let Some(h) = running.added_handler.take() {
            running.top.disconnect(h);
        }
        for (pad, id) in running.probes.lock().unwrap().drain(..) {
            pad.remove_probe(id);
        }
        let _ = running.tx.send(Cmd::Quit);
        if let Some(t) = running.thread.take() {
            let _ = t.join();
        }
    }
}

/// Probes the pads through which corrupted buffers are seen: decoder outputs, detector inputs.
fn probe_element(
    e: &gst::Element,
    tx: &mpsc::Sender<Cmd>,
    probes: &Arc<Mutex<Vec<(gst::Pad, gst::PadProbeId)>>>,
) {
    let Some(factory) = e.factory() else { return };
    let klass = factory
        .metadata(gst::ELEMENT_METADATA_KLASS)
        .unwrap_or_default();
    let detector =
        factory.plugin_name().as_deref() == Some("vqmon") && factory.name() != "vqreport";
    let pads: Vec<gst::Pad> = if detector {
        e.static_pad("sink").into_iter().collect()
    } else if klass.contains("Decoder") {
        e.src_pads()
    } else {
        return;
    };
    let element = e.name().to_string();
    for pad in pads {
        let tx = tx.clone();
        let element = element.clone();
        let pad_name = pad.name().to_string();
        let id = pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buf) = info.buffer()
                && buf.flags().contains(gst::BufferFlags::CORRUPTED)
            {
                let running_time = crate::event::pad_running_time(pad, buf);
                let _ = tx.send(Cmd::Corrupted {
                    element: element.clone(),
                    pad: pad_name.clone(),
                    pts: buf.pts(),
                    running_time,
                });
            }
            gst::PadProbeReturn::Ok
        });
        if let Some(id) = id {
            probes.lock().unwrap().push((pad, id));
        }
    }
}

/// The messages a report needs; decided in the posting thread, so kept cheap.
fn wanted(msg: &gst::Message) -> bool {
    use gst::MessageView;
    match msg.view() {
        MessageView::Element(e) => e.structure().is_some_and(|s| s.name() == DEFECT_STRUCTURE),
        MessageView::Warning(_) | MessageView::Error(_) | MessageView::Qos(_) => true,
        _ => false,
    }
}

/// Checks that a file can be created next to `path` (the atomic write needs its directory),
/// and removes the temporary files that writers of `path` killed mid-write left there.
fn check_writable(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::other("it is a directory"));
    }
    let probe = temp_path(path, std::process::id());
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)?;
    remove_stale_temp_files(path);
    Ok(())
}

/// `<path>.<pid>.tmp`: where process `pid` writes the report before renaming it to `path`.
fn temp_path(path: &Path, pid: u32) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{pid}.tmp"));
    path.with_file_name(name)
}

/// Removes `<path>.<pid>.tmp` files of processes that no longer run.
fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let file = file.to_string_lossy();
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".tmp"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            gst::info!(
                CAT,
                "removing {}, left by a writer that died",
                e.path().display()
            );
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same directory, synced, renamed.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path, std::process::id());
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[derive(serde::Serialize)]
#[serde(rename_all = "kebab-case")]
struct EventLine<'a> {
    kind: &'static str,
    phase: &'static str,
    event: &'a super::report::EventRecord,
}

struct Worker {
    element: glib::WeakRef<super::VqReport>,
    top: glib::WeakRef<gst::Bin>,
    pipeline: String,
    name: String,
    settings: Settings,
    ndjson: Option<LineWriter>,
    latest: Arc<Mutex<Option<String>>>,
    collector: Collector,
    /// The `analysis` property, parsed when the element started.
    analysis: Option<serde_json::Value>,
    /// Events touched since the last summary (element, id).
    touched: Vec<(String, u64)>,
    finished: bool,
}

impl Worker {
    fn run(&mut self, rx: mpsc::Receiver<Cmd>) {
        let interval =
            (self.settings.interval > 0).then(|| Duration::from_nanos(self.settings.interval));
        let mut next_summary = interval.map(|i| Instant::now() + i);
        loop {
            let cmd = match next_summary {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(c) => c,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.summary();
                        next_summary = interval.map(|i| at + i);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => break,
                },
            };
            match cmd {
                Cmd::Message(m) => self.handle(&m),
                Cmd::Corrupted {
                    element,
                    pad,
                    pts,
                    running_time,
                } => self.collector.add_pipeline_message(PipelineMessage {
                    kind: "corrupted".into(),
                    element,
                    running_time: running_time.map(gst::ClockTime::nseconds),
                    text: "buffer flagged CORRUPTED".into(),
                    details: serde_json::json!({
                        "pad": pad,
                        "pts": pts.map(gst::ClockTime::nseconds),
                    }),
                }),
                Cmd::Finish { complete, done } => {
                    if !self.finished {
                        self.final_report(complete);
                    }
                    let _ = done.send(());
                }
                Cmd::Quit => break,
            }
        }
    }

    fn now_running_time(&self) -> Option<u64> {
        self.top
            .upgrade()
            .and_then(|t| t.current_running_time())
            .map(gst::ClockTime::nseconds)
    }

    fn handle(&mut self, msg: &gst::Message) {
        use gst::MessageView;
        let src = msg
            .src()
            .map_or_else(|| "unknown".to_string(), |s| s.path_string().to_string());
        match msg.view() {
            MessageView::Element(_) => {
                if let Some(Ok(d)) = DefectMessage::from_message(msg) {
                    if self.finished {
                        return;
                    }
                    let i = self.collector.add_defect(&d);
                    // Only summaries read what changed: without them, keep nothing.
                    let key = (d.element.clone(), d.id);
                    if self.settings.interval > 0 && !self.touched.contains(&key) {
                        self.touched.push(key);
                    }
                    if self.settings.event_lines {
                        let line = EventLine {
                            kind: "event",
                            phase: d.phase.as_str(),
                            event: &self.collector.events()[i],
                        };
                        if let Ok(json) = serde_json::to_string(&line) {
                            self.write_line(&json);
                        }
                    }
                    if d.phase == Phase::Start {
                        gst::debug!(CAT, "{} {} from {}", d.defect, d.phase.as_str(), d.element);
                    }
                }
            }
            MessageView::Warning(w) => self.collector.add_pipeline_message(PipelineMessage {
                kind: "warning".into(),
                element: src,
                running_time: self.now_running_time(),
                text: w.error().to_string(),
                details: serde_json::json!({ "debug": w.debug().map(|d| d.to_string()) }),
            }),
            MessageView::Error(e) => self.collector.add_pipeline_message(PipelineMessage {
                kind: "error".into(),
                element: src,
                running_time: self.now_running_time(),
                text: e.error().to_string(),
                details: serde_json::json!({ "debug": e.debug().map(|d| d.to_string()) }),
            }),
            MessageView::Qos(q) => {
                let (live, running_time, _, timestamp, _) = q.get();
                let (processed, dropped) = q.stats();
                self.collector.add_pipeline_message(PipelineMessage {
                    kind: "qos".into(),
                    element: src,
                    running_time: running_time.map(gst::ClockTime::nseconds),
                    text: "buffer dropped or late".into(),
                    details: serde_json::json!({
                        "live": live,
                        "timestamp": timestamp.map(gst::ClockTime::nseconds),
                        "processed": processed.value(),
                        "dropped": dropped.value(),
                    }),
                })
            }
            _ => (),
        }
    }

    /// The label, the host and every source with a URI or file location.
    fn watched(&self) -> Watched {
        let mut sources: Vec<Source> = Vec::new();
        if let Some(top) = self.top.upgrade() {
            for e in top.iterate_recurse().into_iter().flatten() {
                // A source produces data and takes none (vqreport, padless, writes files).
                let is_source = (!e.src_pads().is_empty() && e.sink_pads().is_empty())
                    || e.factory()
                        .is_some_and(|f| f.has_type(gst::ElementFactoryType::SRC));
                // A string property, if the element has one by that name.
                let text = |name: &str| {
                    e.find_property(name)
                        .and_then(|_| e.property_value(name).get::<Option<String>>().ok())
                        .flatten()
                };
                let uri = if e.find_property("uri").is_some() {
                    text("uri")
                } else if is_source {
                    // A URI already (souphttpsrc) or a file path (filesrc).
                    text("location").map(|l| location_uri(&l))
                } else {
                    None
                };
                if let Some(uri) = uri.filter(|u| !u.is_empty())
                    && !sources.iter().any(|s| s.uri == uri)
                {
                    sources.push(Source {
                        element: e.name().to_string(),
                        uri,
                    });
                }
            }
        }
        sources.sort_by(|a, b| a.element.cmp(&b.element));
        Watched {
            label: self.settings.label.clone(),
            host: glib::host_name().to_string(),
            sources,
        }
    }

    fn detectors(&self) -> Vec<Detector> {
        let Some(top) = self.top.upgrade() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in top.iterate_recurse().into_iter().flatten() {
            let Some(factory) = e.factory() else { continue };
            if factory.plugin_name().as_deref() != Some("vqmon") || factory.name() == "vqreport" {
                continue;
            }
            let mut settings = serde_json::Map::new();
            for pspec in e.list_properties() {
                let name = pspec.name();
                if !pspec.flags().contains(glib::ParamFlags::READABLE)
                    || matches!(name, "name" | "parent" | "stats")
                {
                    continue;
                }
                settings.insert(name.to_string(), value_to_json(&e.property_value(name)));
            }
            let stats = e
                .find_property("stats")
                .map(|_| e.property::<gst::Structure>("stats"));
            out.push(Detector {
                element: e.name().to_string(),
                factory: factory.name().to_string(),
                // The pad loses its caps when the element stops; its stats keep them.
                caps: e
                    .static_pad("sink")
                    .and_then(|p| p.current_caps())
                    .map(|c| c.to_string())
                    .or_else(|| stats.as_ref().and_then(|s| s.get::<String>("caps").ok())),
                frames: stats.as_ref().and_then(|s| s.get::<u64>("frames").ok()),
                duration: stats.as_ref().and_then(|s| s.get::<u64>("duration").ok()),
                settings,
                stats: stats
                    .as_ref()
                    .map_or(serde_json::Value::Null, |s| structure_to_json(s)),
            });
        }
        out.sort_by(|a, b| a.element.cmp(&b.element));
        out
    }

    fn build(&self, kind: ReportKind, complete: bool) -> Report {
        let utc = message::utc_string(message::now_unix_usec()).unwrap_or_default();
        let mut report = self.collector.report(
            kind,
            complete,
            Generator {
                name: "vqmon vqreport".into(),
                version: concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")).into(),
            },
            &self.pipeline,
            &self.name,
            utc,
            self.watched(),
            self.detectors(),
        );
        report.analysis.clone_from(&self.analysis);
        report
    }

    fn summary(&mut self) {
        let mut report = self.build(ReportKind::Summary, false);
        // A summary lists only the events that started, changed or ended since the last one.
        let touched = std::mem::take(&mut self.touched);
        report.events.retain(|e| {
            touched
                .iter()
                .any(|(el, id)| *el == e.element && *id == e.id)
        });
        match serde_json::to_string(&report) {
            Ok(json) => {
                self.write_line(&json);
                self.publish(&json, ReportKind::Summary, false);
            }
            Err(e) => gst::error!(CAT, "cannot serialize a summary: {e}"),
        }
    }

    fn final_report(&mut self, complete: bool) {
        self.finished = true;
        let report = self.build(ReportKind::Final, complete);
        let (pretty, line) = match (
            serde_json::to_string_pretty(&report),
            serde_json::to_string(&report),
        ) {
            (Ok(p), Ok(l)) => (p, l),
            (Err(e), _) | (_, Err(e)) => {
                gst::error!(CAT, "cannot serialize the report: {e}");
                return;
            }
        };
        gst::info!(
            CAT,
            "final report: {} events, complete {complete}",
            report.events.len()
        );
        // Every output is tried, whatever happened to the others.
        *self.latest.lock().unwrap() = Some(pretty.clone());
        self.write_line(&line);
        match self.settings.location.as_deref() {
            Some("-") => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{pretty}");
                let _ = out.flush();
            }
            Some(loc) => {
                if let Err(e) = write_atomic(Path::new(loc), format!("{pretty}\n").as_bytes())
                    && let Some(el) = self.element.upgrade()
                {
                    gst::element_error!(
                        el,
                        gst::ResourceError::Write,
                        ("Cannot write the report to '{}': {}", loc, e),
                        [
                            "the report is still available in the 'report' property and the bus message"
                        ]
                    );
                }
            }
            None => (),
        }
        self.publish(&line, ReportKind::Final, complete);
    }

    fn publish(&self, json: &str, kind: ReportKind, complete: bool) {
        if !self.settings.post_messages {
            return;
        }
        if let Some(el) = self.element.upgrade() {
            let s = gst::Structure::builder(REPORT_STRUCTURE)
                .field(
                    "kind",
                    match kind {
                        ReportKind::Final => "final",
                        ReportKind::Summary => "summary",
                    },
                )
                .field("complete", complete)
                .field("json", json)
                .build();
            let _ = el.post_message(gst::message::Element::builder(s).src(&el).build());
        }
    }

    fn write_line(&mut self, line: &str) {
        let Some(out) = self.ndjson.as_mut() else {
            return;
        };
        if let Err(e) = out.write_line(line) {
            gst::error!(CAT, "cannot write an NDJSON line: {e}");
            if let Some(el) = self.element.upgrade() {
                gst::element_warning!(
                    el,
                    gst::ResourceError::Write,
                    ("Cannot write NDJSON lines: {}", e)
                );
            }
            // Stop trying after the first failure: the warning said it.
            self.ndjson = None;
        }
    }
}

/// The `analysis` property's text as a JSON object.
fn analysis_object(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("not an object".into()),
        Err(e) => Err(e.to_string()),
    }
}
