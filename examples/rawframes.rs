// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Writes raw I420 frames of the generated textured, moving scene (with a freeze in the middle)
//! for benchmarks: `rawframes WIDTH HEIGHT FRAMES OUT.yuv`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: rawframes WIDTH HEIGHT FRAMES OUT.yuv".into());
    }
    let (w, h, n): (u32, u32, u64) = (args[1].parse()?, args[2].parse()?, args[3].parse()?);
    common::init();
    let info = common::i420_info(w, h, 25);
    let scene = common::Scene::new(w as usize, h as usize);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[4])?);
    for i in 0..n {
        // Frames in the middle third repeat one picture.
        let content = if i > n / 3 && i < 2 * n / 3 { n / 3 } else { i };
        let buf = scene.buffer(
            &common::Shot {
                content,
                ..common::Shot::moving(i)
            },
            &info,
        );
        out.write_all(&buf.map_readable()?)?;
    }
    Ok(())
}
