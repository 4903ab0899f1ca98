// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The injection schedule: `kind@start+duration[:params]` entries separated by `;` or newlines,
//! `#` starts a comment. Times take a unit (`ns`, `us`, `ms`, `s`, `m`, `h`; a bare number is
//! refused, as GStreamer times are nanoseconds elsewhere) and are running times. Examples: `freeze@10s+2s`, `freeze@10s+2s:noise=3`,
//! `black@20s+1s`, `drop@30s+3s`, `stutter@40s+5s:every=7`, `corrupt@50s+500ms:area=0.2`,
//! `blocky@60s+4s:q=24`, `offset@5s+20s:200ms`, `drift@0s+90s:1000ppm`, `gap@70s+300ms`,
//! `silence@80s+2s`, `clip@90s+1s:gain=12dB`, `gain@100s+20s:+8dB`, `mute@2m+5s:channel=1`,
//! `invert@3m+10s:channel=1`. Without `@start` (action signal) an entry starts at the next buffer.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Repeat one picture; `noise` adds +/- that many luma code values (re-encoded look).
    Freeze {
        noise: u8,
    },
    Black,
    /// Drop frames (video) or buffers (audio, see `Gap`).
    Drop,
    /// Hitches: a picture held for `hold_ns` (repeated over the frames of that time), about
    /// once every `every` frames, irregularly.
    Stutter {
        every: u32,
        hold_ns: u64,
    },
    /// Block damage over `area` (fraction of the picture).
    Corrupt {
        area: f64,
    },
    /// Re-quantise 8x8 luma blocks with step `q`.
    Blocky {
        q: u32,
    },
    /// Delay the audio content by this many ns (timestamps stay honest).
    Offset {
        ns: i64,
    },
    /// Audio timestamps run off the content clock by this many ppm.
    Drift {
        ppm: f64,
    },
    /// Drop audio buffers.
    Gap,
    /// Zero the audio.
    Silence,
    /// Gain (dB) applied before a full-scale limit: samples clip.
    Clip {
        db: f64,
    },
    /// Gain (dB): a loudness step.
    Gain {
        db: f64,
    },
    /// Zero one channel.
    Mute {
        channel: u32,
    },
    /// Invert the polarity of one channel.
    Invert {
        channel: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Video,
    Audio,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Freeze { .. } => "freeze",
            Kind::Black => "black",
            Kind::Drop => "drop",
            Kind::Stutter { .. } => "stutter",
            Kind::Corrupt { .. } => "corrupt",
            Kind::Blocky { .. } => "blocky",
            Kind::Offset { .. } => "offset",
            Kind::Drift { .. } => "drift",
            Kind::Gap => "gap",
            Kind::Silence => "silence",
            Kind::Clip { .. } => "clip",
            Kind::Gain { .. } => "gain",
            Kind::Mute { .. } => "mute",
            Kind::Invert { .. } => "invert",
        }
    }

    /// The vqmon defect a detector should report for it.
    pub fn defect(&self) -> &'static str {
        match self {
            Kind::Freeze { .. } => "freeze",
            Kind::Black => "black",
            Kind::Drop => "stall",
            Kind::Stutter { .. } => "stutter",
            Kind::Corrupt { .. } => "corruption",
            Kind::Blocky { .. } => "blockiness",
            Kind::Offset { .. } => "av-offset",
            Kind::Drift { .. } => "clock-drift",
            Kind::Gap => "ts-discont",
            Kind::Silence => "silence",
            Kind::Clip { .. } => "clipping",
            Kind::Gain { .. } => "loudness",
            Kind::Mute { .. } => "channel-loss",
            Kind::Invert { .. } => "phase",
        }
    }

    pub fn media(&self) -> Media {
        match self {
            Kind::Offset { .. }
            | Kind::Drift { .. }
            | Kind::Gap
            | Kind::Silence
            | Kind::Clip { .. }
            | Kind::Gain { .. }
            | Kind::Mute { .. }
            | Kind::Invert { .. } => Media::Audio,
            _ => Media::Video,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: Kind,
    /// Running time of the start, ns; `None`: at the next buffer.
    pub start: Option<u64>,
    pub duration: u64,
    /// The entry as written.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a duration with its unit: `1.5s`, `500ms`, `40ns`, `2m`.
pub fn parse_time(s: &str) -> Result<u64, ParseError> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| ParseError(format!("'{s}' is not a time (like 1.5s or 500ms)")))?;
    let scale = match unit.trim() {
        "" => {
            return Err(ParseError(format!(
                "'{s}' needs a unit (ns, us, ms, s, m or h), like {s}s or {s}ms"
            )));
        }
        "s" => 1e9,
        "ms" => 1e6,
        "us" => 1e3,
        "ns" => 1.0,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        u => return Err(ParseError(format!("'{s}': unknown time unit '{u}'"))),
    };
    if !v.is_finite() || v < 0.0 || v * scale > 1e18 {
        return Err(ParseError(format!("'{s}' is out of range")));
    }
    Ok((v * scale).round() as u64)
}

fn param<'a>(params: &'a [(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| *k == key || k.is_empty())
        .map(|(_, v)| *v)
}

fn parse_entry(text: &str) -> Result<Entry, ParseError> {
    let bad = |why: &str| ParseError(format!("'{text}': {why}"));
    let (head, params) = match text.split_once(':') {
        Some((h, p)) => (h, p),
        None => (text, ""),
    };
    let params: Vec<(&str, &str)> = params
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or(("", p)))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let (kind_s, when) = match head.split_once('@') {
        Some((k, w)) => (k.trim(), Some(w)),
        None => match head.split_once('+') {
            Some((k, _)) => (k.trim(), None),
            None => return Err(bad("expected kind@start+duration")),
        },
    };
    let (start, duration) = match when {
        Some(w) => {
            let (s, d) = w
                .split_once('+')
                .ok_or_else(|| bad("expected kind@start+duration"))?;
            (Some(parse_time(s)?), parse_time(d)?)
        }
        None => (None, parse_time(head.split_once('+').unwrap().1)?),
    };
    if duration == 0 {
        return Err(bad("the duration must be positive"));
    }
    let num = |key: &str, default: f64, lo: f64, hi: f64| -> Result<f64, ParseError> {
        match param(&params, key) {
            None => Ok(default),
            Some(v) => {
                let v: f64 = v
                    .trim_end_matches("ppm")
                    .trim_end_matches("dB")
                    .parse()
                    .map_err(|_| bad(&format!("{key} must be a number")))?;
                if (lo..=hi).contains(&v) {
                    Ok(v)
                } else {
                    Err(bad(&format!("{key} must be within {lo}..{hi}")))
                }
            }
        }
    };
    let kind = match kind_s {
        "freeze" => Kind::Freeze {
            noise: num("noise", 0.0, 0.0, 64.0)? as u8,
        },
        "black" => Kind::Black,
        "drop" => Kind::Drop,
        "stutter" => Kind::Stutter {
            every: num("every", 20.0, 3.0, 1000.0)? as u32,
            hold_ns: match param(&params, "hold") {
                None => 200_000_000,
                Some(v) => {
                    let ns = parse_time(v)?;
                    if ns == 0 || ns > 10_000_000_000 {
                        return Err(bad("hold must be within 0..10 s"));
                    }
                    ns
                }
            },
        },
        "corrupt" => Kind::Corrupt {
            area: num("area", 0.1, 0.001, 1.0)?,
        },
        "blocky" => Kind::Blocky {
            q: num("q", 24.0, 2.0, 255.0)? as u32,
        },
        "offset" => {
            let v =
                param(&params, "delay").ok_or_else(|| bad("offset needs a delay, like :200ms"))?;
            if v.starts_with('-') {
                return Err(bad(
                    "audio can only be delayed (positive offset): advancing it would need \
                     samples that have not arrived yet",
                ));
            }
            let ns = parse_time(v)?;
            if ns > 10_000_000_000 {
                return Err(bad("offset is limited to 10 s"));
            }
            Kind::Offset { ns: ns as i64 }
        }
        "drift" => Kind::Drift {
            ppm: num("ppm", 0.0, -100_000.0, 100_000.0)?,
        },
        "gap" => Kind::Gap,
        "silence" => Kind::Silence,
        "clip" => Kind::Clip {
            db: num("gain", 12.0, 0.5, 60.0)?,
        },
        "gain" => {
            let db = num("gain", f64::NAN, -60.0, 40.0)?;
            if db.is_nan() || db == 0.0 {
                return Err(bad(
                    "gain needs a non-zero gain in dB, like :+8dB or :-10dB",
                ));
            }
            Kind::Gain { db }
        }
        "mute" => Kind::Mute {
            channel: num("channel", 1.0, 0.0, 63.0)? as u32,
        },
        "invert" => Kind::Invert {
            channel: num("channel", 1.0, 0.0, 63.0)? as u32,
        },
        k => {
            return Err(bad(&format!(
                "unknown kind '{k}' (freeze, black, drop, stutter, corrupt, blocky, offset, \
                 drift, gap, silence, clip, gain, mute, invert)"
            )));
        }
    };
    if let Kind::Drift { ppm } = kind
        && ppm == 0.0
    {
        return Err(bad("drift needs a rate, like :1000ppm"));
    }
    Ok(Entry {
        kind,
        start,
        duration,
        text: text.to_string(),
    })
}

/// Parses a whole schedule; entries come out sorted by start.
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        for e in line.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            out.push(parse_entry(e)?);
        }
    }
    out.sort_by_key(|e| e.start.unwrap_or(0));
    Ok(out)
}

/// Parses one entry of the `inject` action signal (`@start` optional).
pub fn parse_one(text: &str) -> Result<Entry, ParseError> {
    parse_entry(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let s = parse(
            "freeze@10s+2s; black@20s+1s\n# a comment\ncorrupt@30s+0.5s:area=0.2 # why\n\
             offset@5s+20s:200ms; drift@0s+90s:1000ppm; stutter@1m+5s:every=7; \
             blocky@70s+4s:q=16; drop@80s+3s; gap@90s+300ms; silence@95s+2s; freeze@99s+1s:noise=3",
        )
        .unwrap();
        assert_eq!(s.len(), 11);
        assert_eq!(
            parse_one("stutter+5s:every=30,hold=120ms").unwrap().kind,
            Kind::Stutter {
                every: 30,
                hold_ns: 120_000_000
            }
        );
        assert!(parse_one("stutter+5s:hold=0ms").is_err());
        assert_eq!(s[0].kind, Kind::Drift { ppm: 1000.0 });
        assert_eq!(s[1].kind, Kind::Offset { ns: 200_000_000 });
        assert_eq!(s[2].start, Some(10_000_000_000));
        assert_eq!(s[2].duration, 2_000_000_000);
        let c = s.iter().find(|e| e.kind.name() == "corrupt").unwrap();
        assert_eq!(c.kind, Kind::Corrupt { area: 0.2 });
        assert_eq!(c.duration, 500_000_000);
        assert!(s.iter().any(|e| e.kind
            == Kind::Stutter {
                every: 7,
                hold_ns: 200_000_000
            }
            && e.start == Some(60_000_000_000)));
        assert_eq!(s.last().unwrap().kind, Kind::Freeze { noise: 3 });
        assert_eq!(
            parse_one("clip@1s+1s").unwrap().kind,
            Kind::Clip { db: 12.0 }
        );
        assert_eq!(
            parse_one("gain@1s+1s:+8dB").unwrap().kind,
            Kind::Gain { db: 8.0 }
        );
        assert_eq!(
            parse_one("gain@1s+1s:gain=-10dB").unwrap().kind,
            Kind::Gain { db: -10.0 }
        );
        assert_eq!(
            parse_one("mute@1s+1s").unwrap().kind,
            Kind::Mute { channel: 1 }
        );
        assert_eq!(
            parse_one("invert@1s+1s:channel=0").unwrap().kind,
            Kind::Invert { channel: 0 }
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("  ;\n# nothing\n").unwrap().is_empty());
    }

    #[test]
    fn readable_errors() {
        for (text, needle) in [
            ("freeze@10s", "kind@start+duration"),
            ("melt@1s+1s", "unknown kind 'melt'"),
            ("black@1x+1s", "unknown time unit"),
            ("black@1s+0s", "positive"),
            ("offset@1s+1s:-200ms", "only be delayed"),
            ("offset@1s+1s", "needs a delay"),
            ("corrupt@1s+1s:area=3", "area must be within"),
            ("drift@1s+1s", "needs a rate"),
            ("freeze@1+1", "'1' needs a unit"),
            ("freeze@1s+1", "'1' needs a unit"),
            ("stutter@1s+5s:hold=120", "'120' needs a unit"),
            ("freeze@1s+1s:noise=300", "noise"),
            ("gain@1s+1s", "needs a non-zero gain"),
            ("gain@1s+1s:0dB", "needs a non-zero gain"),
            ("clip@1s+1s:gain=100dB", "gain must be within"),
            ("mute@1s+1s:channel=x", "channel must be a number"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.0.contains(needle), "{text}: {e}");
        }
        let e = parse_one("freeze+2s").unwrap();
        assert_eq!(e.start, None);
        assert_eq!(e.duration, 2_000_000_000);
    }
}
