// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `/metrics`: every stream's state in the OpenMetrics text format, encoded by the
//! `prometheus-client` crate. Each series carries `stream` and the stream's configured labels.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::state::StreamState;

type Labels = Vec<(String, String)>;
type G = Family<Labels, Gauge<f64, AtomicU64>>;
type C = Family<Labels, Counter<f64, AtomicU64>>;

/// Process-wide figures.
#[derive(Debug, Default, Clone, Copy)]
pub struct Process {
    pub webhook_queued: u64,
    pub webhook_dropped: u64,
    pub webhook_delivered: u64,
    pub webhook_failures: u64,
    pub reloads: u64,
    pub reload_errors: u64,
}

/// The exposition of every stream and of the process.
pub fn render(streams: &[&StreamState], process: &Process, now: Instant) -> String {
    let mut reg = Registry::default();
    let active = G::default();
    let started = C::default();
    let seconds = C::default();
    let up = G::default();
    let reconnects = C::default();
    let since_buffer = G::default();
    let frames = C::default();
    let cpu_per_frame = G::default();
    let offset = G::default();
    let confidence = G::default();
    let blockiness = G::default();
    let short_term = G::default();
    let integrated = G::default();
    for s in streams {
        let mut base: Labels = vec![("stream".into(), s.name.clone())];
        base.extend(s.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (defect, f) in s.figures(now) {
            let mut l = base.clone();
            l.push(("defect".into(), defect));
            active.get_or_create(&l).set(f.active as f64);
            started.get_or_create(&l).inc_by(f.started as f64);
            seconds.get_or_create(&l).inc_by(f.seconds);
        }
        up.get_or_create(&base)
            .set(if s.source_up { 1.0 } else { 0.0 });
        reconnects.get_or_create(&base).inc_by(s.reconnects as f64);
        // Never a buffer yet: as long as the stream has existed.
        let last = s.last_buffer.unwrap_or(s.created);
        since_buffer
            .get_or_create(&base)
            .set(now.duration_since(last).as_secs_f64());
        frames.get_or_create(&base).inc_by(s.frames as f64);
        if s.frames > 0 {
            cpu_per_frame
                .get_or_create(&base)
                .set(s.detector_ns as f64 / 1e9 / s.frames as f64);
        }
        if let Some((o, c)) = s.av_offset {
            offset.get_or_create(&base).set(o);
            confidence.get_or_create(&base).set(c);
        }
        if let Some(b) = s.blockiness {
            blockiness.get_or_create(&base).set(b);
        }
        if let Some(v) = s.loudness_short_term {
            short_term.get_or_create(&base).set(v);
        }
        if let Some(v) = s.loudness_integrated {
            integrated.get_or_create(&base).set(v);
        }
    }
    reg.register(
        "vqmon_defect_active",
        "1 while a defect of this type is open on the stream, else 0",
        active,
    );
    reg.register(
        "vqmon_defects",
        "Defects of this type started (point defects included)",
        started,
    );
    reg.register(
        "vqmon_defect_seconds",
        "Seconds spent in defects of this type (open ones so far included)",
        seconds,
    );
    reg.register(
        "vqmon_source_up",
        "1 while the stream's source delivers, 0 during a source loss",
        up,
    );
    reg.register(
        "vqmon_reconnects",
        "Times the stream's pipeline was rebuilt after a source loss",
        reconnects,
    );
    reg.register(
        "vqmon_seconds_since_last_buffer",
        "Seconds since a buffer last left the detectors (since the stream started if none has)",
        since_buffer,
    );
    reg.register("vqmon_frames_analysed", "Video frames analysed", frames);
    reg.register(
        "vqmon_detector_cpu_seconds_per_frame",
        "Mean time the detectors spent on a video frame",
        cpu_per_frame,
    );
    reg.register(
        "vqmon_av_offset_seconds",
        "Last A/V offset measured (audio minus video; positive = audio late)",
        offset,
    );
    reg.register(
        "vqmon_av_offset_confidence",
        "Confidence of the last A/V offset, 0 to 1",
        confidence,
    );
    reg.register(
        "vqmon_blockiness",
        "Smoothed blockiness (grid ratio; 1.0 = no coding grid)",
        blockiness,
    );
    reg.register(
        "vqmon_loudness_short_term_lufs",
        "Short-term loudness (3 s), LUFS",
        short_term,
    );
    reg.register(
        "vqmon_loudness_integrated_lufs",
        "Integrated loudness since the stream started, LUFS",
        integrated,
    );
    let counter = |v: u64| {
        let c: Counter<f64, AtomicU64> = Counter::default();
        c.inc_by(v as f64);
        c
    };
    let gauge = |v: f64| {
        let g: Gauge<f64, AtomicU64> = Gauge::default();
        g.set(v);
        g
    };
    reg.register(
        "vqmon_webhook_events_queued",
        "Events waiting for webhook delivery, over every endpoint",
        gauge(process.webhook_queued as f64),
    );
    reg.register(
        "vqmon_webhook_events_dropped",
        "Events dropped because a webhook queue was full",
        counter(process.webhook_dropped),
    );
    reg.register(
        "vqmon_webhook_events_delivered",
        "Events a webhook receiver accepted",
        counter(process.webhook_delivered),
    );
    reg.register(
        "vqmon_webhook_failures",
        "Webhook POSTs that failed (and were retried)",
        counter(process.webhook_failures),
    );
    reg.register(
        "vqmon_config_reloads",
        "Configuration reloads applied",
        counter(process.reloads),
    );
    reg.register(
        "vqmon_config_reload_errors",
        "Configuration reloads refused (the running line-up was kept)",
        counter(process.reload_errors),
    );
    if let Some((cpu, rss, start)) = process_figures() {
        reg.register(
            "process_cpu_seconds",
            "CPU time of the process (user and system)",
            counter_f(cpu),
        );
        reg.register(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            gauge(rss),
        );
        reg.register(
            "process_start_time_seconds",
            "Start of the process, seconds since the Unix epoch",
            gauge(start),
        );
    }
    let mut out = String::new();
    // Encoding into a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}

/// The same exposition in Prometheus's classic text format (0.0.4), for scrapers and tools that
/// do not ask for OpenMetrics (`curl`, `promtool check metrics`): counters' HELP and TYPE name
/// the `_total` series, and there is no `# UNIT` or `# EOF` line.
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match meta {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    out.push_str(&format!("{kind}{name}_total {tail}\n"));
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn counter_f(v: f64) -> Counter<f64, AtomicU64> {
    let c: Counter<f64, AtomicU64> = Counter::default();
    c.inc_by(v);
    c
}

/// CPU seconds, resident bytes and start time (Unix seconds) of this process, from /proc.
fn process_figures() -> Option<(f64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), numbered from 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = 100.0; // USER_HZ on Linux
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = (num(14)? + num(15)?) / tick;
    let page = 4096.0;
    let rss = num(24)? * page;
    // Derived once: the clocks read here would make it wobble from scrape to scrape.
    static START: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    let start = (*START.get_or_init(|| {
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        Some((now - uptime + num(22)? / tick).round())
    }))?;
    Some((cpu, rss, start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_type_is_exported_with_the_stream_labels() {
        crate::test_init();
        let t0 = Instant::now();
        let labels = BTreeMap::from([("region".to_string(), "eu".to_string())]);
        let mut s = StreamState::new("ch1", &labels, t0);
        s.source_back();
        s.frames = 100;
        s.detector_ns = 50_000_000;
        s.measurement(
            "loudness",
            &serde_json::json!({"short-term": -23.5, "integrated": -23.0}),
        );
        let text = render(&[&s], &Process::default(), t0);
        assert!(
            text.contains(
                "vqmon_defect_active{stream=\"ch1\",region=\"eu\",defect=\"freeze\"} 0.0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "vqmon_defects_total{stream=\"ch1\",region=\"eu\",defect=\"silence\"} 0.0"
            ),
            "{text}"
        );
        assert!(
            text.contains("vqmon_source_up{stream=\"ch1\",region=\"eu\"} 1.0"),
            "{text}"
        );
        assert!(
            text.contains("vqmon_frames_analysed_total{stream=\"ch1\",region=\"eu\"} 100.0"),
            "{text}"
        );
        assert!(
            text.contains(
                "vqmon_detector_cpu_seconds_per_frame{stream=\"ch1\",region=\"eu\"} 0.0005"
            ),
            "{text}"
        );
        assert!(
            text.contains("vqmon_loudness_integrated_lufs{stream=\"ch1\",region=\"eu\"} -23.0"),
            "{text}"
        );
        assert!(
            text.contains("vqmon_webhook_events_dropped_total 0"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let c = classic(&text);
        assert!(
            c.contains("# HELP vqmon_defects_total Defects of this type started"),
            "{c}"
        );
        assert!(c.contains("# TYPE vqmon_defects_total counter\n"), "{c}");
        assert!(c.contains("# TYPE vqmon_defect_active gauge\n"), "{c}");
        assert!(!c.contains("# EOF"), "{c}");
    }
}
