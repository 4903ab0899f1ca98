// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Real H.264 streams made from the test scene, damaged before decoding (flipped bytes, lost
//! transport packets), and ground truth from the difference to the clean decode.

use super::*;

/// An encoded stream: access units (byte-stream, one per frame) and their caps.
pub struct Encoded {
    pub caps: gst::Caps,
    pub units: Vec<gst::Buffer>,
    pub width: usize,
    pub height: usize,
    pub fps: u64,
}

/// How the picture of each frame is made.
pub type Render<'a> = &'a dyn Fn(u64, &mut [u8], usize);

/// Encodes `frames` frames rendered by `render` (luma; chroma is flat) with x264 `x264` options.
pub fn encode(w: usize, h: usize, fps: u64, frames: u64, x264: &str, render: Render) -> Encoded {
    init();
    let info = i420_info(w as u32, h as u32, fps as i32);
    let p = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{}\" ! x264enc threads=1 {x264} ! \
         h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        info.to_caps().unwrap()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = appsrc(&p);
    let sink = p
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    p.set_state(gst::State::Playing).unwrap();
    for i in 0..frames {
        let mut buf = gst::Buffer::with_size(info.size()).unwrap();
        {
            let b = buf.get_mut().unwrap();
            let mut f = gst_video::VideoFrameRef::from_buffer_ref_writable(b, &info).unwrap();
            let stride = f.plane_stride()[0] as usize;
            render(i, f.plane_data_mut(0).unwrap(), stride);
            for pl in 1..f.n_planes() {
                f.plane_data_mut(pl).unwrap().fill(128);
            }
        }
        stamp(&mut buf, i, fps);
        src.push_buffer(buf).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut units = Vec::new();
    let mut caps = None;
    while let Ok(s) = sink.pull_sample() {
        caps.get_or_insert_with(|| s.caps().unwrap().to_owned());
        units.push(s.buffer_owned().unwrap());
    }
    p.set_state(gst::State::Null).unwrap();
    Encoded {
        caps: caps.expect("encoded something"),
        units,
        width: w,
        height: h,
        fps,
    }
}

/// One way of damaging an access unit.
#[derive(Clone, Copy, Debug)]
pub enum Damage {
    /// Flip `n` bytes at seeded positions in the second half of the unit.
    Flip { n: usize, seed: u64 },
    /// Remove `packets` 184-byte transport payloads from the middle of the unit.
    Drop { packets: usize },
}

/// Applies `damage` to copies of the units at the given frame indices (output order is decode
/// order for the streams the tests make: no B-frames).
pub fn damaged(enc: &Encoded, damage: &[(usize, Damage)]) -> Vec<gst::Buffer> {
    let mut out = enc.units.clone();
    for &(i, d) in damage {
        let src = &enc.units[i];
        let map = src.map_readable().unwrap();
        let mut bytes = map.to_vec();
        drop(map);
        let n = bytes.len();
        match d {
            Damage::Flip { n: k, seed } => {
                let mut rng = Rng::new(seed);
                for _ in 0..k {
                    let pos = n / 2 + (rng.next_u32() as usize) % (n / 2).max(1);
                    bytes[pos.min(n - 1)] ^= 0xff;
                }
            }
            Damage::Drop { packets } => {
                let cut = (packets * 184).min(n / 2);
                let at = n / 3;
                bytes.drain(at..at + cut);
            }
        }
        let mut b = gst::Buffer::from_mut_slice(bytes);
        {
            let bm = b.get_mut().unwrap();
            bm.set_pts(src.pts());
            bm.set_dts(src.dts());
            bm.set_duration(src.duration());
            bm.set_flags(src.flags());
        }
        out[i] = b;
    }
    out
}

/// A decoded frame's luma.
pub struct Decoded {
    pub pts: u64,
    pub luma: Vec<u8>,
    pub flags: gst::BufferFlags,
}

/// Decodes `units` with avdec_h264 through `analysis` (a pipeline fragment, e.g. `vqartifact`),
/// collecting the luma of every frame and the bus.
pub fn decode(enc: &Encoded, units: &[gst::Buffer], analysis: &str) -> (Vec<Decoded>, BusLog) {
    decode_as(enc, units, "byte-stream", analysis)
}

/// The same with the parser's output in `stream_format` (`byte-stream`, or `avc`: the
/// length-prefixed units MP4 holds).
pub fn decode_as(
    enc: &Encoded,
    units: &[gst::Buffer],
    stream_format: &str,
    analysis: &str,
) -> (Vec<Decoded>, BusLog) {
    init();
    let p = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{}\" ! h264parse ! \
         video/x-h264,stream-format={stream_format},alignment=au ! avdec_h264 max-threads=1 ! \
         video/x-raw,format=I420 ! {analysis} ! appsink name=sink sync=false",
        enc.caps
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = appsrc(&p);
    let sink = p
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (w, h) = (enc.width, enc.height);
    let out = frames.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Error)?;
                let buf = sample.buffer().unwrap();
                let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
                let f = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info).unwrap();
                let stride = f.plane_stride()[0] as usize;
                let data = f.plane_data(0).unwrap();
                let mut luma = vec![0u8; w * h];
                for y in 0..h {
                    luma[y * w..(y + 1) * w].copy_from_slice(&data[y * stride..y * stride + w]);
                }
                out.lock().unwrap().push(Decoded {
                    pts: buf.pts().unwrap().nseconds(),
                    luma,
                    flags: buf.flags(),
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let units = units.to_vec();
    let log = run_to_eos(&p, move |_| {
        for u in units {
            src.push_buffer(u).unwrap();
        }
        src.end_of_stream().unwrap();
    });
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    (frames, log)
}

/// What the damage did to one frame, against the clean decode (labelled as ALGORITHMS.md 4.3
/// says: by visibility, not by injection).
#[derive(Debug, Clone, Copy)]
pub struct FrameTruth {
    pub index: u64,
    pub pts: u64,
    /// The decoder did not output this frame.
    pub lost: bool,
    /// Cells (16x16) whose local PSNR is below 30 dB.
    pub cells: usize,
    /// Frame luma PSNR.
    pub psnr: f64,
    /// Lowest PSNR of any 3x3-cell window.
    pub local_psnr: f64,
    /// Pixel box of the cells below 30 dB (x0, y0, x1, y1), exclusive.
    pub bbox: Option<(u32, u32, u32, u32)>,
}

fn psnr(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

impl FrameTruth {
    /// Visibly corrupted: lost, frame PSNR below 32 dB or a 3x3-cell window below 25 dB.
    pub fn visible(&self) -> bool {
        self.lost || self.psnr < 32.0 || self.local_psnr < 25.0
    }

    /// Damaged but not visibly (the "invisible" class: neither missed nor false when detected).
    pub fn damaged(&self) -> bool {
        self.lost || self.psnr < 45.0
    }
}

/// Per-frame ground truth: `bad` against `clean`, matched by PTS.
pub fn truth(enc: &Encoded, clean: &[Decoded], bad: &[Decoded]) -> Vec<FrameTruth> {
    let (w, h) = (enc.width, enc.height);
    let (cols, rows) = (w / 16, h / 16);
    let mut out = Vec::new();
    let mut cell_mse = vec![0f64; cols * rows];
    for (i, c) in clean.iter().enumerate() {
        let Some(b) = bad.iter().find(|b| b.pts == c.pts) else {
            out.push(FrameTruth {
                index: i as u64,
                pts: c.pts,
                lost: true,
                cells: 0,
                psnr: 0.0,
                local_psnr: 0.0,
                bbox: None,
            });
            continue;
        };
        let mut cells = 0;
        let mut bbox = None;
        for cy in 0..rows {
            for cx in 0..cols {
                let mut se = 0u64;
                for y in cy * 16..cy * 16 + 16 {
                    for x in cx * 16..cx * 16 + 16 {
                        let d = u64::from(c.luma[y * w + x].abs_diff(b.luma[y * w + x]));
                        se += d * d;
                    }
                }
                let mse = se as f64 / 256.0;
                cell_mse[cy * cols + cx] = mse;
                if psnr(mse) < 30.0 {
                    cells += 1;
                    let (x0, y0) = ((cx * 16) as u32, (cy * 16) as u32);
                    bbox = union(bbox, Some((x0, y0, x0 + 16, y0 + 16)));
                }
            }
        }
        let mut local = f64::INFINITY;
        for cy in 0..rows.saturating_sub(2) {
            for cx in 0..cols.saturating_sub(2) {
                let m: f64 = (0..3)
                    .flat_map(|dy| (0..3).map(move |dx| (dx, dy)))
                    .map(|(dx, dy)| cell_mse[(cy + dy) * cols + cx + dx])
                    .sum::<f64>()
                    / 9.0;
                local = local.min(psnr(m));
            }
        }
        out.push(FrameTruth {
            index: i as u64,
            pts: c.pts,
            lost: false,
            cells,
            psnr: psnr(cell_mse.iter().sum::<f64>() / cell_mse.len() as f64),
            local_psnr: local,
            bbox,
        });
    }
    out
}

/// A run of visibly corrupted frames: first and last frame index, and the damage box of its
/// first three damaged frames.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    pub first: u64,
    pub last: u64,
    pub bbox: Option<(u32, u32, u32, u32)>,
    pub lost: bool,
}

/// Groups visibly corrupted frames into bursts (a gap of more than `merge` frames splits).
pub fn bursts(truth: &[FrameTruth], merge: u64) -> Vec<Burst> {
    let mut out: Vec<Burst> = Vec::new();
    let mut seen_in_burst = 0;
    for f in truth.iter().filter(|f| f.visible()) {
        match out.last_mut() {
            Some(b) if f.index <= b.last + merge + 1 => {
                b.last = f.index;
                b.lost |= f.lost;
                if seen_in_burst < 3 {
                    b.bbox = union(b.bbox, f.bbox);
                }
                seen_in_burst += 1;
            }
            _ => {
                out.push(Burst {
                    first: f.index,
                    last: f.index,
                    bbox: f.bbox,
                    lost: f.lost,
                });
                seen_in_burst = 1;
            }
        }
    }
    out
}

pub fn union(
    a: Option<(u32, u32, u32, u32)>,
    b: Option<(u32, u32, u32, u32)>,
) -> Option<(u32, u32, u32, u32)> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3))),
    }
}

pub fn overlaps(a: (u32, u32, u32, u32), b: (u32, u32, u32, u32)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// A broadcast-like picture: smooth large-scale shading, mild fine detail, a slow pan, and
/// textured objects moving at their own speeds (so that concealment with wrong motion shows).
pub struct Natural {
    w: usize,
    h: usize,
    canvas_w: usize,
    canvas: Vec<u8>,
    objects: Vec<(f64, f64, f64, f64, usize, u8)>,
    /// Frames per shot (0: one shot): each shot shows another part of the canvas.
    pub shot: u64,
    /// Pan speed, pixels per frame.
    pub pan: usize,
}

impl Natural {
    pub fn new(w: usize, h: usize, seed: u64) -> Self {
        let canvas_w = w + 2048;
        let mut rng = Rng::new(seed);
        let (gw, gh) = (canvas_w / 48 + 2, h / 48 + 2);
        let lattice: Vec<f64> = (0..gw * gh).map(|_| 50.0 + 150.0 * rng.unit()).collect();
        let mut canvas = vec![0u8; canvas_w * h];
        for y in 0..h {
            for x in 0..canvas_w {
                let (gx, gy) = (x / 48, y / 48);
                let (fx, fy) = ((x % 48) as f64 / 48.0, (y % 48) as f64 / 48.0);
                let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
                let l = |a: usize, b: usize| lattice[b * gw + a];
                let v = l(gx, gy) * (1.0 - sx) * (1.0 - sy)
                    + l(gx + 1, gy) * sx * (1.0 - sy)
                    + l(gx, gy + 1) * (1.0 - sx) * sy
                    + l(gx + 1, gy + 1) * sx * sy
                    + 6.0 * (rng.unit() - 0.5)
                    + 8.0 * ((x as f64 / 9.0).sin() * (y as f64 / 11.0).cos());
                canvas[y * canvas_w + x] = v.clamp(16.0, 235.0) as u8;
            }
        }
        let objects = (0..5)
            .map(|_| {
                (
                    rng.unit() * w as f64,
                    rng.unit() * h as f64,
                    (rng.unit() - 0.5) * 12.0,
                    (rng.unit() - 0.5) * 8.0,
                    24 + (rng.next_u32() % 40) as usize,
                    if rng.one_in(2) { 40 } else { 210 },
                )
            })
            .collect();
        Natural {
            w,
            h,
            canvas_w,
            canvas,
            objects,
            shot: 0,
            pan: 2,
        }
    }

    pub fn render(&self, i: u64, out: &mut [u8], stride: usize) {
        let (w, h) = (self.w, self.h);
        let k = i.checked_div(self.shot).unwrap_or(0) as usize;
        let pan = (self.pan * i as usize + k * 389) % (self.canvas_w - w);
        for y in 0..h {
            out[y * stride..y * stride + w].copy_from_slice(
                &self.canvas[y * self.canvas_w + pan..y * self.canvas_w + pan + w],
            );
        }
        for &(x0, y0, vx, vy, size, level) in &self.objects {
            let span_x = (w - size) as f64;
            let span_y = (h - size) as f64;
            let bounce = |p: f64, span: f64| {
                let m = p.rem_euclid(2.0 * span);
                if m > span { 2.0 * span - m } else { m }
            };
            let ox = bounce(x0 + vx * i as f64 + k as f64 * 211.0, span_x) as usize;
            let oy = bounce(y0 + vy * i as f64 + k as f64 * 97.0, span_y) as usize;
            for y in oy..oy + size {
                for x in ox..ox + size {
                    let stripe = if ((x - ox) / 6 + (y - oy) / 6).is_multiple_of(2) {
                        0
                    } else {
                        25
                    };
                    out[y * stride + x] = level.saturating_add(stripe);
                }
            }
        }
    }
}

/// One corrupted-stream case of the evaluation set.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    pub seed: u64,
    /// Frames per shot (0 = one shot).
    pub shot: u64,
    pub damage: Vec<(usize, Damage)>,
}

/// The evaluation set: damage at shot cuts and keyframes (where concealment has no good
/// reference: the classic visible macroblocking) and damage to P-frames inside a shot (where
/// FFmpeg's concealment is good and the damage creeps in by propagation).
pub fn corpus() -> Vec<Case> {
    let mut out = Vec::new();
    for seed in [3u64, 11, 29] {
        out.push(Case {
            name: "cuts",
            seed,
            shot: 40,
            damage: vec![
                (40, Damage::Flip { n: 5, seed }),
                (120, Damage::Drop { packets: 2 }),
                (
                    160,
                    Damage::Flip {
                        n: 10,
                        seed: seed + 1,
                    },
                ),
                (200, Damage::Drop { packets: 3 }),
            ],
        });
        out.push(Case {
            name: "p-frames",
            seed,
            shot: 0,
            damage: vec![
                (30, Damage::Flip { n: 5, seed }),
                (80, Damage::Drop { packets: 2 }),
                (
                    130,
                    Damage::Flip {
                        n: 20,
                        seed: seed + 1,
                    },
                ),
                (190, Damage::Drop { packets: 4 }),
            ],
        });
    }
    out
}

pub const CORPUS_X264: &str = "bitrate=2000 key-int-max=50 speed-preset=ultrafast";
pub const CORPUS_FRAMES: u64 = 250;

/// A case encoded, decoded clean and damaged through `analysis`, with its ground truth.
pub struct Run {
    pub case: Case,
    pub enc: Encoded,
    pub clean: Vec<Decoded>,
    pub clean_log: BusLog,
    pub bad: Vec<Decoded>,
    pub bad_log: BusLog,
    pub truth: Vec<FrameTruth>,
}

pub fn run_case(case: &Case, analysis: &str) -> Run {
    let mut scene = Natural::new(640, 360, case.seed);
    scene.shot = case.shot;
    let r = |i, out: &mut [u8], stride| scene.render(i, out, stride);
    let enc = encode(640, 360, 25, CORPUS_FRAMES, CORPUS_X264, &r);
    let (clean, clean_log) = decode(&enc, &enc.units, analysis);
    let units = damaged(&enc, &case.damage);
    let (bad, bad_log) = decode(&enc, &units, analysis);
    let truth = truth(&enc, &clean, &bad);
    Run {
        case: case.clone(),
        enc,
        clean,
        clean_log,
        bad,
        bad_log,
        truth,
    }
}

/// A detected event: first frame index and pixel box.
#[derive(Debug, Clone, Copy)]
pub struct Detection {
    pub frame: u64,
    pub bbox: Option<(u32, u32, u32, u32)>,
}

/// Event-level score of detections against the visible bursts of `truth`.
#[derive(Debug, Default, Clone)]
pub struct Score {
    pub bursts: usize,
    /// Bursts with a detection starting within 2 frames of the onset, overlapping the damage.
    pub hits: usize,
    /// Bursts with any detection while they last.
    pub late_hits: usize,
    pub detections: usize,
    /// Detections starting where nothing was damaged.
    pub false_detections: usize,
    pub missed: Vec<u64>,
    pub onset_errors: Vec<i64>,
}

impl Score {
    pub fn add(&mut self, o: &Score) {
        self.bursts += o.bursts;
        self.hits += o.hits;
        self.late_hits += o.late_hits;
        self.detections += o.detections;
        self.false_detections += o.false_detections;
        self.onset_errors.extend(&o.onset_errors);
    }

    pub fn recall(&self) -> f64 {
        self.hits as f64 / self.bursts.max(1) as f64
    }

    pub fn precision(&self) -> f64 {
        if self.detections == 0 {
            1.0
        } else {
            1.0 - self.false_detections as f64 / self.detections as f64
        }
    }
}

pub fn score(truth: &[FrameTruth], detections: &[Detection]) -> Score {
    let bursts = bursts(truth, 25);
    let mut s = Score {
        bursts: bursts.len(),
        detections: detections.len(),
        ..Default::default()
    };
    for b in &bursts {
        let hit = detections.iter().find(|d| {
            d.frame + 2 >= b.first
                && d.frame <= b.first + 2
                && match (d.bbox, b.bbox) {
                    (Some(x), Some(y)) => overlaps(x, y),
                    _ => true,
                }
        });
        match hit {
            Some(d) => {
                s.hits += 1;
                s.onset_errors.push(d.frame as i64 - b.first as i64);
            }
            None => s.missed.push(b.first),
        }
        if detections
            .iter()
            .any(|d| d.frame + 2 >= b.first && d.frame <= b.last)
        {
            s.late_hits += 1;
        }
    }
    let damaged = |i: u64| truth.get(i as usize).is_some_and(|f| f.damaged());
    s.false_detections = detections
        .iter()
        .filter(|d| {
            !(d.frame..d.frame + 3).any(damaged)
                && !(d.frame.saturating_sub(2)..d.frame).any(damaged)
        })
        .count();
    s
}

/// The corruption events of a bus log as detections (frame indices from `pts0`).
pub fn detections(log: &BusLog, pts0: u64, fps: u64) -> Vec<Detection> {
    log.defects
        .iter()
        .filter(|d| d.defect == "corruption" && d.phase == gstvqmon::Phase::Start)
        .map(|d| {
            let pts = d.start.pts.unwrap().nseconds();
            let e = d.evidence.as_ref().unwrap();
            let source = e.get::<String>("source").unwrap();
            let bbox = (source != "decoder").then(|| {
                let g = |k: &str| e.get::<u64>(k).unwrap() as u32;
                (g("x"), g("y"), g("x") + g("width"), g("y") + g("height"))
            });
            Detection {
                frame: ((pts.saturating_sub(pts0)) * fps + SECOND / 2) / SECOND,
                bbox,
            }
        })
        .collect()
}
