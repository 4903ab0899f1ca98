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
        use gstvqmon::message::Phase;
        use gstvqmon::vqaudio::detect::{DEFAULT_PARAMS, Detector, Events, Params};
        use std::collections::HashMap;
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
            d.push(&samples[i * channels..(i + len) * channels], times, t, &p, &mut ev);
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
        let mut open = HashMap::new();
        for e in &events {
            prop_assert!(e.start_t >= lowest && e.start_t <= latest_end + 1, "{e:?}");
            match e.phase {
                Phase::Start => {
                    prop_assert!(open.insert(e.id, e.start_t).is_none(), "{e:?}");
                }
                Phase::End => {
                    let start = open.remove(&e.id);
                    prop_assert_eq!(start, Some(e.start_t), "{:?}", e);
                    let end = e.start_t + e.duration.expect("an end has a duration");
                    // (Sample times are rounded to the ns, the buffers' durations truncated.)
                    prop_assert!(end <= latest_end + 1, "{e:?} ends after {latest_end}");
                }
                Phase::Update => prop_assert!(open.contains_key(&e.id), "{e:?}"),
                Phase::Point => (),
            }
        }
        prop_assert!(open.is_empty(), "never ended: {open:?}");
    }
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
