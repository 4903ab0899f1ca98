// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Which detectors run on which stream, and what is not analysed and why. No GStreamer types:
//! the plan is made from what the preroll found.

use serde::Serialize;

use crate::input::{Discovered, Media};

/// The detectors of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct StreamPlan {
    pub media: &'static str,
    pub index: usize,
    pub description: String,
    pub caps: String,
    /// Element names of the detectors that analyse it.
    pub detectors: Vec<String>,
}

/// Something the input holds, or a check, that was not analysed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NotAnalysed {
    pub what: String,
    pub reason: String,
}

/// The plan of one input; written into the report as `analysis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    pub tool: &'static str,
    pub input: String,
    /// A live source: analysed from when vqmon joined it, until EOS, --duration or Ctrl-C.
    pub live: bool,
    pub streams: Vec<StreamPlan>,
    pub not_analysed: Vec<NotAnalysed>,
    /// The profile in use (None: the elements' defaults), and the `--set` given after it.
    pub profile: Option<crate::profile::Used>,
    pub overrides: Vec<String>,
    /// A/V sync is measured between these two (video index, audio index).
    #[serde(skip)]
    pub avsync: Option<(usize, usize)>,
}

impl Plan {
    /// Video streams get vqfreeze and vqartifact; the first video and the first audio stream
    /// get avsyncmon. Audio has no detector of its own yet.
    pub fn new(d: &Discovered) -> Plan {
        let (videos, audios) = (d.count(Media::Video), d.count(Media::Audio));
        let avsync = (videos > 0 && audios > 0).then_some((0, 0));
        let mut not_analysed = Vec::new();
        let mut streams = Vec::new();
        for s in &d.streams {
            let mut detectors = Vec::new();
            match s.media {
                Media::Video => {
                    detectors.push(format!("vqfreeze{}", s.index));
                    detectors.push(format!("vqartifact{}", s.index));
                    if avsync.is_some_and(|(v, _)| v == s.index) {
                        detectors.push("avsyncmon0".into());
                    }
                }
                Media::Audio => {
                    detectors.push(format!("vqaudio{}", s.index));
                    if avsync.is_some_and(|(_, a)| a == s.index) {
                        detectors.push("avsyncmon0".into());
                    }
                }
                Media::Other => not_analysed.push(NotAnalysed {
                    what: format!("stream {} ({})", s.index, s.description),
                    reason: "neither audio nor video".into(),
                }),
            }
            streams.push(StreamPlan {
                media: s.media.as_str(),
                index: s.index,
                description: s.description.clone(),
                caps: s.caps.clone(),
                detectors,
            });
        }
        if videos == 0 {
            not_analysed.push(NotAnalysed {
                what: "video detectors (vqfreeze, vqartifact)".into(),
                reason: "no video stream".into(),
            });
        }
        if videos > 1 && audios > 0 {
            not_analysed.push(NotAnalysed {
                what: format!("A/V sync of video 1 to {}", videos - 1),
                reason: "A/V sync is measured between the first video and the first audio stream"
                    .into(),
            });
        }
        if avsync.is_none() {
            not_analysed.push(NotAnalysed {
                what: "A/V sync (avsyncmon)".into(),
                reason: match (videos, audios) {
                    (0, 0) => "no audio and no video stream",
                    (0, _) => "no video stream",
                    _ => "no audio stream",
                }
                .into(),
            });
        }
        for u in &d.undecodable {
            not_analysed.push(NotAnalysed {
                what: u.clone(),
                reason: "no decoder installed for it".into(),
            });
        }
        Plan {
            tool: "vqmon analyze",
            input: d.uri.clone(),
            live: d.live,
            streams,
            not_analysed,
            profile: None,
            overrides: Vec::new(),
            avsync,
        }
    }

    /// True when at least one detector runs.
    pub fn analyses_something(&self) -> bool {
        self.streams.iter().any(|s| !s.detectors.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Stream;

    fn stream(media: Media, index: usize) -> Stream {
        Stream {
            media,
            index,
            caps: format!("{}/x-raw", media.as_str()),
            description: "d".into(),
        }
    }

    fn discovered(streams: Vec<Stream>, undecodable: &[&str]) -> Discovered {
        Discovered {
            uri: "file:///x".into(),
            streams,
            undecodable: undecodable.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn every_detector_that_applies_runs() {
        let p = Plan::new(&discovered(
            vec![stream(Media::Video, 0), stream(Media::Audio, 0)],
            &[],
        ));
        assert_eq!(p.avsync, Some((0, 0)));
        assert_eq!(
            p.streams[0].detectors,
            ["vqfreeze0", "vqartifact0", "avsyncmon0"]
        );
        assert_eq!(p.streams[1].detectors, ["vqaudio0", "avsyncmon0"]);
        assert!(p.analyses_something());
        assert!(p.not_analysed.is_empty(), "{:?}", p.not_analysed);
    }

    #[test]
    fn what_did_not_run_is_said() {
        let p = Plan::new(&discovered(vec![stream(Media::Audio, 0)], &[]));
        let said: Vec<(&str, &str)> = p
            .not_analysed
            .iter()
            .map(|n| (n.what.as_str(), n.reason.as_str()))
            .collect();
        assert!(said.contains(&("video detectors (vqfreeze, vqartifact)", "no video stream")));
        assert!(said.contains(&("A/V sync (avsyncmon)", "no video stream")));
        assert!(p.avsync.is_none());
        // The audio alone is still analysed.
        assert_eq!(p.streams[0].detectors, ["vqaudio0"]);
        assert!(p.analyses_something());

        let p = Plan::new(&discovered(
            vec![stream(Media::Video, 0), stream(Media::Video, 1)],
            &["H.265 video (video/x-h265)"],
        ));
        assert_eq!(p.streams[1].detectors, ["vqfreeze1", "vqartifact1"]);
        let reasons: Vec<&str> = p.not_analysed.iter().map(|n| n.reason.as_str()).collect();
        assert_eq!(reasons, ["no audio stream", "no decoder installed for it"]);
    }
}
