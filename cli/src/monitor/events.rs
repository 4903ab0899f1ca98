// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Where events go: NDJSON lines (vqreport's line writer: one write per line, a torn last line
//! is never glued to) and webhooks. Each webhook endpoint has a bounded queue and one delivery
//! thread that POSTs the events in order, retrying each with capped exponential backoff until
//! the receiver accepts it (a 2xx answer); an event that finds the queue full is dropped and
//! counted, never lost silently.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::Value;

use super::config::Webhook;

/// The signature header of a webhook POST: `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "X-Vqmon-Signature";

pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Default)]
pub struct Counters {
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    pub failures: AtomicU64,
    pub queued: AtomicU64,
}

struct Queue {
    items: Mutex<VecDeque<Arc<String>>>,
    ready: Condvar,
    capacity: usize,
}

/// One webhook endpoint and its delivery thread.
pub struct Endpoint {
    queue: Arc<Queue>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Endpoint {
    pub fn start(
        hook: Webhook,
        capacity: usize,
        counters: Arc<Counters>,
        max_backoff: f64,
    ) -> Self {
        let queue = Arc::new(Queue {
            items: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            capacity,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queue.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("vqmon-webhook".into())
            .spawn(move || deliver(&hook, &q, &s, &counters, max_backoff))
            .expect("a thread starts");
        Endpoint {
            queue,
            stop,
            thread: Some(thread),
        }
    }

    /// Queues one event (its JSON text); false when the queue was full and it was dropped.
    pub fn send(&self, body: Arc<String>, counters: &Counters) -> bool {
        let mut items = self.queue.items.lock().unwrap();
        if items.len() >= self.queue.capacity {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        items.push_back(body);
        counters.queued.fetch_add(1, Ordering::Relaxed);
        self.queue.ready.notify_one();
        true
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.queue.ready.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn deliver(hook: &Webhook, q: &Queue, stop: &AtomicBool, counters: &Counters, max_backoff: f64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    loop {
        let body = {
            let mut items = q.items.lock().unwrap();
            loop {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                if let Some(b) = items.front() {
                    break b.clone();
                }
                items = q.ready.wait(items).unwrap();
            }
        };
        let mut backoff = 0.5f64;
        loop {
            let mut req = agent
                .post(&hook.url)
                .header("Content-Type", "application/json");
            if let Some(secret) = &hook.secret {
                req = req.header(SIGNATURE_HEADER, signature(secret, body.as_bytes()));
            }
            match req.send(body.as_bytes()) {
                Ok(r) if r.status().is_success() => break,
                _ => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    // Wait, but wake up for a stop.
                    let items = q.items.lock().unwrap();
                    let (_items, _) = q
                        .ready
                        .wait_timeout_while(items, Duration::from_secs_f64(backoff), |_| {
                            !stop.load(Ordering::Acquire)
                        })
                        .unwrap();
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    backoff = (backoff * 2.0).min(max_backoff);
                }
            }
        }
        q.items.lock().unwrap().pop_front();
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        counters.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every output of the events: the NDJSON file and the webhooks (global ones, then the
/// stream's own).
pub struct Sinks {
    pub ndjson: Option<Mutex<gstvqmon::vqreport::lines::LineWriter>>,
    pub global: Vec<Endpoint>,
    pub counters: Arc<Counters>,
}

impl Sinks {
    pub fn emit(&self, line: &Value, own: &[Endpoint]) {
        let text = line.to_string();
        if let Some(w) = &self.ndjson
            && let Err(e) = w.lock().unwrap().write_line(&text)
        {
            eprintln!("vqmon monitor: cannot write an event line: {e}");
        }
        let body = Arc::new(text);
        for e in self.global.iter().chain(own) {
            e.send(body.clone(), &self.counters);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let counters = Arc::new(Counters::default());
        // Nothing listens on port 9 of loopback: every POST fails and is retried, so the queue
        // fills.
        let e = Endpoint::start(
            Webhook {
                url: "http://127.0.0.1:9/hook".into(),
                secret: None,
            },
            2,
            counters.clone(),
            0.5,
        );
        let sent: Vec<bool> = (0..4)
            .map(|i| e.send(Arc::new(format!("{{\"n\":{i}}}")), &counters))
            .collect();
        assert_eq!(sent, [true, true, false, false]);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(counters.queued.load(Ordering::Relaxed), 2);
        drop(e);
    }
}
