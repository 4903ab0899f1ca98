// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! `vqmon monitor` end to end, against a real Prometheus server (Debian's `prometheus`, started
//! here on loopback with a generated scrape configuration and the shipped alert rules) and a
//! real HTTP receiver for its webhooks: looped files with a known freeze, a clean one, and an
//! MPEG-TS stream over UDP whose sender stops for 5 s.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde_json::Value;

const SECRET: &str = "line-up-secret";

/// The end-to-end tests run one at a time: each runs several live pipelines in real time, and
/// on two cores, together, they would measure the machine's load rather than the monitor.
static REAL_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    REAL_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `N` distinct free TCP ports on loopback. All `N` are held open together while they are
/// chosen: ports chosen one at a time can repeat, and two servers of one test on one port make
/// the second fail to start.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// An HTTP client whose requests give up after 10 s, so that a server that accepts and never
/// answers fails a wait loop by its deadline instead of hanging it.
static HTTP: LazyLock<ureq::Agent> = LazyLock::new(|| {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
});

fn get(url: &str) -> Option<String> {
    let mut r = HTTP.get(url).call().ok()?;
    r.body_mut().read_to_string().ok()
}

/// What a child process wrote to its log, for a failure message.
fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// Starts Prometheus on `config` with its data and log under `dir`, and waits until it says it is
/// ready. Its port is chosen free and not one of `taken` (the test's other servers, which may
/// not have bound theirs yet), but another process can take a free port before Prometheus binds
/// it: then Prometheus exits saying so, and it starts again on another port. Any other exit, or
/// no readiness within 60 s, fails with Prometheus's own log. Returns the server and its base
/// URL.
fn start_prometheus(dir: &Path, config: &Path, taken: &[u16]) -> (Killed, String) {
    let log = dir.join("prometheus.log");
    for attempt in 0..3 {
        let port = loop {
            let [p] = free_ports();
            if !taken.contains(&p) {
                break p;
            }
        };
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join(format!("data{attempt}")).display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus runs (make deps installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        loop {
            // The body tells Prometheus from another server that took the port.
            if get(&format!("{url}/-/ready")).is_some_and(|b| b.contains("Prometheus")) {
                return (Killed(child), url);
            }
            if let Some(status) = child.try_wait().unwrap() {
                let text = log_of(&log);
                assert!(
                    text.contains("address already in use"),
                    "prometheus exited ({status}): {text}"
                );
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "prometheus not ready after 60 s: {}",
                log_of(&log)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    panic!("prometheus found its port taken 3 times: {}", log_of(&log));
}

/// Kills a child process when the test ends, passes or fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A webhook receiver: every POST body whose signature is right, in arrival order.
struct Receiver {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16, got: Arc<Mutex<Vec<Value>>>, bad: Arc<Mutex<u64>>) -> Receiver {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let sig = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("X-Vqmon-Signature"))
                    .map(|h| h.value.to_string());
                let want = signature(SECRET, body.as_bytes());
                if sig.as_deref() == Some(want.as_str()) {
                    got.lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap());
                    let _ = req.respond(tiny_http::Response::empty(204));
                } else {
                    *bad.lock().unwrap() += 1;
                    let _ = req.respond(tiny_http::Response::empty(401));
                }
            }
        });
        Receiver {
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A live MPEG-TS stream of a moving picture over UDP to `port`, with `schedule` injected by
/// vqinject (running time of the sender).
fn udp_sender(port: u16, schedule: &str) -> gst::Element {
    common::init();
    gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 \
         ! vqinject schedule=\"{schedule}\" \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! mpegtsmux \
         ! udpsink host=127.0.0.1 port={port} sync=true"
    ))
    .unwrap()
}

type Series = Vec<(BTreeMap<String, String>, Vec<(f64, f64)>)>;

/// Prometheus's query API: the result of `query_range` over the run: per series, its labels and
/// its (Unix time, value) samples.
fn range(prom: &str, query: &str, start: f64, end: f64) -> Series {
    let url = format!(
        "{prom}/api/v1/query_range?query={}&start={start}&end={end}&step=1",
        urlencode(query)
    );
    let v: Value = serde_json::from_str(&get(&url).expect("prometheus answers")).unwrap();
    assert_eq!(v["status"], "success", "{query}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let labels = r["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let values = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap(),
                        p[1].as_str().unwrap().parse::<f64>().unwrap(),
                    )
                })
                .collect();
            (labels, values)
        })
        .collect()
}

/// Polls Prometheus's live alert API (`/api/v1/alerts`) for `duration`, adding to `streams` the
/// `stream` label of every firing `alertname` alert.
fn watch_alerts(
    prom: &str,
    alertname: &str,
    duration: Duration,
    streams: &mut std::collections::BTreeSet<String>,
) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if let Some(body) = get(&format!("{prom}/api/v1/alerts")) {
            let v: Value = serde_json::from_str(&body).unwrap();
            for a in v["data"]["alerts"].as_array().into_iter().flatten() {
                if a["labels"]["alertname"] == alertname && a["state"] == "firing" {
                    streams.insert(a["labels"]["stream"].as_str().unwrap_or("").to_string());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts `vqmon monitor` on `config`, its log beside it (`config` with `.log`), for failure
/// messages.
fn spawn_monitor(config: &Path) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_vqmon"))
            .args(["monitor", config.to_str().unwrap()])
            .stderr(std::fs::File::create(config.with_extension("log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn line_up_metrics_alerts_and_webhooks_end_to_end() {
    let _serial = one_at_a_time();
    let dir = common::dir("monitor");
    // 8 s files, looped in real time: one with a 3 s freeze from 2 s, one clean.
    let frozen = common::make(&dir.join("frozen.mp4"), 8, Some("freeze@2s+3s"), true);
    let clean = common::make(&dir.join("clean.mp4"), 8, Some(""), true);
    let [mport, hport, uport, uport2] = free_ports();
    let ndjson = dir.join("events.ndjson");
    let _ = std::fs::remove_file(&ndjson);
    let config = dir.join("lineup.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{mport}"
ndjson = "{ndjson}"
source-timeout = 2.0
max-backoff = 1.0
[[webhook]]
url = "http://127.0.0.1:{hport}/hook"
secret = "{SECRET}"
[[stream]]
name = "frozen"
uri = "{frozen}"
loop = true
labels = {{ region = "eu" }}
[[stream]]
name = "clean"
uri = "{clean}"
loop = true
[[stream]]
name = "udp"
uri = "udp://127.0.0.1:{uport}"
[[stream]]
name = "udp2"
uri = "udp://127.0.0.1:{uport2}"
"#,
            ndjson = ndjson.display(),
            frozen = frozen.display(),
            clean = clean.display(),
        ),
    )
    .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let bad = Arc::new(Mutex::new(0u64));
    let mut receiver = Some(Receiver::start(hport, got.clone(), bad.clone()));
    // Live: one sender with a 3 s freeze from 8 s of its running time (well after the monitor
    // has joined the stream), one clean.
    let sender = udp_sender(uport, "freeze@8s+3s");
    let sender2 = udp_sender(uport2, "");
    let monitor = spawn_monitor(&config);
    let prom_dir = dir.join("prometheus");
    let _ = std::fs::remove_dir_all(&prom_dir);
    std::fs::create_dir_all(&prom_dir).unwrap();
    let prom_config = prom_dir.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: vqmon\n    static_configs:\n      - targets: ['127.0.0.1:{mport}']\n",
            repo().join("monitor/vqmon-alerts.yml").display()
        ),
    )
    .unwrap();
    let (_prometheus, prom) = start_prometheus(&prom_dir, &prom_config, &[mport, hport]);
    let t0 = Instant::now();
    // Prometheus applies its target list a few seconds after it is ready: wait for its first
    // scrape of the monitor, so that the series cover the whole run.
    while range(&prom, "up{job=\"vqmon\"}", unix_now() - 5.0, unix_now()).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "prometheus never scraped the monitor; its log: {}",
            log_of(&config.with_extension("log"))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    sender2.set_state(gst::State::Playing).unwrap();
    sender.set_state(gst::State::Playing).unwrap();
    let start = unix_now();
    // 13 s of everything; then the UDP sender stops for 5 s and the webhook receiver restarts.
    std::thread::sleep(Duration::from_secs(13));
    sender.set_state(gst::State::Null).unwrap();
    drop(receiver.take());
    // Meanwhile Prometheus's live alert API is watched: which streams VqmonStreamDown fires for.
    let mut down = std::collections::BTreeSet::new();
    watch_alerts(&prom, "VqmonStreamDown", Duration::from_secs(5), &mut down);
    sender.set_state(gst::State::Playing).unwrap();
    receiver = Some(Receiver::start(hport, got.clone(), bad.clone()));
    watch_alerts(&prom, "VqmonStreamDown", Duration::from_secs(8), &mut down);
    let end = unix_now();
    assert_eq!(
        down.into_iter().collect::<Vec<_>>(),
        ["udp"],
        "live /api/v1/alerts"
    );

    // promtool accepts a scrape.
    let scrape = get(&format!("http://127.0.0.1:{mport}/metrics")).unwrap();
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The freeze gauge goes 1 and back to 0 on the frozen stream, once per 8 s loop, for the
    // 3 s freeze less its 0.3 s confirmation (2 or 3 samples at 1 s steps, 4 with a scrape's
    // jitter); never on the clean one. A gauge stuck at 1, never 1, or 1 at the wrong period
    // fails.
    let freeze = range(&prom, "vqmon_defect_active{defect=\"freeze\"}", start, end);
    let by_stream: BTreeMap<String, Vec<(f64, f64)>> = freeze
        .into_iter()
        .map(|(l, v)| (l["stream"].clone(), v))
        .collect();
    let f = &by_stream["frozen"];
    let rises: Vec<f64> = f
        .windows(2)
        .filter(|w| w[0].1 == 0.0 && w[1].1 == 1.0)
        .map(|w| w[1].0)
        .collect();
    let falls: Vec<f64> = f
        .windows(2)
        .filter(|w| w[0].1 == 1.0 && w[1].1 == 0.0)
        .map(|w| w[1].0)
        .collect();
    assert!(rises.len() >= 2, "frozen: {f:?}");
    for r in rises.windows(2) {
        assert!((7.0..10.0).contains(&(r[1] - r[0])), "period: {f:?}");
    }
    for r in &rises {
        if let Some(fall) = falls.iter().find(|t| *t > r) {
            assert!(
                (2.0..=4.0).contains(&(fall - r)),
                "1 for {}: {f:?}",
                fall - r
            );
        }
    }
    assert!(
        by_stream["clean"].iter().all(|v| v.1 == 0.0),
        "{by_stream:?}"
    );
    assert!(
        by_stream["udp2"].iter().all(|v| v.1 == 0.0),
        "{by_stream:?}"
    );
    // The live freeze at the right time: it starts 8 s into the sender's run and lasts 3 s; the
    // gauge is 1 from its confirmation (0.3 s) to its end, seen at the next 1 s scrape, after
    // the encoder, network, demuxer and decoder latency (up to 2 s here): it rises within 3 s
    // of the freeze's start, falls within 4 s of its end, and is 1 for 1 to 4 s (x264 keeps
    // refining the first repeated pictures, which shortens the still stretch a little, and the
    // gauge is sampled once a second).
    let udp = &by_stream["udp"];
    let first = udp.iter().find(|p| p.1 == 1.0).expect("the live freeze");
    let rise = first.0 - start;
    assert!((8.0..11.0).contains(&rise), "rise at {rise:.1} s: {udp:?}");
    let fall = udp
        .iter()
        .find(|p| p.0 > first.0 && p.1 == 0.0)
        .expect("the live freeze ends")
        .0
        - start;
    assert!(
        (11.0..15.0).contains(&fall) && (1.0..4.1).contains(&(fall - rise)),
        "1 from {rise:.1} s to {fall:.1} s: {udp:?}"
    );
    println!("live freeze [8 s, 11 s) of the sender: gauge 1 at {rise:.1} s, 0 at {fall:.1} s");
    // The configured label is on the series.
    let labelled = range(&prom, "vqmon_source_up{region=\"eu\"}", start, end);
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0].0["stream"], "frozen");

    // The UDP source loss: a source-loss defect while the sender is stopped (13 s to 18 s; down
    // after the 2 s source timeout) that ends, on that stream only; the files never lost theirs;
    // the UDP streams are up within 3 s of their senders' start (before it they had no data);
    // the process never restarted (one start time).
    let up = range(&prom, "vqmon_source_up", start, end);
    for (l, v) in &up {
        let mut joined = v.iter().filter(|x| x.0 >= start + 3.0);
        if l["stream"] == "udp" {
            let stopped: Vec<f64> = v
                .iter()
                .filter(|x| (start + 15.5..start + 18.0).contains(&x.0))
                .map(|x| x.1)
                .collect();
            assert!(!stopped.is_empty() && stopped.contains(&0.0), "udp: {v:?}");
            assert!(
                joined.filter(|x| x.0 < start + 13.0).all(|x| x.1 == 1.0),
                "udp: {v:?}"
            );
            assert_eq!(v.last().unwrap().1, 1.0, "udp came back: {v:?}");
        } else if l["stream"] == "udp2" {
            assert!(joined.all(|x| x.1 == 1.0), "{l:?}: {v:?}");
        } else {
            assert!(v.iter().all(|x| x.1 == 1.0), "{l:?}: {v:?}");
        }
    }
    let starts = range(
        &prom,
        "changes(process_start_time_seconds[1m])",
        end - 1.0,
        end,
    );
    assert_eq!(starts[0].1.last().map(|p| p.1), Some(0.0));
    // The alert fired for that stream only (Prometheus's ALERTS series), once every stream had
    // joined.
    let alerts = range(
        &prom,
        "ALERTS{alertname=\"VqmonStreamDown\",alertstate=\"firing\"}",
        start + 3.0,
        end,
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0["stream"], "udp");

    // Every dashboard query is one Prometheus accepts.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("monitor/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let q = t["expr"].as_str().unwrap().replace("$stream", ".*");
            range(&prom, &q, end - 5.0, end);
        }
    }

    // Webhooks: everything the NDJSON file has, delivered in order despite the receiver's
    // restart, every one signed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = || -> Vec<Value> {
        std::fs::read_to_string(&ndjson)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    while got.lock().unwrap().len() < lines().len() {
        assert!(Instant::now() < deadline, "webhooks did not catch up");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(monitor);
    let got = got.lock().unwrap().clone();
    let file = lines();
    assert_eq!(*bad.lock().unwrap(), 0);
    assert_eq!(got[..], file[..got.len().min(file.len())]);
    let loss: Vec<&str> = got
        .iter()
        .filter(|e| e["stream"] == "udp" && e["event"]["defect"] == "source-loss")
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(&loss[..2], ["start", "end"], "{loss:?}");
    drop(receiver);
}

/// The shipped alert rules are valid and fire as their tests on recorded series say.
#[test]
fn alert_rules_pass_promtool() {
    let dir = repo().join("monitor");
    for args in [
        ["check", "rules", "vqmon-alerts.yml"],
        ["test", "rules", "vqmon-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs (make deps installs prometheus)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A reload (SIGHUP) touches only what changed: an unchanged stream runs on (its frame count
/// keeps growing from where it was), a changed one restarts, a removed one goes, a new one
/// starts; a broken configuration is refused and the line-up runs on.
#[test]
fn reload_touches_only_what_changed() {
    let _serial = one_at_a_time();
    let dir = common::dir("monitor-reload");
    let a = common::make(&dir.join("a.mp4"), 4, Some(""), false);
    let [port] = free_ports();
    let config = dir.join("lineup.toml");
    let write = |streams: &[(&str, &str)]| {
        let mut text = format!("listen = \"127.0.0.1:{port}\"\n");
        for (name, label) in streams {
            text += &format!(
                "[[stream]]\nname = \"{name}\"\nuri = \"{}\"\nloop = true\nlabels = {{ tier = \"{label}\" }}\n",
                a.display()
            );
        }
        std::fs::write(&config, text).unwrap();
    };
    write(&[("keep", "gold"), ("change", "gold"), ("remove", "gold")]);
    let monitor = spawn_monitor(&config);
    let streams = || -> BTreeMap<String, Value> {
        let text = get(&format!("http://127.0.0.1:{port}/streams")).unwrap_or_default();
        serde_json::from_str::<Vec<Value>>(&text)
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s))
            .collect()
    };
    let t0 = Instant::now();
    while streams()
        .get("keep")
        .is_none_or(|s| s["frames"].as_u64() < Some(50))
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", streams());
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = streams();
    write(&[("keep", "gold"), ("change", "silver"), ("new", "gold")]);
    let hup = Command::new("kill")
        .args(["-HUP", &monitor.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    std::thread::sleep(Duration::from_secs(2));
    let after = streams();
    let names: Vec<&String> = after.keys().collect();
    assert_eq!(names, ["change", "keep", "new"]);
    assert!(
        after["keep"]["frames"].as_u64() > before["keep"]["frames"].as_u64(),
        "the unchanged stream ran on: {before:?} {after:?}"
    );
    assert!(
        after["change"]["frames"].as_u64() < before["change"]["frames"].as_u64(),
        "the changed stream restarted: {before:?} {after:?}"
    );
    assert_eq!(after["change"]["labels"]["tier"], "silver");
    // A broken file: refused, counted, nothing stops.
    std::fs::write(&config, "[[stream]]\nname = \"x\"\n").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let metrics = get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert!(
        metrics.contains("vqmon_config_reload_errors_total 1"),
        "{metrics}"
    );
    assert_eq!(streams().len(), 3);
    drop(monitor);
}

/// Sources as operators have them: HLS over HTTP (hlssink2 served by a local HTTP server), SRT
/// (the monitor calls a listening sender), RTSP (gst-rtsp-server) and MPEG-TS in RTP, analysed
/// like any other stream.
#[test]
fn hls_srt_rtsp_and_rtp_sources_are_monitored() {
    let _serial = one_at_a_time();
    common::init();
    let dir = common::dir("monitor-sources");
    let hls = dir.join("hls");
    let _ = std::fs::remove_dir_all(&hls);
    std::fs::create_dir_all(&hls).unwrap();
    let [mport, hport, sport, rport, tport] = free_ports();
    let live = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 \
                ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25";
    let hls_sender = gst::parse::launch(&format!(
        "{live} ! h264parse ! hlssink2 target-duration=1 max-files=20 playlist-length=5 \
         location={0}/seg%05d.ts playlist-location={0}/playlist.m3u8",
        hls.display()
    ))
    .unwrap();
    let srt_sender = gst::parse::launch(&format!(
        "{live} ! mpegtsmux ! srtsink uri=srt://:{sport} wait-for-connection=false"
    ))
    .unwrap();
    // MPEG-TS in RTP (static payload type 33), as IPTV head-ends send it.
    let rtp_sender = gst::parse::launch(&format!(
        "{live} ! mpegtsmux ! rtpmp2tpay ! udpsink host=127.0.0.1 port={tport}"
    ))
    .unwrap();
    hls_sender.set_state(gst::State::Playing).unwrap();
    srt_sender.set_state(gst::State::Playing).unwrap();
    rtp_sender.set_state(gst::State::Playing).unwrap();
    let http = Killed(
        Command::new("/usr/bin/python3")
            .args([
                "-m",
                "http.server",
                &hport.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&hls)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rtsp = Killed(
        Command::new("/usr/bin/python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rtsp_server.py"))
            .arg(rport.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the RTSP server runs (make deps installs gir1.2-gst-rtsp-server-1.0)"),
    );
    // A few segments first: a playlist with one segment is not yet a live stream.
    std::thread::sleep(Duration::from_secs(4));
    let config = dir.join("lineup.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{mport}\"\n\
             [[stream]]\nname = \"hls\"\nuri = \"http://127.0.0.1:{hport}/playlist.m3u8\"\n\
             [[stream]]\nname = \"srt\"\nuri = \"srt://127.0.0.1:{sport}\"\n\
             [[stream]]\nname = \"rtsp\"\nuri = \"rtsp://127.0.0.1:{rport}/live\"\n\
             [[stream]]\nname = \"rtp\"\nuri = \"rtp://127.0.0.1:{tport}\"\n"
        ),
    )
    .unwrap();
    let monitor = spawn_monitor(&config);
    let frames = |name: &str| -> f64 {
        let text = get(&format!("http://127.0.0.1:{mport}/metrics")).unwrap_or_default();
        let key = format!("vqmon_frames_analysed_total{{stream=\"{name}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let t0 = Instant::now();
    while ["hls", "srt", "rtsp", "rtp"]
        .iter()
        .any(|n| frames(n) < 50.0)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "hls {} srt {} rtsp {} rtp {} frames: {}",
            frames("hls"),
            frames("srt"),
            frames("rtsp"),
            frames("rtp"),
            get(&format!("http://127.0.0.1:{mport}/streams")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let metrics = get(&format!("http://127.0.0.1:{mport}/metrics")).unwrap();
    for name in ["hls", "srt", "rtsp", "rtp"] {
        assert!(
            metrics.contains(&format!("vqmon_source_up{{stream=\"{name}\"}} 1")),
            "{name}: {metrics}"
        );
    }
    drop(monitor);
    drop(http);
    drop(rtsp);
    hls_sender.set_state(gst::State::Null).unwrap();
    srt_sender.set_state(gst::State::Null).unwrap();
    rtp_sender.set_state(gst::State::Null).unwrap();
}
