// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! vqaudio on audio the tests generate: EBU Tech 3341 / 3342 loudness signals, side by side with
//! FFmpeg's `ebur128` and `silencedetect` filters, every defect with exact times, clean signals
//! without defects, and odd input.

mod common;

use common::{BusLog, SECOND, assert_fails_with, first_error, init, intervals, summary};
use gst::prelude::*;
use gstvqmon::{Measurement, Phase};
use std::f64::consts::PI;

const RATE: u32 = 48_000;
const MS: u64 = 1_000_000;

/// A waveform: the sample of a channel at a sample index.
type Wave<'a> = dyn Fn(u32, u64) -> f64 + Sync + 'a;

/// A generated signal: `f(channel, sample index)` for `seconds`.
struct Signal<'a> {
    channels: u32,
    rate: u32,
    seconds: f64,
    f: &'a Wave<'a>,
}

impl Signal<'_> {
    fn frames(&self) -> u64 {
        (self.seconds * self.rate as f64).round() as u64
    }

    fn info(&self) -> gst_audio::AudioInfo {
        init();
        gst_audio::AudioInfo::builder(gst_audio::AudioFormat::F32le, self.rate, self.channels)
            .build()
            .unwrap()
    }

    /// F32 interleaved buffers of `per` frames, timestamped from 0 as GStreamer's audio sources
    /// do: a buffer's PTS is its first sample's time rounded down to the nanosecond, and its
    /// duration reaches the next buffer's PTS.
    fn buffers(&self, per: u64) -> Vec<gst::Buffer> {
        let ch = self.channels as u64;
        let total = self.frames();
        let mut out = Vec::new();
        let mut n = 0;
        while n < total {
            let len = per.min(total - n);
            let mut data = Vec::with_capacity((len * ch * 4) as usize);
            for i in n..n + len {
                for c in 0..self.channels {
                    data.extend_from_slice(&((self.f)(c, i) as f32).to_le_bytes());
                }
            }
            let mut b = gst::Buffer::from_mut_slice(data);
            {
                let b = b.get_mut().unwrap();
                let at = |k: u64| k * SECOND / self.rate as u64;
                b.set_pts(gst::ClockTime::from_nseconds(at(n)));
                b.set_duration(gst::ClockTime::from_nseconds(at(n + len) - at(n)));
            }
            out.push(b);
            n += len;
        }
        out
    }
}

/// `seconds` of `f` at 48 kHz.
fn signal<'a>(channels: u32, seconds: f64, f: &'a Wave<'a>) -> Signal<'a> {
    Signal {
        channels,
        rate: RATE,
        seconds,
        f,
    }
}

/// Amplitude of a sine whose peak is `db` dBFS.
fn amp(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

fn sine(n: u64, freq: f64, peak_db: f64) -> f64 {
    amp(peak_db) * (2.0 * PI * freq * n as f64 / RATE as f64).sin()
}

/// A level that steps through `(seconds, dBFS)` segments.
fn level_at(segments: &[(f64, f64)], n: u64, rate: u32) -> f64 {
    let t = n as f64 / rate as f64;
    let mut start = 0.0;
    for (d, l) in segments {
        if t < start + d {
            return *l;
        }
        start += d;
    }
    segments.last().unwrap().1
}

fn total(segments: &[(f64, f64)]) -> f64 {
    segments.iter().map(|s| s.0).sum()
}

/// Runs `buffers` through a harnessed vqaudio with `props`, then EOS.
fn run(props: &[(&str, gst::glib::Value)], caps: gst::Caps, buffers: Vec<gst::Buffer>) -> BusLog {
    init();
    let mut h = gst_check::Harness::new("vqaudio");
    let elem = h.element().unwrap();
    for (k, v) in props {
        elem.set_property_from_value(k, v);
    }
    let bus = gst::Bus::new();
    elem.set_bus(Some(&bus));
    h.set_src_caps(caps);
    h.play();
    let mut log = BusLog::default();
    for b in buffers {
        let size = b.size();
        assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok));
        // Passthrough: the same bytes come out.
        let out = h.pull().unwrap();
        assert_eq!(out.size(), size);
        log.drain(&bus);
    }
    assert!(h.push_event(gst::event::Eos::new()));
    log.drain(&bus);
    log
}

fn run_signal(props: &[(&str, gst::glib::Value)], s: &Signal) -> BusLog {
    run(props, s.info().to_caps().unwrap(), s.buffers(1024))
}

fn measurements<'a>(log: &'a BusLog, name: &str) -> Vec<&'a Measurement> {
    log.measurements
        .iter()
        .filter(|m| m.measurement == name)
        .collect()
}

fn value(m: &Measurement, field: &str) -> f64 {
    m.values
        .get::<f64>(field)
        .unwrap_or_else(|e| panic!("{field}: {e} in {:?}", m.values))
}

/// The final reading (at EOS).
fn last_reading(log: &BusLog) -> &Measurement {
    measurements(log, "loudness")
        .last()
        .copied()
        .expect("a loudness reading")
}

// --- EBU Tech 3341 and 3342 ---------------------------------------------------------------

/// Stereo 1 kHz sines through the level segments; (integrated, LRA, every reading).
fn stereo_steps(segments: &[(f64, f64)]) -> BusLog {
    let f = |_c: u32, n: u64| sine(n, 1000.0, level_at(segments, n, RATE));
    let s = signal(2, total(segments), &f);
    run_signal(&[], &s)
}

#[test]
fn ebu_tech_3341_integrated_momentary_short_term() {
    // (segments, expected integrated LUFS); tolerance +/-0.1 LU (Tech 3341, cases 1 to 5).
    let cases: [(&[(f64, f64)], f64); 5] = [
        (&[(20.0, -23.0)], -23.0),
        (&[(20.0, -33.0)], -33.0),
        (&[(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)], -23.0),
        (
            &[
                (10.0, -72.0),
                (10.0, -36.0),
                (60.0, -23.0),
                (10.0, -36.0),
                (10.0, -72.0),
            ],
            -23.0,
        ),
        (&[(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)], -23.0),
    ];
    for (k, (segments, expected)) in cases.iter().enumerate() {
        let log = stereo_steps(segments);
        let last = last_reading(&log);
        let i = value(last, "integrated");
        assert!(
            (i - expected).abs() <= 0.1,
            "case {}: integrated {i} LUFS, expected {expected}",
            k + 1
        );
        if segments.len() == 1 {
            // Steady tone: momentary and short-term read the level once their windows are full.
            for m in measurements(&log, "loudness").iter().skip(3) {
                for f in ["momentary", "short-term"] {
                    let v = value(m, f);
                    assert!((v - expected).abs() <= 0.1, "case {}: {f} {v}", k + 1);
                }
            }
        }
        // Case 4's -72 dBFS stretches are silence (below -60 dB) and nothing else is reported.
        assert!(
            log.defects.iter().all(|m| m.defect == "silence"),
            "{}",
            summary(&log.defects)
        );
    }
}

#[test]
fn ebu_tech_3341_short_term_is_constant_over_alternating_levels() {
    // Case 9: 1.34 s at -20 dBFS and 1.66 s at -30 dBFS, repeated: every 3 s window reads -23.
    let cycle = [(1.34, -20.0), (1.66, -30.0)];
    let segments: Vec<(f64, f64)> = cycle.iter().cycle().take(10).copied().collect();
    let log = stereo_steps(&segments);
    let readings = measurements(&log, "loudness");
    let mut checked = 0;
    for m in &readings {
        let t = m.at.running_time.unwrap().nseconds();
        // Short-term at the end of each complete cycle (3.0 s, 6.0 s, ...).
        if t >= 3 * SECOND && t.is_multiple_of(3 * SECOND) {
            let v = value(m, "short-term");
            assert!((v + 23.0).abs() <= 0.1, "short-term {v} at {t}");
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "readings at {:?}",
        readings
            .iter()
            .map(|m| m.at.running_time)
            .collect::<Vec<_>>()
    );
}

#[test]
fn ebu_tech_3342_loudness_range() {
    // (segments, expected LRA); tolerance +/-1 LU (Tech 3342, cases 1 to 4).
    let cases: [(&[(f64, f64)], f64); 4] = [
        (&[(20.0, -20.0), (20.0, -30.0)], 10.0),
        (&[(20.0, -20.0), (20.0, -15.0)], 5.0),
        (&[(20.0, -40.0), (20.0, -20.0)], 20.0),
        (
            &[
                (20.0, -50.0),
                (20.0, -35.0),
                (20.0, -20.0),
                (20.0, -35.0),
                (20.0, -50.0),
            ],
            15.0,
        ),
    ];
    for (k, (segments, expected)) in cases.iter().enumerate() {
        let log = stereo_steps(segments);
        let lra = value(last_reading(&log), "loudness-range");
        assert!(
            (lra - expected).abs() <= 1.0,
            "case {}: LRA {lra}, expected {expected}",
            k + 1
        );
    }
}

#[test]
fn true_peak_between_samples() {
    // Tech 3341 case 16 style: fs/4 sine, -6 dBFS peak, 45 degrees off the sample grid: the
    // samples peak at -9 dBFS, the true peak is -6 dBTP (+0.2 / -0.4).
    let f = |_c: u32, n: u64| amp(-6.0) * (PI / 2.0 * n as f64 + PI / 4.0).sin();
    let s = signal(2, 3.0, &f);
    let log = run_signal(&[], &s);
    let m = &measurements(&log, "loudness")[1];
    let tp = value(m, "true-peak-db");
    let sp = value(m, "sample-peak-db");
    assert!((-6.4..=-5.8).contains(&tp), "true peak {tp}");
    assert!((sp + 9.01).abs() < 0.02, "sample peak {sp}");
    // Over a -7 dBTP limit: a true-peak defect, although no sample reaches -7 dBFS.
    let log = run_signal(&[("true-peak-limit", (-7.0f64).to_value())], &s);
    let tp = intervals(&log.defects, "true-peak");
    assert_eq!(tp.len(), 1, "{}", summary(&log.defects));
    assert_eq!(common::ns(tp[0].0.start.running_time), 0);
}

// --- side by side with FFmpeg ---------------------------------------------------------------

/// Writes the signal as a 32-bit float WAV file with GStreamer's wavenc.
fn write_wav(s: &Signal, path: &std::path::Path) {
    init();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! wavenc ! filesink location={}",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&s.info().to_caps().unwrap()));
    pipeline.set_state(gst::State::Playing).unwrap();
    for b in s.buffers(4800) {
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// vqaudio on a WAV file, in a real pipeline.
fn vqaudio_on_file(path: &std::path::Path, props: &str) -> BusLog {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! wavparse ! vqaudio {props} ! fakesink",
        path.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut log = BusLog::default();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        log.add(&msg);
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    log
}

/// FFmpeg's stderr for `-af filter` on the file.
fn ffmpeg(path: &std::path::Path, filter: &str) -> String {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", filter, "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs (make deps installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// FFmpeg's `ebur128` per-frame metadata as printed by `ametadata=mode=print`: the
/// momentary and short-term loudness of each frame, by its start in ms.
fn ffmpeg_frames(text: &str) -> std::collections::HashMap<u64, (f64, f64)> {
    let mut frames = std::collections::HashMap::new();
    let (mut t, mut m) = (None, None);
    for line in text.lines() {
        if line.contains("pts_time:") {
            t = Some((ffmpeg_value(line, "pts_time:") * 1000.0).round() as u64);
        } else if line.contains("lavfi.r128.M=") {
            m = Some(ffmpeg_value(line, "lavfi.r128.M="));
        } else if line.contains("lavfi.r128.S=")
            && let (Some(t), Some(m)) = (t, m)
        {
            frames.insert(t, (m, ffmpeg_value(line, "lavfi.r128.S=")));
        }
    }
    frames
}

/// The number after `key` in the last line of `text` that has it.
fn ffmpeg_value(text: &str, key: &str) -> f64 {
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no '{key}' in {text}"));
    let rest = &line[line.find(key).unwrap() + key.len()..];
    rest.split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|e| panic!("{key} in '{line}': {e}"))
}

#[test]
fn agrees_with_ffmpeg_ebur128() {
    let dir = tempdir();
    let mut table = String::from(
        "| signal | vqaudio I | FFmpeg I | vqaudio LRA | FFmpeg LRA | vqaudio TP | FFmpeg TP | \
         M, S: readings, largest difference |\n",
    );
    let cases: [(&str, &[(f64, f64)]); 4] = [
        ("3341-1 -23 dBFS", &[(20.0, -23.0)]),
        (
            "3341-5 -26/-20/-26",
            &[(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)],
        ),
        ("3342-1 -20/-30", &[(20.0, -20.0), (20.0, -30.0)]),
        (
            "3342-4 -50..-20..-50",
            &[
                (20.0, -50.0),
                (20.0, -35.0),
                (20.0, -20.0),
                (20.0, -35.0),
                (20.0, -50.0),
            ],
        ),
    ];
    for (name, segments) in cases {
        let f = |_c: u32, n: u64| sine(n, 1000.0, level_at(segments, n, RATE));
        let s = signal(2, total(segments), &f);
        let path = dir.join(format!("{}.wav", name.split(' ').next().unwrap()));
        write_wav(&s, &path);
        let ours = vqaudio_on_file(&path, "");
        let verdict = measurements(&ours, "loudness").last().copied().unwrap();
        let (i, lra) = (
            value(verdict, "integrated"),
            value(verdict, "loudness-range"),
        );
        let tp = measurements(&ours, "loudness")
            .iter()
            .map(|m| value(m, "true-peak-db"))
            .fold(f64::NEG_INFINITY, f64::max);
        // FFmpeg's per-frame metadata carries three decimals (its summary rounds to one); the
        // last frame's figures cover the whole file.
        let ff = ffmpeg(&path, "ebur128=peak=true:metadata=1,ametadata=mode=print");
        let last = |key: &str| ffmpeg_value(&ff, &format!("lavfi.r128.{key}="));
        let (fi, flra) = (last("I"), last("LRA"));
        let ftp = 20.0 * last("true_peak").log10();
        // Momentary and short-term at every reading: FFmpeg's frame at t - 100 ms covers the
        // 100 ms block that ends at t, where vqaudio reads.
        let frames = ffmpeg_frames(&ff);
        let (mut n, mut dm, mut ds) = (0, 0f64, 0f64);
        for r in measurements(&ours, "loudness") {
            let t = common::ns(r.at.running_time) / 1_000_000;
            let Some(&(fm, fs)) = t.checked_sub(100).and_then(|k| frames.get(&k)) else {
                continue;
            };
            let (m, st) = (value(r, "momentary"), value(r, "short-term"));
            // Both say "nothing yet" before the first 400 ms / 3 s, each in its own way.
            if fm > -120.0 {
                dm = dm.max((m - fm).abs());
            }
            if fs > -120.0 {
                ds = ds.max((st - fs).abs());
                n += 1;
            }
        }
        table.push_str(&format!(
            "| {name} | {i:.3} | {fi:.3} | {lra:.3} | {flra:.3} | {tp:.2} | {ftp:.2} | \
             {n}, {dm:.3}, {ds:.3} |\n"
        ));
        assert!(
            n as f64 >= total(segments) - 4.0,
            "{name}: {n} readings compared\n{table}"
        );
        assert!(dm <= 0.1 && ds <= 0.1, "{name}: M/S\n{table}");
        assert!((i - fi).abs() <= 0.1, "{name}: I {i} vs {fi}\n{table}");
        assert!(
            (lra - flra).abs() <= 0.1,
            "{name}: LRA {lra} vs {flra}\n{table}"
        );
        assert!((tp - ftp).abs() <= 0.1, "{name}: TP {tp} vs {ftp}\n{table}");
    }
    println!("{table}");
}

#[test]
fn silence_matches_ffmpeg_silencedetect() {
    // Speech-like bursts (noise shaped by syllables) with pauses of 0.5 to 3.2 s; silences of 2 s
    // and more are reported, one of them only 2 ms longer, ending inside a 10 ms block.
    // Background hiss at -70 dBFS stays under the -60 dB threshold.
    let pauses = [
        (3.0, 3.5),
        (6.0, 9.2),
        (12.0, 14.05),
        (17.3, 19.1),
        (22.0031, 24.0052),
    ];
    let mut rng = common::Rng::new(7);
    let noise: Vec<f64> = (0..(30 * RATE) as usize)
        .map(|_| rng.unit() * 2.0 - 1.0)
        .collect();
    let f = |_c: u32, n: u64| {
        let t = n as f64 / RATE as f64;
        let hiss = noise[n as usize] * amp(-70.0);
        if pauses.iter().any(|(a, b)| t >= *a && t < *b) {
            hiss
        } else {
            let syllable = (PI * (t * 4.0).fract()).sin().max(0.05);
            noise[n as usize] * 0.3 * syllable
        }
    };
    let s = signal(1, 27.0, &f);
    let dir = tempdir();
    let path = dir.join("speech.wav");
    write_wav(&s, &path);
    let ours = vqaudio_on_file(&path, "");
    let ff = ffmpeg(&path, "silencedetect");
    let starts: Vec<f64> = ff
        .lines()
        .filter(|l| l.contains("silence_start:"))
        .map(|l| ffmpeg_value(l, "silence_start:"))
        .collect();
    let ends: Vec<f64> = ff
        .lines()
        .filter(|l| l.contains("silence_end:"))
        .map(|l| ffmpeg_value(l, "silence_end:"))
        .collect();
    let found = intervals(&ours.defects, "silence");
    assert_eq!(found.len(), 3, "{}\n{ff}", summary(&ours.defects));
    assert_eq!(starts.len(), 3, "{ff}");
    for (k, (s, e)) in found.iter().enumerate() {
        let a = common::ns(s.start.running_time) as f64 / 1e9;
        let b = common::ns(e.end.unwrap().running_time) as f64 / 1e9;
        assert!((a - starts[k]).abs() <= 0.010, "start {a} vs {}", starts[k]);
        assert!((b - ends[k]).abs() <= 0.010, "end {b} vs {}", ends[k]);
    }
}

// --- every defect, with exact times ---------------------------------------------------------

fn span(m: (&gstvqmon::DefectMessage, &gstvqmon::DefectMessage)) -> (u64, u64) {
    (
        common::ns(m.0.start.running_time),
        common::ns(m.1.end.unwrap().running_time),
    )
}

#[test]
fn silence_and_channel_loss_with_exact_times() {
    // Stereo programme: right channel lost 2.5 .. 5.5 s; everything silent 8 .. 11 s.
    let f = |c: u32, n: u64| {
        let t = n as f64 / RATE as f64;
        if (8.0..11.0).contains(&t) || (c == 1 && (2.5..5.5).contains(&t)) {
            0.0
        } else {
            sine(n, 440.0 + 110.0 * c as f64, -12.0) + 0.01
        }
    };
    let s = signal(2, 13.0, &f);
    let log = run_signal(&[], &s);
    let loss = intervals(&log.defects, "channel-loss");
    let silence = intervals(&log.defects, "silence");
    assert_eq!(loss.len(), 1, "{}", summary(&log.defects));
    assert_eq!(silence.len(), 1, "{}", summary(&log.defects));
    assert_eq!(span(loss[0]), (2_500 * MS, 5_500 * MS));
    assert_eq!(span(silence[0]), (8_000 * MS, 11_000 * MS));
    let ev = loss[0].0.evidence.as_ref().unwrap();
    assert_eq!(ev.get::<u32>("channel").unwrap(), 1);
    assert_eq!(ev.get::<String>("position").unwrap(), "FrontRight");
    assert_eq!(log.defects.len(), 4, "{}", summary(&log.defects));
}

#[test]
fn times_sit_on_the_sample_clock_at_any_rate() {
    // A sample's time is its count from the origin, rounded down to the nanosecond as
    // GStreamer timestamps buffers, whichever buffer and block the sample falls in.
    init();
    // 6 s of silence at 48 kHz in 1024-frame buffers (21.33 ms each): open at EOS, it ends at
    // 6 s exactly, not a nanosecond before (block durations were once rounded down one by one).
    let quiet = |_c: u32, _n: u64| 0.0;
    let s = signal(2, 6.0, &quiet);
    let log = run(&[], s.info().to_caps().unwrap(), s.buffers(1024));
    let silence: Vec<_> = intervals(&log.defects, "silence")
        .into_iter()
        .map(span)
        .collect();
    assert_eq!(silence, [(0, 6 * SECOND)], "{}", summary(&log.defects));
    // At 44.1 kHz a sample's time is not a whole nanosecond either. Silence from 0 to sample
    // 100001, a tone to sample 110001, silence to the end at sample 200002, in 1024-frame
    // buffers: each start and end exact, and the EOS end the last buffer's end.
    const CD: u32 = 44_100;
    let at = |k: u64| k * SECOND / CD as u64;
    let f = |_c: u32, n: u64| {
        if (100_001..110_001).contains(&n) {
            0.5 * (2.0 * PI * 1000.0 * n as f64 / CD as f64).sin()
        } else {
            0.0
        }
    };
    let s = Signal {
        channels: 1,
        rate: CD,
        seconds: 200_002.0 / CD as f64,
        f: &f,
    };
    let buffers = s.buffers(1024);
    let last = buffers.last().unwrap();
    let eos = (last.pts().unwrap() + last.duration().unwrap()).nseconds();
    assert_eq!(eos, at(200_002));
    let log = run(&[], s.info().to_caps().unwrap(), buffers);
    let silence: Vec<_> = intervals(&log.defects, "silence")
        .into_iter()
        .map(span)
        .collect();
    assert_eq!(
        silence,
        [(0, at(100_001)), (at(110_001), at(200_002))],
        "{}",
        summary(&log.defects)
    );
}

#[test]
fn clipping_with_count_and_peak() {
    // A +12 dB gain stage clips a -6 dBFS 1 kHz tone from 2 s to 3 s (hard limited at full
    // scale, as an integer stage would).
    let f = |_c: u32, n: u64| {
        let t = n as f64 / RATE as f64;
        let x = sine(n, 1000.0, -6.0);
        if (2.0..3.0).contains(&t) {
            (x * amp(12.0)).clamp(-1.0, 1.0)
        } else {
            x
        }
    };
    let s = signal(1, 6.0, &f);
    let log = run_signal(&[], &s);
    let clip = intervals(&log.defects, "clipping");
    assert_eq!(clip.len(), 1, "{}", summary(&log.defects));
    let (a, b) = span(clip[0]);
    // The first clipped run starts within the first half period, the last ends before 3 s.
    assert!((2_000 * MS..2_001 * MS).contains(&a), "start {a}");
    assert!(b > 2_999 * MS && b <= 3_000 * MS, "end {b}");
    let ev = clip[0].1.evidence.as_ref().unwrap();
    // Two clipped runs per period (positive and negative), 1000 periods.
    assert_eq!(ev.get::<u64>("clips").unwrap(), 2000);
    assert_eq!(ev.get::<f64>("peak-db").unwrap(), 0.0);
    // A clean tone at full scale for a single sample per peak is not clipping.
    let f = |_c: u32, n: u64| (2.0 * PI * 1000.0 * n as f64 / RATE as f64 + 0.3).sin();
    let s = signal(1, 3.0, &f);
    let log = run_signal(&[], &s);
    assert!(
        intervals(&log.defects, "clipping").is_empty(),
        "{}",
        summary(&log.defects)
    );
}

#[test]
fn loudness_compliance_live_and_at_eos() {
    // -23 LUFS programme with a +8 LU step from 20 s to 40 s, against EBU R128.
    let segments = [(20.0, -23.0), (20.0, -15.0), (20.0, -23.0)];
    let f = |_c: u32, n: u64| sine(n, 1000.0, level_at(&segments, n, RATE));
    let s = signal(2, 60.0, &f);
    let log = run_signal(&[("loudness-standard", "ebu-r128".to_value())], &s);
    let loud = intervals(&log.defects, "loudness");
    assert_eq!(
        loud.len(),
        1,
        "{}\n{:?}",
        summary(&log.defects),
        log.measurements
            .iter()
            .map(|m| (m.at.running_time, value(m, "short-term")))
            .collect::<Vec<_>>()
    );
    let (a, b) = span(loud[0]);
    assert!(a > 20_000 * MS && a <= 20_500 * MS, "start {a}");
    assert!(b > 40_000 * MS && b <= 43_100 * MS, "end {b}");
    // The whole programme integrates louder than -22 LUFS: the verdict fails.
    let point: Vec<_> = log
        .defects
        .iter()
        .filter(|m| m.defect == "loudness" && m.phase == Phase::Point)
        .collect();
    assert_eq!(point.len(), 1);
    let v = measurements(&log, "loudness-verdict");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].values.get::<String>("verdict").unwrap(), "fail");
    assert_eq!(v[0].values.get::<String>("standard").unwrap(), "ebu-r128");
    // The same programme without the step passes, with no defect at all.
    let f = |_c: u32, n: u64| sine(n, 1000.0, -23.0);
    let s = signal(2, 30.0, &f);
    let log = run_signal(&[("loudness-standard", "ebu-r128".to_value())], &s);
    assert!(log.defects.is_empty(), "{}", summary(&log.defects));
    let v = measurements(&log, "loudness-verdict");
    assert_eq!(v[0].values.get::<String>("verdict").unwrap(), "pass");
}

#[test]
fn inverted_polarity_and_dual_mono() {
    let mut rng = common::Rng::new(3);
    let music: Vec<f64> = (0..(16 * RATE) as usize)
        .map(|_| rng.unit() - 0.5)
        .collect();
    // A stereo mix: a shared part and a part of each side.
    let f = |c: u32, n: u64| {
        let t = n as f64 / RATE as f64;
        let shared = music[n as usize] * 0.3;
        let side = sine(n, 300.0 + 200.0 * c as f64, -20.0);
        let x = shared + side;
        if c == 1 && (5.0..11.0).contains(&t) {
            -x
        } else {
            x
        }
    };
    let s = signal(2, 16.0, &f);
    let log = run_signal(&[], &s);
    let phase = intervals(&log.defects, "phase");
    assert_eq!(phase.len(), 1, "{}", summary(&log.defects));
    let (a, b) = span(phase[0]);
    assert!(
        a.abs_diff(5_000 * MS) <= 100 * MS,
        "start {a} {}",
        summary(&log.defects)
    );
    assert!(b.abs_diff(11_000 * MS) <= 100 * MS, "end {b}");
    assert_eq!(log.defects.len(), 2, "{}", summary(&log.defects));
    // The same mix is not dual mono; a copy of one channel on both is, when stereo is expected.
    let log = run_signal(&[("expect-stereo", true.to_value())], &s);
    assert!(intervals(&log.defects, "mono").is_empty());
    let g = |_c: u32, n: u64| music[n as usize] * 0.3;
    let mono = signal(2, 8.0, &g);
    let log = run_signal(&[("expect-stereo", true.to_value())], &mono);
    assert_eq!(
        intervals(&log.defects, "mono").len(),
        1,
        "{}",
        summary(&log.defects)
    );
    let log = run_signal(&[], &mono);
    assert!(log.defects.is_empty(), "{}", summary(&log.defects));
}

#[test]
fn clean_speech_music_and_tone_raise_nothing() {
    let mut rng = common::Rng::new(11);
    let noise: Vec<f64> = (0..(40 * RATE) as usize)
        .map(|_| rng.unit() - 0.5)
        .collect();
    // Speech-like: syllables of noise with pauses under 2 s; music-like: chords with a decaying
    // envelope per beat; a tone at -23 LUFS.
    let speech = |_c: u32, n: u64| {
        let t = n as f64 / RATE as f64;
        let pause = (t % 7.0) > 5.5;
        if pause {
            noise[n as usize] * amp(-80.0)
        } else {
            noise[n as usize] * 0.4 * (PI * (t * 4.0).fract()).sin().max(0.02)
        }
    };
    let music = |c: u32, n: u64| {
        let t = n as f64 / RATE as f64;
        let env = (-3.0 * (t * 2.0).fract()).exp();
        let notes = [220.0, 277.2, 329.6];
        let x: f64 = notes
            .iter()
            .map(|f| (2.0 * PI * f * (1.0 + 0.002 * c as f64) * t).sin())
            .sum::<f64>();
        0.2 * env * x + 0.05 * noise[n as usize]
    };
    let tone = |_c: u32, n: u64| sine(n, 1000.0, -23.0);
    let cases: [(&str, u32, &Wave); 3] = [
        ("speech", 1, &speech),
        ("music", 2, &music),
        ("tone", 2, &tone),
    ];
    for (name, channels, f) in cases {
        let s = Signal {
            channels,
            rate: RATE,
            seconds: 40.0,
            f,
        };
        // Dual mono is only a defect where stereo is expected: the music is mixed in stereo.
        let props = [("expect-stereo", (name == "music").to_value())];
        let log = run_signal(&props, &s);
        assert!(log.defects.is_empty(), "{name}: {}", summary(&log.defects));
        assert!(
            log.warnings.is_empty() && log.errors.is_empty(),
            "{name}: {log:?}"
        );
        assert!(measurements(&log, "loudness").len() >= 40, "{name}");
    }
}

// --- odd input ------------------------------------------------------------------------------

/// audiotestsrc -> caps -> vqaudio in a pipeline; the bus log and the final stats.
/// 5.1 carrying stereo (centre, LFE and surrounds digitally silent), the right channel lost
/// 2.5 .. 5 s. At the defaults every silent channel but the LFE is a channel loss; with
/// `loss-channels` only the listed ones are watched, named by position or by number. A listed
/// position the audio does not have is a warning on the bus, and the rest is watched.
#[test]
fn channel_loss_watches_the_listed_channels() {
    use gst_audio::AudioChannelPosition as P;
    init();
    let f = |c: u32, n: u64| {
        let t = n as f64 / RATE as f64;
        if c >= 2 || (c == 1 && (2.5..5.0).contains(&t)) {
            0.0
        } else {
            sine(n, 440.0 + 110.0 * c as f64, -12.0) + 0.01
        }
    };
    let s = signal(6, 6.0, &f);
    let positions = [
        P::FrontLeft,
        P::FrontRight,
        P::FrontCenter,
        P::Lfe1,
        P::RearLeft,
        P::RearRight,
    ];
    let caps = gst_audio::AudioInfo::builder(gst_audio::AudioFormat::F32le, RATE, 6)
        .positions(&positions)
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    let losses = |list: Option<&str>| {
        let props = list.map(|l| ("loss-channels", l.to_value()));
        let log = run(props.as_slice(), caps.clone(), s.buffers(480));
        let got: Vec<(u32, String, (u64, u64))> = intervals(&log.defects, "channel-loss")
            .into_iter()
            .map(|m| {
                let ev = m.0.evidence.as_ref().unwrap();
                (
                    ev.get::<u32>("channel").unwrap(),
                    ev.get::<String>("position").unwrap(),
                    span(m),
                )
            })
            .collect();
        (got, log.warnings)
    };
    let right = (1, "FrontRight".to_string(), (2_500 * MS, 5_000 * MS));
    let (all, warnings) = losses(None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let whole = (0, 6_000 * MS);
    assert_eq!(
        all,
        vec![
            (2, "FrontCenter".into(), whole),
            (4, "RearLeft".into(), whole),
            (5, "RearRight".into(), whole),
            right.clone(),
        ]
    );
    for list in ["front-left,front-right", " 1 , 0 ", "front-left,1"] {
        let (got, warnings) = losses(Some(list));
        assert_eq!(got, vec![right.clone()], "{list}");
        assert!(warnings.is_empty(), "{list}: {warnings:?}");
    }
    let (got, warnings) = losses(Some("front-left,front-right,side-left,7"));
    assert_eq!(got, vec![right.clone()]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("loss-channels names side-left, 7, which this audio (6 channels)"),
        "{warnings:?}"
    );
}

/// A `loss-channels` or `loudness-standard` value that cannot be honoured keeps the previous
/// value and fails the start with the reason, where a gst-launch user looks (it is set before
/// the element has a bus); a valid value set afterwards clears it. Lists read back normalised.
#[test]
fn invalid_settings_fail_the_start_with_the_reason() {
    let src = "audiotestsrc num-buffers=20 ! audio/x-raw,channels=2";
    assert_fails_with(
        &format!("{src} ! vqaudio loss-channels=front-left,front-middle ! fakesink"),
        "Invalid loss-channels: 'front-middle' is neither a channel number nor",
    );
    assert_fails_with(
        &format!("{src} ! vqaudio loss-channels=16 ! fakesink"),
        "channel 16 is beyond the 16 analysed",
    );
    assert_fails_with(
        &format!("{src} ! vqaudio loudness-standard=ebu-r129 ! fakesink"),
        "Invalid loudness-standard 'ebu-r129'",
    );
    assert_eq!(
        first_error(&format!(
            "{src} ! vqaudio loss-channels=front-left loudness-standard=ebu-r128 ! fakesink"
        )),
        None
    );
    init();
    let vq = gst::ElementFactory::make("vqaudio").build().unwrap();
    vq.set_property("loss-channels", "2, rear-right,front-left");
    assert_eq!(
        vq.property::<Option<String>>("loss-channels").as_deref(),
        Some("front-left,rear-right,2")
    );
    vq.set_property("loss-channels", "lfe2");
    vq.set_property("loss-channels", "nowhere");
    assert_eq!(
        vq.property::<Option<String>>("loss-channels").as_deref(),
        Some("lfe2")
    );
    let p = gst::Pipeline::new();
    let (a, sink) = (
        gst::ElementFactory::make("audiotestsrc")
            .property("num-buffers", 5)
            .build()
            .unwrap(),
        gst::ElementFactory::make("fakesink").build().unwrap(),
    );
    p.add_many([&a, &vq, &sink]).unwrap();
    gst::Element::link_many([&a, &vq, &sink]).unwrap();
    assert!(p.set_state(gst::State::Playing).is_err());
    p.set_state(gst::State::Null).unwrap();
    vq.set_property("loss-channels", "");
    assert_eq!(vq.property::<Option<String>>("loss-channels"), None);
    assert!(p.set_state(gst::State::Playing).is_ok());
    p.set_state(gst::State::Null).unwrap();
}

fn pipeline(desc: &str) -> (BusLog, Option<gst::Structure>) {
    init();
    let pipeline = gst::parse::launch(&format!("{desc} ! vqaudio name=vq ! fakesink"))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let vq = pipeline.by_name("vq").unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let mut log = BusLog::default();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        log.add(&msg);
        match msg.view() {
            gst::MessageView::Eos(_) | gst::MessageView::Error(_) => break,
            _ => (),
        }
    }
    let stats = vq.property::<Option<gst::Structure>>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    (log, stats)
}

#[test]
fn odd_formats_are_analysed() {
    let cases = [
        ("S16LE", 8_000, 1, "interleaved"),
        ("F32LE", 192_000, 8, "interleaved"),
        ("U8", 44_100, 2, "interleaved"),
        ("S24BE", 96_000, 6, "interleaved"),
        ("F32LE", 48_000, 2, "non-interleaved"),
        ("S16LE", 48_000, 2, "non-interleaved"),
    ];
    for (format, rate, channels, layout) in cases {
        // 0.5 s of tone, then 2.5 s of silence, converted to the format under test.
        let chain = format!(
            "audiotestsrc num-buffers=50 samplesperbuffer={spb} volume=0.5 ! audio/x-raw,rate={rate},channels={channels} ! c. \
             audiotestsrc num-buffers=250 samplesperbuffer={spb} wave=silence ! audio/x-raw,rate={rate},channels={channels} ! c. \
             concat name=c ! audioconvert dithering=none ! audio/x-raw,format={format},rate={rate},channels={channels},layout={layout}",
            spb = rate / 100
        );
        let (log, stats) = pipeline(&chain);
        let what = format!("{format} {rate} Hz {channels} ch {layout}");
        assert!(
            log.errors.is_empty() && log.warnings.is_empty(),
            "{what}: {log:?}"
        );
        let silence = intervals(&log.defects, "silence");
        assert_eq!(silence.len(), 1, "{what}: {}", summary(&log.defects));
        assert_eq!(
            common::ns(silence[0].0.start.running_time),
            500 * MS,
            "{what}"
        );
        let stats = stats.unwrap();
        assert_eq!(
            stats.get::<u64>("samples").unwrap(),
            3 * rate as u64,
            "{what}"
        );
        // The tone was 0.5 s of the programme: the sample peak is -6 dBFS whatever the format.
        let peak = measurements(&log, "loudness")
            .iter()
            .map(|m| value(m, "sample-peak-db"))
            .fold(f64::NEG_INFINITY, f64::max);
        assert!((peak + 6.02).abs() < 0.1, "{what}: peak {peak}");
    }
}

#[test]
fn unsupported_audio_is_refused_with_a_reason() {
    init();
    // 24 channels and 4 kHz are outside what vqaudio analyses: refused when linking, naming the
    // caps (never passed through unanalysed).
    for caps in [
        "audio/x-raw,channels=24,channel-mask=(bitmask)0",
        "audio/x-raw,rate=4000",
    ] {
        let err = gst::parse::launch(&format!(
            "audiotestsrc num-buffers=10 ! {caps} ! vqaudio ! fakesink"
        ))
        .err()
        .unwrap_or_else(|| panic!("{caps} linked"));
        assert!(err.to_string().contains("can't handle caps"), "{err}");
    }
}

#[test]
fn gaps_untimed_buffers_and_truncated_buffers() {
    init();
    let f = |_c: u32, n: u64| sine(n, 440.0, -10.0) * if n < RATE as u64 * 2 { 1.0 } else { 0.0 };
    let s = signal(2, 6.0, &f);
    let mut buffers = s.buffers(4800);
    // Untimed buffers from 1 s on: placed after the previous ones.
    for b in buffers.iter_mut().skip(10) {
        b.make_mut().set_pts(gst::ClockTime::NONE);
    }
    let log = run(&[], s.info().to_caps().unwrap(), buffers);
    let silence = intervals(&log.defects, "silence");
    assert_eq!(silence.len(), 1, "{}", summary(&log.defects));
    assert_eq!(common::ns(silence[0].0.start.running_time), 2 * SECOND);
    assert_eq!(log.warnings.len(), 1, "{:?}", log.warnings);
    assert!(log.warnings[0].contains("without timestamps"));

    // Silence 2..6 s with 1.5 s of it lost at 3 s: never 2 s of observed silence.
    let mut buffers = s.buffers(4800);
    buffers.retain(|b| {
        let t = b.pts().unwrap().nseconds();
        !(3 * SECOND..4_500 * MS).contains(&t)
    });
    let log = run(&[], s.info().to_caps().unwrap(), buffers);
    assert!(
        intervals(&log.defects, "silence").is_empty(),
        "{}",
        summary(&log.defects)
    );

    // Timestamps drifting 2000 ppm slow (each buffer's PTS 0.2 ms early, 12 ms early after 6 s):
    // absorbed, the samples are contiguous; one silence from 2 s, no discontinuity.
    let mut buffers = s.buffers(4800);
    for b in buffers.iter_mut() {
        let pts = b.pts().unwrap().nseconds();
        b.make_mut()
            .set_pts(gst::ClockTime::from_nseconds(pts - pts / 500));
    }
    let log = run(&[], s.info().to_caps().unwrap(), buffers);
    let silence = intervals(&log.defects, "silence");
    assert_eq!(silence.len(), 1, "{}", summary(&log.defects));
    assert_eq!(silence[0].1.end_reason, Some(gstvqmon::EndReason::Eos));

    // A buffer that does not hold whole frames passes through and is counted.
    let mut buffers = s.buffers(4800);
    buffers.insert(3, gst::Buffer::from_mut_slice(vec![0u8; 7]));
    init();
    let mut h = gst_check::Harness::new("vqaudio");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(s.info().to_caps().unwrap());
    h.play();
    for b in buffers {
        assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok));
    }
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("bad-buffers").unwrap(), 1);
    let mut log = BusLog::default();
    log.drain(&bus);
    assert_eq!(log.warnings.len(), 1, "{log:?}");
}

#[test]
fn open_defects_close_at_flush_caps_change_and_stop() {
    init();
    let f = |_c: u32, _n: u64| 0.0;
    let s = signal(2, 3.0, &f);
    // 3 s of stereo silence, an open defect; then `close`; the defects that ended.
    let ended = |close: &dyn Fn(&mut gst_check::Harness)| {
        let mut h = gst_check::Harness::new("vqaudio");
        let bus = gst::Bus::new();
        h.element().unwrap().set_bus(Some(&bus));
        h.set_src_caps(s.info().to_caps().unwrap());
        h.play();
        for b in s.buffers(4800) {
            h.push(b).unwrap();
        }
        close(&mut h);
        let mut log = BusLog::default();
        log.drain(&bus);
        let ends: Vec<_> = log
            .defects
            .into_iter()
            .filter(|m| m.phase == Phase::End)
            .collect();
        assert_eq!(ends.len(), 1, "{}", summary(&ends));
        (
            ends[0].end_reason,
            common::ns(ends[0].end.unwrap().running_time),
        )
    };
    let flush = ended(&|h| {
        assert!(h.push_event(gst::event::FlushStart::new()));
        assert!(h.push_event(gst::event::FlushStop::new(true)));
    });
    assert_eq!(flush, (Some(gstvqmon::EndReason::Flush), 3 * SECOND));
    // A caps change closes too.
    let caps = ended(&|h| {
        let mono = gst_audio::AudioInfo::builder(gst_audio::AudioFormat::F32le, RATE, 1)
            .build()
            .unwrap();
        h.set_src_caps(mono.to_caps().unwrap());
        let mut b = gst::Buffer::from_mut_slice(vec![0u8; 4 * 480]);
        b.make_mut().set_pts(gst::ClockTime::from_seconds(3));
        h.push(b).unwrap();
    });
    assert_eq!(caps, (Some(gstvqmon::EndReason::Caps), 3 * SECOND));
    // So does stopping the element, at the end of the last sample seen.
    let stop = ended(&|h| {
        h.element()
            .unwrap()
            .set_state(gst::State::Null)
            .expect("stops");
    });
    assert_eq!(stop, (Some(gstvqmon::EndReason::Stopped), 3 * SECOND));
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vqaudio-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
