// SPDX-License-Identifier: MPL-2.0
//! The per-frame analysis cores on planes of any size, stride, offset and content: vqfreeze's
//! block measurements and vqartifact's one-pass features and cell decisions. No panic, finite
//! figures.
#![no_main]

use gstvqmon::vqartifact::cells::{CellParams, Cells};
use gstvqmon::vqartifact::features::{CELL, Features};
use gstvqmon::vqfreeze::stillness::{Stillness, measure_plane_u8};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let w = 1 + usize::from(data[0]) % 200;
    let h = 1 + usize::from(data[1]) % 120;
    let pad = usize::from(data[2] % 32);
    let off = usize::from(data[3] % 16);
    let stride = w + pad;
    let body = &data[4..];
    if body.is_empty() {
        return;
    }
    // The plane: the input repeated to fill it.
    let plane: Vec<u8> = body
        .iter()
        .copied()
        .cycle()
        .take(off + stride * h)
        .collect();
    let mut s = Stillness::new(w, h, 8);
    let st = measure_plane_u8(&mut s, &plane[off..], stride);
    assert!(st.mafd.is_finite() && st.max_block_mad.is_finite());
    let mut f = Features::new(w, h);
    f.begin(w, h);
    f.plane(&plane, stride, off);
    let mut cells = Cells::new(w / CELL, h / CELL);
    for _ in 0..2 {
        let c = cells.analyse(&f, &CellParams::default(), 3);
        assert!(c.new_cells <= c.cells);
    }
});
