// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Analysis regions: rectangles of the picture to include in, or exclude from, an analysis.
//!
//! Syntax (the `regions` property): rectangles separated by `;`, each `include:X,Y,W,H` or
//! `exclude:X,Y,W,H`. Values are pixels, or percentages of the picture width (X, W) and height
//! (Y, H) when they end in `%`. Polarity: with no `include` rectangle the whole picture is included;
//! with at least one, only their union is. `exclude` rectangles are then removed from what is
//! included. A block is included when its centre lies in an `include` rectangle, and excluded as
//! soon as an `exclude` rectangle overlaps it at all (a clock that covers part of a block must not
//! keep a frozen picture alive). An empty string analyses the whole picture.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Coord {
    Pixels(f64),
    Percent(f64),
}

impl Coord {
    fn resolve(self, full: usize) -> f64 {
        match self {
            Coord::Pixels(v) => v,
            Coord::Percent(p) => p * full as f64 / 100.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    include: bool,
    x: Coord,
    y: Coord,
    w: Coord,
    h: Coord,
}

/// A parsed `regions` value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Regions {
    rects: Vec<Rect>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionsError(pub String);

impl fmt::Display for RegionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegionsError {}

impl std::str::FromStr for Regions {
    type Err = RegionsError;

    fn from_str(s: &str) -> Result<Self, RegionsError> {
        let mut rects = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, values) = part.split_once(':').ok_or_else(|| {
                RegionsError(format!(
                    "region '{part}': expected include:X,Y,W,H or exclude:X,Y,W,H"
                ))
            })?;
            let include = match kind.trim() {
                "include" => true,
                "exclude" => false,
                other => {
                    return Err(RegionsError(format!(
                        "region '{part}': '{other}' is neither include nor exclude"
                    )));
                }
            };
            let coords = values
                .split(',')
                .map(|v| parse_coord(v.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| RegionsError(format!("region '{part}': {e}")))?;
            let [x, y, w, h] = coords[..] else {
                return Err(RegionsError(format!(
                    "region '{part}': expected four values X,Y,W,H, got {}",
                    coords.len()
                )));
            };
            rects.push(Rect {
                include,
                x,
                y,
                w,
                h,
            });
        }
        Ok(Regions { rects })
    }
}

fn parse_coord(v: &str) -> Result<Coord, String> {
    let (num, pct) = match v.strip_suffix('%') {
        Some(n) => (n, true),
        None => (v, false),
    };
    let f: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{v}' is not a number"))?;
    if !f.is_finite() || f < 0.0 {
        return Err(format!("'{v}' must be a non-negative number"));
    }
    Ok(if pct {
        Coord::Percent(f)
    } else {
        Coord::Pixels(f)
    })
}

impl Regions {
    pub fn is_empty(&self) -> bool {
        self.rects.is_empty()
    }

    /// Fills `mask` (`cols * rows`, row major) for blocks of `block_w` x `block_h` pixels on a
    /// `width` x `height` picture. Returns the number of blocks included.
    pub fn block_mask(
        &self,
        width: usize,
        height: usize,
        block_w: usize,
        block_h: usize,
        mask: &mut [bool],
    ) -> usize {
        let cols = width.div_ceil(block_w);
        let rows = height.div_ceil(block_h);
        assert_eq!(mask.len(), cols * rows);
        let any_include = self.rects.iter().any(|r| r.include);
        let mut count = 0;
        for by in 0..rows {
            for bx in 0..cols {
                let (bx0, by0) = ((bx * block_w) as f64, (by * block_h) as f64);
                let (bx1, by1) = (
                    ((bx + 1) * block_w).min(width) as f64,
                    ((by + 1) * block_h).min(height) as f64,
                );
                let (cx, cy) = ((bx0 + bx1) / 2.0, (by0 + by1) / 2.0);
                let rect = |r: &Rect| {
                    let (x, y) = (r.x.resolve(width), r.y.resolve(height));
                    (x, y, x + r.w.resolve(width), y + r.h.resolve(height))
                };
                let centre_inside = |r: &Rect| {
                    let (x0, y0, x1, y1) = rect(r);
                    cx >= x0 && cx < x1 && cy >= y0 && cy < y1
                };
                let overlaps = |r: &Rect| {
                    let (x0, y0, x1, y1) = rect(r);
                    x0 < bx1 && bx0 < x1 && y0 < by1 && by0 < y1
                };
                let included = if any_include {
                    self.rects.iter().any(|r| r.include && centre_inside(r))
                } else {
                    true
                };
                let keep = included && !self.rects.iter().any(|r| !r.include && overlaps(r));
                mask[by * cols + bx] = keep;
                count += keep as usize;
            }
        }
        count
    }
}

impl fmt::Display for Regions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |c: Coord| match c {
            Coord::Pixels(v) => format!("{v}"),
            Coord::Percent(v) => format!("{v}%"),
        };
        for (i, r) in self.rects.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(
                f,
                "{}:{},{},{},{}",
                if r.include { "include" } else { "exclude" },
                c(r.x),
                c(r.y),
                c(r.w),
                c(r.h)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_mask() {
        let r: Regions = "exclude:0,0,32,16".parse().unwrap();
        let mut m = vec![false; 4 * 2];
        assert_eq!(r.block_mask(64, 32, 16, 16, &mut m), 6);
        assert_eq!(m, [false, false, true, true, true, true, true, true]);
        // An exclude that only grazes a block still removes it.
        let r: Regions = "exclude:0,0,17,1".parse().unwrap();
        assert_eq!(r.block_mask(64, 32, 16, 16, &mut m), 6);
        assert_eq!(m, [false, false, true, true, true, true, true, true]);

        let r: Regions = "include:50%,0,50%,100%; exclude:48,16,16,16"
            .parse()
            .unwrap();
        assert_eq!(r.block_mask(64, 32, 16, 16, &mut m), 3);
        assert_eq!(m, [false, false, true, true, false, false, true, false]);
        assert_eq!(r.to_string(), "include:50%,0,50%,100%;exclude:48,16,16,16");
        assert_eq!(r.to_string().parse::<Regions>().unwrap(), r);
    }

    #[test]
    fn tall_blocks() {
        // 16x32 blocks (every other row analysed): the exclude grazes the first block row only.
        let r: Regions = "exclude:0,0,16,8".parse().unwrap();
        let mut m = vec![false; 4 * 2];
        assert_eq!(r.block_mask(64, 64, 16, 32, &mut m), 7);
        assert!(!m[0] && m[4]);
    }

    #[test]
    fn empty_is_whole_picture() {
        let r: Regions = " ".parse().unwrap();
        assert!(r.is_empty());
        let mut m = vec![false; 3];
        assert_eq!(r.block_mask(40, 10, 16, 16, &mut m), 3);
    }

    #[test]
    fn errors_are_readable() {
        for bad in [
            "exclude:1,2,3",
            "keep:1,2,3,4",
            "exclude:a,2,3,4",
            "exclude:-1,2,3,4",
            "1,2,3,4",
        ] {
            let e = bad.parse::<Regions>().unwrap_err();
            assert!(e.0.contains("region"), "{bad}: {e}");
        }
    }
}
