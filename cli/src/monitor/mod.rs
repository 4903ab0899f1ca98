// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `vqmon monitor CONFIG`: every stream of a line-up in one process, one pipeline each, with
//! content-defect metrics for Prometheus (`/metrics`), `/healthz`, `/streams`, and every defect
//! as an NDJSON line and a webhook POST. SIGHUP (or a change of the file) reloads the
//! configuration and touches only the streams that changed. docs/vqmon.md documents it.

pub mod config;
pub mod events;
pub mod metrics;
pub mod state;
pub mod stream;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use config::{Checked, Config};
use events::{Endpoint, Sinks};
use stream::{Stream, Timing};

/// The running line-up.
struct LineUp {
    streams: BTreeMap<String, Stream>,
    process: metrics::Process,
}

struct Service {
    path: PathBuf,
    config: Mutex<Config>,
    sinks: Arc<Sinks>,
    lineup: Mutex<LineUp>,
}

impl Service {
    fn timing(c: &Config) -> Timing {
        Timing {
            source_timeout: Duration::from_secs_f64(c.source_timeout),
            max_backoff: Duration::from_secs_f64(c.max_backoff),
            decoder_threads: c.decoder_threads,
        }
    }

    /// Starts what is new, stops what is gone, restarts what changed; the rest runs on.
    /// Returns how many streams were added, removed and restarted.
    fn apply(&self, config: &Config, checked: Vec<Checked>) -> (usize, usize, usize) {
        let mut lineup = self.lineup.lock().unwrap();
        let wanted: BTreeMap<String, Checked> = checked
            .into_iter()
            .map(|c| (c.config.name.clone(), c))
            .collect();
        let removed: Vec<String> = lineup
            .streams
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        let changed: Vec<String> = lineup
            .streams
            .iter()
            .filter(|(n, s)| wanted.get(*n).is_some_and(|w| w.config != s.checked.config))
            .map(|(n, _)| n.clone())
            .collect();
        // Stopping joins each stream's thread, which closes its open defects.
        for n in removed.iter().chain(&changed) {
            lineup.streams.remove(n);
        }
        let timing = Service::timing(config);
        let mut added = 0;
        for (name, c) in wanted {
            if lineup.streams.contains_key(&name) {
                continue;
            }
            if !changed.contains(&name) {
                added += 1;
            }
            let s = Stream::start(c, self.sinks.clone(), timing, config.webhook_queue);
            lineup.streams.insert(name, s);
        }
        (added, removed.len(), changed.len())
    }

    fn reload(&self) {
        match Config::read(&self.path) {
            Ok((config, checked)) => {
                let (a, r, c) = self.apply(&config, checked);
                eprintln!(
                    "vqmon monitor: {} reloaded: {a} started, {r} removed, {c} restarted",
                    self.path.display()
                );
                if config.listen != self.config.lock().unwrap().listen
                    || config.webhook != self.config.lock().unwrap().webhook
                    || config.ndjson != self.config.lock().unwrap().ndjson
                {
                    eprintln!(
                        "vqmon monitor: listen, ndjson and the global webhooks change at a restart only"
                    );
                }
                *self.config.lock().unwrap() = config;
                self.lineup.lock().unwrap().process.reloads += 1;
            }
            Err(e) => {
                eprintln!("vqmon monitor: reload refused, the line-up runs on: {e}");
                self.lineup.lock().unwrap().process.reload_errors += 1;
            }
        }
    }

    fn metrics(&self) -> String {
        let lineup = self.lineup.lock().unwrap();
        let guards: Vec<_> = lineup
            .streams
            .values()
            .map(|s| s.state.lock().unwrap())
            .collect();
        let states: Vec<&state::StreamState> = guards.iter().map(|g| &**g).collect();
        let c = &self.sinks.counters;
        let process = metrics::Process {
            webhook_queued: c.queued.load(Ordering::Relaxed),
            webhook_dropped: c.dropped.load(Ordering::Relaxed),
            webhook_delivered: c.delivered.load(Ordering::Relaxed),
            webhook_failures: c.failures.load(Ordering::Relaxed),
            ..lineup.process
        };
        metrics::render(&states, &process, Instant::now())
    }

    fn streams_json(&self) -> String {
        let lineup = self.lineup.lock().unwrap();
        let now = Instant::now();
        let v: Vec<serde_json::Value> = lineup
            .streams
            .values()
            .map(|s| s.state.lock().unwrap().to_json(now))
            .collect();
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

fn serve(service: Arc<Service>, server: tiny_http::Server) {
    for req in server.incoming_requests() {
        // OpenMetrics to those who ask for it (Prometheus does), the classic text format else.
        let openmetrics = req.headers().iter().any(|h| {
            h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
        });
        let (status, body, ctype) = match (req.method(), req.url()) {
            (tiny_http::Method::Get, "/metrics") if openmetrics => (
                200,
                service.metrics(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (tiny_http::Method::Get, "/metrics") => (
                200,
                metrics::classic(&service.metrics()),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (tiny_http::Method::Get, "/healthz") => (200, "ok\n".into(), "text/plain"),
            (tiny_http::Method::Get, "/streams") => {
                (200, service.streams_json(), "application/json")
            }
            _ => (
                404,
                "not found: /metrics, /healthz or /streams\n".into(),
                "text/plain",
            ),
        };
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes())
            .expect("a valid header");
        let _ = req.respond(
            tiny_http::Response::from_string(body)
                .with_status_code(status)
                .with_header(header),
        );
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs the service until SIGINT or SIGTERM. Exit status 0, or 2 when it cannot start.
pub fn run(path: &Path) -> u8 {
    let (config, checked) = match Config::read(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vqmon monitor: {e}");
            return 2;
        }
    };
    let server = match tiny_http::Server::http(&config.listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vqmon monitor: cannot listen on {}: {e}", config.listen);
            return 2;
        }
    };
    let ndjson = match &config.ndjson {
        Some(p) => match gstvqmon::vqreport::lines::LineWriter::open(p) {
            Ok(w) => Some(Mutex::new(w)),
            Err(e) => {
                eprintln!("vqmon monitor: cannot open {p}: {e}");
                return 2;
            }
        },
        None => None,
    };
    let counters = Arc::new(events::Counters::default());
    let global = config
        .webhook
        .iter()
        .map(|h| {
            Endpoint::start(
                h.clone(),
                config.webhook_queue,
                counters.clone(),
                config.max_backoff,
            )
        })
        .collect();
    let sinks = Arc::new(Sinks {
        ndjson,
        global,
        counters,
    });
    let addr = server
        .server_addr()
        .to_ip()
        .map_or(config.listen.clone(), |a| a.to_string());
    let service = Arc::new(Service {
        path: path.to_path_buf(),
        config: Mutex::new(config.clone()),
        sinks,
        lineup: Mutex::new(LineUp {
            streams: BTreeMap::new(),
            process: metrics::Process::default(),
        }),
    });
    let n = checked.len();
    service.apply(&config, checked);
    eprintln!("vqmon monitor: {n} streams; metrics on http://{addr}/metrics");
    let s = service.clone();
    std::thread::Builder::new()
        .name("vqmon-http".into())
        .spawn(move || serve(s, server))
        .expect("a thread starts");

    let hup = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone());
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, term.clone());
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, term.clone());
    let mut stamp = modified(path);
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let now = modified(path);
        if hup.swap(false, Ordering::Relaxed) || (now.is_some() && now != stamp) {
            stamp = now;
            service.reload();
        }
    }
    eprintln!("vqmon monitor: stopping");
    // Streams close their open defects (EOS) as they stop.
    let streams = std::mem::take(&mut service.lineup.lock().unwrap().streams);
    drop(streams);
    0
}
