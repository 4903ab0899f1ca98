// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Property-based tests: the string parsers (regions, vqinject schedules) and the analysis cores
//! fed planes of arbitrary sizes, strides and content, or any audio, never panic, and keep their
//! contracts.

use gstvqmon::avsyncmon::cues::{BeepDetector, BeepParams, VisualProbe};
use gstvqmon::luma::LumaLayout;
use gstvqmon::regions::Regions;
use gstvqmon::transport::{Codec, Framing, Stream, picture};
use gstvqmon::vqartifact::cells::{CellParams, Cells};
use gstvqmon::vqartifact::features::Features;
use gstvqmon::vqfreeze::stillness::{Stillness, measure_plane_u8};
use gstvqmon::vqinject::schedule;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text parses or is refused with a reason; what parses prints back to the same regions,
    /// and its block mask fits any picture.
    #[test]
    fn regions_parse_print_and_mask(text in "[a-z:;,.%0-9 -]{0,60}", w in 1usize..2000, h in 1usize..1200) {
        match text.parse::<Regions>() {
            Ok(r) => {
                let again: Regions = r.to_string().parse().expect("printed regions parse");
                prop_assert_eq!(&again, &r);
                let (cols, rows) = (w.div_ceil(16), h.div_ceil(16));
                let mut mask = vec![false; cols * rows];
                let n = r.block_mask(w, h, 16, 16, &mut mask);
                prop_assert_eq!(n, mask.iter().filter(|m| **m).count());
                if r.is_empty() {
                    prop_assert_eq!(n, cols * rows);
                }
            }
            Err(e) => prop_assert!(!e.0.is_empty()),
        }
    }

    /// Well-formed rectangles always parse.
    #[test]
    fn generated_regions_parse(rects in prop::collection::vec(
        (any::<bool>(), 0u32..5000, 0u32..5000, 0u32..5000, 0u32..5000, any::<bool>()), 1..5)) {
        let text: Vec<String> = rects
            .iter()
            .map(|(inc, x, y, w, h, pct)| {
                let u = if *pct { "%" } else { "" };
                format!("{}:{x}{u},{y}{u},{w}{u},{h}{u}", if *inc { "include" } else { "exclude" })
            })
            .collect();
        let r: Regions = text.join(";").parse().expect("well formed");
        prop_assert!(!r.is_empty());
        let again: Regions = r.to_string().parse().expect("printed regions parse");
        prop_assert_eq!(again, r);
    }

    /// Any schedule text parses or is refused with a reason.
    #[test]
    fn schedules_never_panic(text in "[a-z@+:=;,.0-9#\n ]{0,80}") {
        if let Err(e) = schedule::parse(&text) {
            prop_assert!(!e.0.is_empty());
        }
    }

    /// Well-formed entries parse to their times, to the nanosecond.
    #[test]
    fn generated_schedules_parse(start_ms in 0u64..10_000_000, dur_ms in 1u64..100_000) {
        let e = schedule::parse_one(&format!("freeze@{start_ms}ms+{dur_ms}ms")).unwrap();
        prop_assert_eq!(e.start, Some(start_ms * 1_000_000));
        prop_assert_eq!(e.duration, dur_ms * 1_000_000);
    }

    /// vqfreeze's block measurements on any picture size, stride and content: finite figures,
    /// and a picture compared with itself is exactly still.
    #[test]
    fn stillness_on_any_plane(w in 1usize..300, h in 1usize..200, pad in 0usize..40, seed in any::<u64>()) {
        let stride = w + pad;
        let plane = noise(stride * h, seed);
        let mut s = Stillness::new(w, h, 8);
        measure_plane_u8(&mut s, &plane, stride);
        s.set_reference_to_current();
        let st = measure_plane_u8(&mut s, &plane, stride);
        prop_assert!(st.exact);
        prop_assert_eq!(st.mafd, 0.0);
        let other = noise(stride * h, seed ^ 0x9e37_79b9);
        let st = measure_plane_u8(&mut s, &other, stride);
        prop_assert!(st.mafd.is_finite() && st.max_block_mad.is_finite());
    }

    /// vqartifact's one-pass features on any size, stride, offset and content: the profiles
    /// cover the picture and agree with a direct count.
    #[test]
    fn features_on_any_plane(w in 1usize..300, h in 1usize..200, pad in 0usize..40, off in 0usize..64, seed in any::<u64>()) {
        let stride = w + pad;
        let plane = noise(off + stride * h, seed);
        let mut f = Features::new(w, h);
        f.begin(w, h);
        f.plane(&plane, stride, off);
        let row = |y: usize| &plane[off + y * stride..off + y * stride + w];
        // Column profile: horizontal steps summed over every row.
        for x in 1..w {
            let want: u32 = (0..h).map(|y| u32::from(row(y)[x].abs_diff(row(y)[x - 1]))).sum();
            prop_assert_eq!(f.colprof[x], want, "column {}", x);
        }
        for y in 1..h {
            let want: u32 = (0..w).map(|x| u32::from(row(y)[x].abs_diff(row(y - 1)[x]))).sum();
            prop_assert_eq!(f.rowprof[y], want, "row {}", y);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// avsyncmon's flash probe on any size, stride and content: a plane large enough is analysed,
    /// a short one is refused with a reason, never a panic.
    #[test]
    fn flash_probe_on_any_plane(w in 1usize..200, h in 1usize..150, pad in 0usize..40, short in 0usize..3, seed in any::<u64>()) {
        gst::init().unwrap();
        let layout = LumaLayout::for_format(gst_video::VideoFormat::Gray8).unwrap();
        let stride = w + pad;
        let mut probe = VisualProbe::new(layout, w, h);
        let len = (stride * h).saturating_sub(short * (pad + 1));
        let plane = noise(len, seed);
        let need = (h - 1) * stride + w;
        for _ in 0..2 {
            match probe.analyse(&plane, stride) {
                Ok(_) => prop_assert!(len >= need),
                Err(e) => prop_assert!(len < need && !e.is_empty()),
            }
        }
    }

    /// The beep detector on any samples at any rate: no panic, and every beep it reports is
    /// timed inside the stream.
    #[test]
    fn beeps_from_any_samples(rate in 8_000u32..192_000, seed in any::<u64>(), tone in any::<bool>()) {
        let mut d = BeepDetector::new(rate, BeepParams::default());
        let n = rate as usize / 2;
        let bytes = noise(n, seed);
        for (i, &b) in bytes.iter().enumerate() {
            let x = if tone && (n / 4..n / 2).contains(&i) {
                0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / rate as f32).sin()
            } else {
                (f32::from(b) - 128.0) / 4096.0
            };
            if let Some(beep) = d.push(x, x.abs(), (0, 0)) {
                prop_assert!(beep.onset <= i as u64);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The cell decisions on frames of any size whose blocks move against each other (seams at
    /// every side, the picture's edges included): no panic, and counts that hold together.
    #[test]
    fn cells_on_any_frames(w in 1usize..200, h in 1usize..150, seed in any::<u64>()) {
        let mut f = Features::new(w, h);
        let mut cells = Cells::new(w.div_ceil(16), h.div_ceil(16));
        let clean = CellParams { step_min: 10.0, ..CellParams::default() };
        let shifts = noise(64, seed);
        // Displaced cells of this frame and the two before (those held).
        let mut recent = [0u32; 3];
        for k in 0..5usize {
            let plane: Vec<u8> = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    // A few blocks move in each frame (not a cut: most stay).
                    let r = shifts[(k * 7 + x / 16 + 3 * (y / 16)) % 64];
                    let s = if r < 64 { usize::from(r % 12) } else { 0 };
                    let (u, v) = (x + s, y + s / 2);
                    (100.0 + 40.0 * ((u as f32 / 3.0).sin() + (v as f32 / 4.0).cos())) as u8
                })
                .collect();
            f.begin(w, h);
            f.plane(&plane, w, 0);
            let r = cells.analyse(&f, &clean, 3);
            prop_assert!(r.new_cells <= r.cells);
            prop_assert!(r.displaced <= r.new_cells);
            recent = [r.displaced, recent[0], recent[1]];
            // Counted around this frame's displaced cells, with the held ones.
            prop_assert_eq!(r.displaced_cluster == 0, r.displaced == 0);
            prop_assert!(r.displaced_cluster <= recent.iter().sum::<u32>());
            prop_assert!(usize::from(r.displaced_age) < recent.len());
            prop_assert!(r.displaced_age == 0 || recent[usize::from(r.displaced_age)] > 0);
            prop_assert!(r.displaced_age == 0 || r.displaced_cluster >= 2);
        }
    }
}

proptest! {
    /// The picture reader sees whatever an upstream parser pushes, damaged streams included:
    /// any bytes, in any framing of any codec, give a picture type or none, never a panic; and
    /// an IDR slice after a delimiter is read with every prefix length.
    #[test]
    fn pictures_of_any_bytes(
        data in prop::collection::vec(any::<u8>(), 0..300),
        codec in 0usize..3,
        framing in 0usize..5,
    ) {
        let codec = [Codec::H264, Codec::H265, Codec::Mpeg2][codec];
        let framing = match framing {
            0 => Framing::StartCodes,
            n => Framing::Length(n),
        };
        let stream = Stream { codec, framing };
        let _ = picture(stream, &data);
        if let (Codec::H264, Framing::Length(size)) = (codec, framing) {
            // An AUD whose length prefix is right, then an IDR slice.
            let mut unit = vec![0u8; size - 1];
            unit.push(2);
            unit.extend([0x09, 0x10]);
            unit.extend(std::iter::repeat_n(0u8, size - 1));
            unit.extend([2, 0x65, 0x88]);
            prop_assert_eq!(picture(stream, &unit), Some(gstvqmon::transport::Picture::Recovery));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// vqaudio's decisions on any sequence of silence, near-silence, full-scale runs, tones and
    /// noise, in any channel, cut into buffers of any size, with gaps and timestamps going back:
    /// no panic, every defect starts inside the audio fed and ends once (at the latest when the
    /// stream closes), no later than the audio fed, where it started.
    #[test]
    fn audio_decisions_on_any_samples(
        channels in 1usize..6,
        rate in prop::sample::select(vec![8_000u32, 44_100, 48_000]),
        parts in prop::collection::vec((0u8..6, 0usize..4, 1usize..2_000), 1..40),
        blocks in prop::collection::vec(1usize..700, 1..8),
        jumps in prop::collection::vec(-30i64..60, 0..3),
        seed in any::<u64>(),
    ) {
        use gstvqmon::event::Times;
        use gstvqmon::vqaudio::detect::{DEFAULT_PARAMS, Detector, Events, Params};
        use std::sync::{Arc, atomic::AtomicU64};

        let pair = (channels >= 2).then_some((0, 1));
        let mut d = Detector::new(channels, rate, 0, pair, None, Arc::new(AtomicU64::new(1)))
            .expect("a supported layout");
        // Short durations, so that a second of audio decides everything there is to decide.
        let ms = 1_000_000u64;
        let p = Params {
            silence_duration: 40 * ms,
            hold: 20 * ms,
            loudness_min_duration: 100 * ms,
            measurement_interval: 100 * ms,
            update_interval: 50 * ms,
            expect_stereo: true,
            ..DEFAULT_PARAMS
        };
        // Frames: part kinds (0 silence, 1 near silence, 2 full scale, 3 tone, 4 noise, 5 the
        // part's channel alone silent), each in one channel or all.
        let noise = noise(4096, seed);
        let mut samples = Vec::new();
        let mut frame = 0usize;
        for &(kind, ch, len) in &parts {
            for k in 0..len {
                for c in 0..channels {
                    let n = noise[(frame + c * 7) % noise.len()];
                    let tone = 0.5 * (frame as f32 * 0.07).sin();
                    let x = match kind {
                        0 => 0.0,
                        1 => 0.0005,
                        2 => if k % 2 == 0 { 1.0 } else { -1.0 },
                        3 => tone,
                        4 => (f32::from(n) - 128.0) / 128.0,
                        _ => if c == ch % channels { 0.0 } else { tone },
                    };
                    // A part in one channel leaves the others at the tone.
                    let own = kind == 5 || ch == 0 || c == ch % channels;
                    samples.push(if own { x } else { tone });
                }
                frame += 1;
            }
        }
        let mut events = Vec::new();
        let (mut t, mut i, mut b, mut latest_end) = (1_000 * ms, 0usize, 0usize, 0u64);
        let first = t;
        while i < frame {
            let len = blocks[b % blocks.len()].min(frame - i);
            // Before every other buffer, while they last: a gap (> 0) or timestamps going back
            // (< 0), in ms.
            if b % 2 == 1
                && let Some(&j) = jumps.get(b / 2)
            {
                t = t.saturating_add_signed(j * ms as i64);
            }
            let times = Times { pts: Some(t), running_time: Some(t), stream_time: Some(t) };
            let mut ev = Events::default();
            d.push(&samples[i * channels..(i + len) * channels], (times, t), 0, &p, &mut ev);
            events.extend(ev.iter().copied());
            t += len as u64 * 1_000_000_000 / u64::from(rate);
            latest_end = latest_end.max(t);
            i += len;
            b += 1;
        }
        let mut ev = Events::default();
        d.close(gstvqmon::EndReason::Eos, &p, &mut ev);
        events.extend(ev.iter().copied());

        let lowest = first.saturating_sub(30 * ms * jumps.len() as u64);
        one_life_each(&events, lowest, latest_end)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// vqfreeze's decisions on any run of repeated, refreshed, changed, black and fading frames,
    /// at any rate, with missing durations, gaps, duplicates flagged upstream, stalls reported by
    /// the watchdog and timestamps going back: no panic, and every defect starts inside the
    /// frames fed, ends once, not before it started and no later than the last frame's end.
    #[test]
    fn freeze_decisions_on_any_frames(
        frames in prop::collection::vec((0u8..7, 0u64..4, 0u8..8), 1..300),
        period in prop::sample::select(vec![16_683_333u64, 40_000_000, 83_333_333]),
    ) {
        use gstvqmon::event::Times;
        use gstvqmon::vqfreeze::stillness::FrameStats;
        use gstvqmon::vqfreeze::tracker::{DEFAULT_PARAMS, Features, FrameInput, Tracker};
        use std::sync::{Arc, atomic::AtomicU64};

        struct F(u32);
        impl Features for F {
            fn noise_floor(&self) -> f64 {
                0.5
            }
            fn content_blocks(&self) -> u32 {
                self.0
            }
        }
        let ms = 1_000_000u64;
        let p = gstvqmon::vqfreeze::tracker::Params {
            min_duration: 100 * ms,
            black_min_duration: 80 * ms,
            stall_timeout: 150 * ms,
            update_interval: 60 * ms,
            ..DEFAULT_PARAMS
        };
        let mut tr = Tracker::new(Arc::new(AtomicU64::new(1)));
        let (mut t, mut latest, lowest) = (10_000 * ms, 0u64, 9_000 * ms);
        let mut events = Vec::new();
        for (k, &(kind, repeat, quirk)) in frames.iter().enumerate() {
            for _ in 0..=repeat {
                // 0 exact repeat, 1 refreshed repeat, 2 changed, 3 black, 4 black with a logo,
                // 5 fading, 6 first after a reset.
                let changed = matches!(kind, 2 | 5);
                let stats = FrameStats {
                    compared: kind != 6,
                    exact: kind == 0,
                    mafd: [0.0, 0.6, 9.0, 0.0, 0.2, 2.5, 0.0][kind as usize],
                    max_block_mad: [0.0, 1.5, 30.0, 0.0, 0.5, 3.0, 0.0][kind as usize],
                    noise_floor: 0.5,
                    max_mean_delta: if changed { 12.0 } else { 0.3 },
                    max_ref_delta: if changed { 12.0 } else { 0.5 },
                    max_origin_delta: if kind == 5 { 2.0 * k as f64 } else { 0.5 },
                    black_ratio: if matches!(kind, 3 | 4) { 1.0 } else { 0.02 },
                    mean_luma: if matches!(kind, 3 | 4) { 16.0 } else { 110.0 },
                };
                // Quirks: 0 no duration, 1 a gap of 5 frames, 2 time going back 2 frames,
                // 3 a duplicate flagged upstream, 4 a stall the watchdog reported.
                let duration = if quirk == 0 { 0 } else { period };
                match quirk {
                    1 => t += 5 * period,
                    2 => t = t.saturating_sub(2 * period).max(lowest),
                    _ => (),
                }
                let input = FrameInput {
                    times: Times { pts: Some(t), running_time: Some(t), stream_time: Some(t) },
                    t,
                    duration,
                    stats,
                    gap_flag: quirk == 3,
                };
                let features = F(if kind == 4 { 3 } else { 0 });
                let step = tr.push(input, &features, &p, quirk == 4);
                events.extend(step.events.iter().copied());
                t += period;
                latest = latest.max(t);
            }
        }
        events.extend(tr.close(gstvqmon::EndReason::Eos, Some(latest), &p).iter().copied());

        one_life_each(&events, lowest, latest)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// avsyncmon's timestamp checks on any sequence of buffers: on time, jittered, after a gap,
    /// overlapping, going back, flagged DISCONT, after a GAP event, after a reset, with or
    /// without a content clock and durations, and with a clock running fast: no panic; every
    /// discontinuity says how far the buffer was from where it was due, in the direction its
    /// kind says, and is counted once; every drift defect ends once.
    #[test]
    fn timestamp_checks_on_any_buffers(
        audio in any::<bool>(),
        clock in any::<bool>(),
        steps in prop::collection::vec((0u8..9, 0i64..400, any::<bool>()), 1..400),
        ppm in prop::sample::select(vec![0i64, 150, 5_000]),
    ) {
        use gstvqmon::avsyncmon::timeline::{
            ContentClock, DiscontKind, Media, Timeline, TimelineEvent, TimelineParams,
        };
        use gstvqmon::message::Stamp;

        let ms = 1_000_000u64;
        let media = if audio { Media::Audio } else { Media::Video };
        let (units, unit_ns) = if audio { (960u64, 20 * ms) } else { (1, 40 * ms) };
        let content_clock = match (clock, audio) {
            (false, _) => None,
            (true, true) => ContentClock::audio(48_000),
            (true, false) => ContentClock::video(25, 1),
        };
        let params = TimelineParams {
            drift_window: 2_000 * ms,
            discont_wait: 200 * ms,
            ..TimelineParams::default()
        };
        let mut tl = Timeline::new(media);
        tl.set_clock(content_clock);
        let mut next_id = 1u64;
        let mut ids = || {
            next_id += 1;
            next_id
        };
        let (mut rt, mut out) = (5_000 * ms, Vec::new());
        let stamp = |rt: u64| Stamp {
            pts: Some(gst::ClockTime::from_nseconds(rt)),
            running_time: Some(gst::ClockTime::from_nseconds(rt)),
            stream_time: Some(gst::ClockTime::from_nseconds(rt)),
        };
        for &(kind, amount, with_duration) in &steps {
            // 0-2 on time, 3 jitter of up to +/- 5 ms, 4 a gap, 5 an overlap, 6 back in time,
            // 7 a GAP event, 8 a reset (flush).
            let mut flagged = false;
            match kind {
                3 => rt = rt.saturating_add_signed((amount % 11 - 5) * ms as i64),
                4 => rt += amount as u64 * ms,
                5 => rt = rt.saturating_sub(amount as u64 * ms / 4),
                6 => {
                    rt = rt.saturating_sub(amount as u64 * ms + unit_ns);
                    flagged = amount % 2 == 0;
                }
                7 => {
                    rt += amount as u64 * ms;
                    tl.gap(rt);
                }
                8 => tl.reset(stamp(rt), rt, &mut out),
                _ => (),
            }
            let duration = with_duration.then_some(unit_ns);
            tl.push(&params, rt, units, duration, flagged, stamp(rt), &mut ids, &mut out);
            // The stream's timestamps run `ppm` fast against its content.
            rt += unit_ns + unit_ns * ppm as u64 / 1_000_000;
        }
        tl.finish(stamp(rt), rt, &mut out);

        let mut drifts = std::collections::HashMap::new();
        let mut disconts = 0u64;
        for e in &out {
            match e {
                TimelineEvent::Discont(d) => {
                    disconts += 1;
                    prop_assert_eq!(d.delta, d.rt as i64 - d.expected as i64, "{:?}", d);
                    match d.kind {
                        DiscontKind::Gap => prop_assert!(d.delta > 0, "{d:?}"),
                        DiscontKind::Overlap => prop_assert!(d.delta < 0, "{d:?}"),
                        DiscontKind::Backwards => prop_assert!(d.delta < 0, "{d:?}"),
                    }
                }
                TimelineEvent::DriftStart(d) => {
                    prop_assert!(drifts.insert(d.id, d.start_rt).is_none(), "{d:?}");
                }
                // (An end placed before its start, after timestamps went back, is clamped where
                // the message is made: `end_not_before_start`.)
                TimelineEvent::DriftEnd { drift, .. } => {
                    prop_assert_eq!(drifts.remove(&drift.id), Some(drift.start_rt));
                }
            }
        }
        prop_assert!(drifts.is_empty(), "never ended: {drifts:?}");
        let s = tl.stats;
        prop_assert_eq!(s.gaps + s.overlaps + s.backwards, disconts);
        prop_assert_eq!(s.buffers, steps.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// avsyncmon's content estimator on any motion and audio onsets, with frames and hops that
    /// skip, repeat or go back, and an audio stream that starts late or stops: no panic; an
    /// estimate is within the lags searched, with a finite confidence between 0 and 1.
    #[test]
    fn content_estimates_on_any_series(
        frames in prop::collection::vec((0u8..40, 0u8..255, 0u8..255), 100..700),
        audio_skew in -300i64..300,
        max_lag_ms in prop::sample::select(vec![100u64, 500, 1_000, 3_000]),
        window_s in prop::sample::select(vec![1u64, 8, 20]),
    ) {
        use gstvqmon::avsyncmon::content::{Correlator, HOP};

        let ms = 1_000_000u64;
        let (window, max_lag, interval) = (window_s * 1_000 * ms, max_lag_ms * ms, 500 * ms);
        let mut c = Correlator::new();
        let mut estimates = Vec::new();
        let mut rt = 60_000 * ms;
        for &(quirk, motion, flux) in &frames {
            // 2 a skip of 25 frames, 3 back by 3 frames, otherwise on time.
            match quirk {
                2 => rt += 25 * 40 * ms,
                3 => rt -= 3 * 40 * ms,
                _ => (),
            }
            // Motion rises on a few frames (a cut, a hand coming down).
            let motion = if motion > 230 { f32::from(motion) } else { 1.0 };
            c.push_video(rt, 40 * ms, motion);
            // Four 10 ms audio hops per frame, skewed against the video; none in the last
            // tenth (the audio stopped).
            if rt < 60_000 * ms + frames.len() as u64 * 36 * ms {
                // Mostly the frame's motion again (so that estimates are made), sometimes noise.
                let first = (rt as i64 + audio_skew * ms as i64) as u64 / HOP;
                for h in first..first + 4 {
                    let x = match (flux < 240, h == first) {
                        (true, true) => motion,
                        (true, false) => 0.0,
                        (false, _) => f32::from(flux.wrapping_add(h as u8)),
                    };
                    c.push_audio(h, x / 64.0);
                }
            }
            estimates.extend(c.poll(window, max_lag, interval));
            rt += 40 * ms;
        }
        estimates.extend(c.finish(window, max_lag));
        for e in &estimates {
            prop_assert!(e.psr.is_finite() && e.z.is_finite() && e.chance.is_finite(), "{e:?}");
            if let Ok(v) = e.result {
                prop_assert!(v.offset.unsigned_abs() <= max_lag, "{e:?}");
                prop_assert!((0.0..=1.0).contains(&v.confidence), "{e:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// vqartifact's decisions on any frames: damaged cells of every kind, blocky and clean
    /// coding, scene cuts, decoder flags, lost frames, transport errors and damage carried to a
    /// recovery point, frames without pixels, and timestamps going back: no panic, and every
    /// defect starts inside the frames fed, ends once, no later than the last frame's end.
    #[test]
    fn artifact_decisions_on_any_frames(
        frames in prop::collection::vec((0u8..12, 0u8..20, 0u8..8), 1..400),
    ) {
        use gstvqmon::event::Times;
        use gstvqmon::transport::{Picture, TransportFrame};
        use gstvqmon::vqartifact::cells::CellFrame;
        use gstvqmon::vqartifact::decide::{Detector, Frame, LostFrames, Params, Pixels};
        use gstvqmon::vqartifact::events::{
            BlockinessParams, BlockinessTracker, CorruptionParams, CorruptionTracker,
        };
        use std::sync::{Arc, atomic::AtomicU64};

        let ms = 1_000_000u64;
        let ids = Arc::new(AtomicU64::new(1));
        let mut d = Detector::new(
            CorruptionTracker::new(ids.clone(), 50),
            BlockinessTracker::new(ids),
        );
        let p = Params {
            corruption: CorruptionParams {
                cluster_min: 3,
                hangover: 200 * ms,
                scenecut: 20.0,
                use_decoder_flags: true,
                use_lost_frames: true,
                use_transport_errors: true,
                propagate_damage: true,
                update_interval: 100 * ms,
            },
            blockiness: BlockinessParams {
                warn: 1.3,
                alarm: 1.5,
                min_duration: 200 * ms,
                smoothing: 100 * ms,
                update_interval: 100 * ms,
            },
            cell: 16,
            measurement_interval: 200 * ms,
        };
        let times = |t: u64| Times { pts: Some(t), running_time: Some(t), stream_time: Some(t) };
        let (mut t, mut latest, lowest) = (10_000 * ms, 0u64, 9_000 * ms);
        let mut events = Vec::new();
        for &(kind, amount, quirk) in &frames {
            // Quirks: 1 back 2 frames, 2 decoder flag, 3 frames lost before, 4 a transport error,
            // 5 a recovery picture, 6 no pixels.
            if quirk == 1 {
                t = t.saturating_sub(80 * ms).max(lowest);
            }
            let n = u32::from(amount);
            // Kinds: 0-3 clean, 4 new boxed cells, 5 a cluster, 6 popped held, 7 stalled,
            // 8 displaced, 9 a cut, 10 blocky coding, 11 very blocky.
            let cells = CellFrame {
                new_cells: if (4..9).contains(&kind) { n } else { 0 },
                flagged: n,
                cluster: if kind == 5 { n } else { n.min(1) },
                bbox: (kind >= 4).then_some((1, 1, 3, 2)),
                popped: if kind == 6 { n } else { 0 },
                cluster_held: if kind == 6 { n } else { 0 },
                stalled: if kind == 7 { n } else { 0 },
                displaced: if kind == 8 { n.min(3) } else { 0 },
                displaced_cluster: if kind == 8 { n } else { 0 },
                displaced_age: if kind == 8 { amount % 3 } else { 0 },
                cell_mafd: if kind == 9 { 40.0 } else { 1.0 },
                cells: 400,
                ..CellFrame::default()
            };
            let r8 = match kind {
                10 => 1.4,
                11 => 2.2,
                _ => 1.05,
            };
            let frame = Frame {
                times: times(t),
                t,
                dur: 40 * ms,
                now: Some(t),
                lost: if quirk == 3 {
                    LostFrames { counted: 2, evidence: 2, start: Some((times(t - 80 * ms), t - 80 * ms)) }
                } else {
                    LostFrames::default()
                },
                decoder_flag: quirk == 2,
                transport: TransportFrame {
                    errors: u32::from(quirk == 4),
                    propagated: quirk == 4 || amount % 5 == 0,
                    picture: match quirk {
                        5 => Some(Picture::Recovery),
                        7 => Some(Picture::NonReference),
                        _ => Some(Picture::Reference),
                    },
                },
                startup: false,
                step: 1,
                // (No grid estimated yet: period 0.)
                pixels: (quirk != 6).then_some(Pixels { cells, r8, r16: r8, ..Pixels::default() }),
            };
            let decided = d.frame(&frame, &p);
            events.extend(decided.events.iter().copied());
            t += 40 * ms;
            latest = latest.max(t);
        }
        let end = Some((times(t), t));
        events.extend(d.close(end, gstvqmon::EndReason::Eos, Some(t)).iter().copied());

        one_life_each(&events, lowest - 80 * ms, latest)?;
    }
}

/// Every defect of `events` starts within `lowest..=latest`, once; its heartbeats come while it
/// is open; it ends once, where it started, no later than `latest`; none is left open.
fn one_life_each<D: std::fmt::Debug, E: std::fmt::Debug>(
    events: &[gstvqmon::event::DefectEvent<D, E>],
    lowest: u64,
    latest: u64,
) -> Result<(), TestCaseError> {
    use gstvqmon::message::Phase;
    let mut open = std::collections::HashMap::new();
    for e in events {
        prop_assert!(e.start_t >= lowest && e.start_t <= latest, "{e:?}");
        match e.phase {
            Phase::Start => prop_assert!(open.insert(e.id, e.start_t).is_none(), "{e:?}"),
            Phase::End => {
                prop_assert_eq!(open.remove(&e.id), Some(e.start_t), "{:?}", e);
                let end = e.start_t + e.duration.expect("an end has a duration");
                prop_assert!(end <= latest, "{e:?} ends after {latest}");
            }
            Phase::Update => prop_assert!(open.contains_key(&e.id), "{e:?}"),
            Phase::Point => (),
        }
    }
    prop_assert!(open.is_empty(), "never ended: {open:?}");
    Ok(())
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
