// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! Where the luma (or a luma proxy) of a raw video frame lives, for every format that has one.
//!
//! The layout is derived from GStreamer's own format description (component 0 of YUV and GRAY
//! formats; R, G and B of packed 8-bit RGB), so every format GStreamer knows is either supported
//! here or refused at negotiation. Rows are read in place when the luma samples are contiguous
//! 8-bit values (planar and semi-planar 8-bit YUV, GRAY8); other layouts are unpacked row by row
//! into a scratch row the caller owns, so no frame-sized copy is ever made here.

use std::fmt;

/// How to read one luma sample of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// 8-bit luma: `row[offset + x * step]`. `step == 1` is read in place.
    U8 { step: usize, offset: usize },
    /// Luma in 16-bit words: `(word(row, offset + x * step) >> shift) & mask(depth)`.
    U16 {
        step: usize,
        offset: usize,
        big_endian: bool,
        shift: u32,
    },
    /// Packed 8-bit RGB: luma is computed with BT.601 weights from the three components.
    Rgb8 {
        step: usize,
        r: usize,
        g: usize,
        b: usize,
    },
}

/// The luma plane layout of a video format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LumaLayout {
    /// Index of the plane holding luma.
    pub plane: usize,
    pub sample: Sample,
    /// Bits per luma value after unpacking (8 to 16).
    pub depth: u32,
    /// True for RGB input, whose luma proxy is full range.
    pub rgb: bool,
}

/// Why a format cannot be analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl LumaLayout {
    /// Derives the luma layout of `format`, or says why it has none that vqmon can read.
    pub fn for_format(format: gst_video::VideoFormat) -> Result<LumaLayout, Unsupported> {
        let info = gst_video::VideoFormatInfo::from_format(format);
        let name = format.to_str();
        let refuse = |why: &str| Err(Unsupported(format!("format {name}: {why}")));
        if format == gst_video::VideoFormat::Unknown || format == gst_video::VideoFormat::Encoded {
            return refuse("not a raw video format");
        }
        if info.is_tiled() {
            return refuse("tiled layouts are not supported; add videoconvert upstream");
        }
        if info.has_palette() {
            return refuse("palettized formats have no luma plane");
        }
        if info.is_complex() {
            return refuse(
                "packing is too complex to read luma in place; add videoconvert upstream",
            );
        }
        let depth = info.depth();
        let pstride = info.pixel_stride();
        let plane = info.plane();
        let poffset = info.poffset();
        let shift = info.shift();
        if info.is_yuv() || info.is_gray() {
            let (d, ps, off, sh) = (depth[0], pstride[0], poffset[0] as usize, shift[0]);
            if ps <= 0 {
                return refuse("luma is not byte addressable");
            }
            let ps = ps as usize;
            let sample = match d {
                8 if info.bits() == 8 => Sample::U8 {
                    step: ps,
                    offset: off,
                },
                // Deeper luma lives in 16-bit words (pixel stride and offset in bytes).
                9..=16 if ps.is_multiple_of(2) && off.is_multiple_of(2) && sh + d <= 16 => {
                    Sample::U16 {
                        step: ps / 2,
                        offset: off / 2,
                        big_endian: !info.is_le(),
                        shift: sh,
                    }
                }
                _ => return refuse("luma sample size is not 8 or 16 bits"),
            };
            Ok(LumaLayout {
                plane: plane[0] as usize,
                sample,
                depth: d,
                rgb: false,
            })
        } else if info.is_rgb() {
            if info.n_components() < 3
                || depth[..3].iter().any(|&d| d != 8)
                || plane[0] != plane[1]
                || plane[1] != plane[2]
                || pstride[0] <= 0
                || info.bits() != 8
            {
                return refuse("only packed RGB with 8 bits per component is supported");
            }
            Ok(LumaLayout {
                plane: plane[0] as usize,
                sample: Sample::Rgb8 {
                    step: pstride[0] as usize,
                    r: poffset[0] as usize,
                    g: poffset[1] as usize,
                    b: poffset[2] as usize,
                },
                depth: 8,
                rgb: true,
            })
        } else {
            refuse("no luma or RGB components")
        }
    }

    /// True when rows can be read in place as 8-bit luma.
    pub fn is_direct_u8(&self) -> bool {
        matches!(self.sample, Sample::U8 { step: 1, .. })
    }

    /// True when unpacked samples are 8-bit.
    pub fn is_8bit(&self) -> bool {
        self.depth == 8
    }

    /// Bytes of a row that `width` luma samples need.
    pub fn row_bytes(&self, width: usize) -> usize {
        if width == 0 {
            return 0;
        }
        match self.sample {
            Sample::U8 { step, offset } => offset + (width - 1) * step + 1,
            Sample::U16 { step, offset, .. } => 2 * (offset + (width - 1) * step + 1),
            Sample::Rgb8 { step, r, g, b } => (width - 1) * step + r.max(g).max(b) + 1,
        }
    }

    /// Unpacks `out.len()` 8-bit luma samples from a raw row.
    pub fn unpack_u8(&self, row: &[u8], out: &mut [u8]) {
        match self.sample {
            Sample::U8 { step, offset } => {
                for (o, &v) in out.iter_mut().zip(row[offset..].iter().step_by(step)) {
                    *o = v;
                }
            }
            Sample::Rgb8 { step, r, g, b } => {
                for (o, px) in out.iter_mut().zip(row.chunks(step)) {
                    // BT.601 luma weights, full range, rounded.
                    let y = 77 * px[r] as u32 + 150 * px[g] as u32 + 29 * px[b] as u32;
                    *o = ((y + 128) >> 8) as u8;
                }
            }
            Sample::U16 { .. } => unreachable!("16-bit layout unpacked as 8-bit"),
        }
    }

    /// Unpacks `out.len()` luma samples of 9 to 16 bits from a raw row.
    pub fn unpack_u16(&self, row: &[u8], out: &mut [u16]) {
        let Sample::U16 {
            step,
            offset,
            big_endian,
            shift,
        } = self.sample
        else {
            unreachable!("8-bit layout unpacked as 16-bit")
        };
        let mask: u32 = (1u32 << self.depth) - 1;
        if step == 1 {
            // Contiguous samples (planar and semi-planar): a loop the compiler vectorises.
            let bytes = &row[2 * offset..2 * offset + 2 * out.len()];
            let words = out.iter_mut().zip(bytes.chunks_exact(2));
            if big_endian {
                for (o, b) in words {
                    *o = ((u32::from(u16::from_be_bytes([b[0], b[1]])) >> shift) & mask) as u16;
                }
            } else {
                for (o, b) in words {
                    *o = ((u32::from(u16::from_le_bytes([b[0], b[1]])) >> shift) & mask) as u16;
                }
            }
            return;
        }
        for (x, o) in out.iter_mut().enumerate() {
            let i = 2 * (offset + x * step);
            let w = if big_endian {
                u16::from_be_bytes([row[i], row[i + 1]])
            } else {
                u16::from_le_bytes([row[i], row[i + 1]])
            };
            *o = ((w as u32 >> shift) & mask) as u16;
        }
    }
}

/// Every raw format GStreamer knows at run time that has a luma plane vqmon can read, cheapest
/// to analyse first (caps negotiation prefers the first formats of a template): 8-bit luma read in
/// place, then other 8-bit layouts, then deeper ones.
pub fn supported_formats() -> Vec<gst_video::VideoFormat> {
    let mut formats: Vec<(u8, usize, gst_video::VideoFormat)> = gst_video::VideoFormat::iter_raw()
        .enumerate()
        .filter_map(|(i, f)| {
            // Only formats the running GStreamer knows by name (the bindings may know newer ones).
            if gst_video::VideoFormat::from_string(f.to_str()) != f {
                return None;
            }
            let l = LumaLayout::for_format(f).ok()?;
            let rank = match f {
                gst_video::VideoFormat::I420 => 0,
                gst_video::VideoFormat::Nv12 => 1,
                _ if l.is_direct_u8() => 2,
                _ if l.is_8bit() => 3,
                _ => 4,
            };
            Some((rank, i, f))
        })
        .collect();
    formats.sort();
    formats.into_iter().map(|(_, _, f)| f).collect()
}

/// Raw video caps covering every supported format, any size and frame rate.
pub fn supported_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(supported_formats())
        .build()
}

/// The `src` and `sink` Always pad templates of an in-place filter over `caps`.
pub fn filter_pad_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, direction)| {
        gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps)
            .expect("valid pad template")
    })
    .collect()
}

/// Maps `buf` as a readable frame of `info`, or says why it cannot be (for the element's
/// bad-buffer warning).
pub fn readable_frame<'a>(
    buf: &'a gst::BufferRef,
    info: &gst_video::VideoInfo,
) -> Result<gst_video::VideoFrameRef<&'a gst::BufferRef>, String> {
    gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
        format!(
            "buffer of {} bytes does not hold a {}x{} {} frame",
            buf.size(),
            info.width(),
            info.height(),
            info.format().to_str()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst_video::VideoFormat as F;

    #[test]
    fn layouts() {
        gst::init().unwrap();
        let l = LumaLayout::for_format(F::I420).unwrap();
        assert!(l.is_direct_u8() && l.plane == 0);
        let l = LumaLayout::for_format(F::Nv12).unwrap();
        assert!(l.is_direct_u8());
        let l = LumaLayout::for_format(F::Yuy2).unwrap();
        assert_eq!(l.sample, Sample::U8 { step: 2, offset: 0 });
        let l = LumaLayout::for_format(F::Uyvy).unwrap();
        assert_eq!(l.sample, Sample::U8 { step: 2, offset: 1 });
        let l = LumaLayout::for_format(F::P01010le).unwrap();
        assert_eq!(l.depth, 10);
        assert!(matches!(l.sample, Sample::U16 { shift: 6, .. }));
        let l = LumaLayout::for_format(F::I42010be).unwrap();
        assert!(matches!(
            l.sample,
            Sample::U16 {
                big_endian: true,
                shift: 0,
                ..
            }
        ));
        let l = LumaLayout::for_format(F::Bgrx).unwrap();
        assert!(l.rgb);
        assert!(LumaLayout::for_format(F::V210).is_err());
        assert!(LumaLayout::for_format(F::Rgb8p).is_err());
        assert!(LumaLayout::for_format(F::Nv1264z32).is_err());
    }

    #[test]
    fn unpacking() {
        gst::init().unwrap();
        let l = LumaLayout::for_format(F::Uyvy).unwrap();
        let row = [128, 10, 128, 20, 128, 30, 128, 40];
        let mut out = [0u8; 4];
        l.unpack_u8(&row, &mut out);
        assert_eq!(out, [10, 20, 30, 40]);
        let l = LumaLayout::for_format(F::Rgbx).unwrap();
        let row = [255, 255, 255, 0, 0, 0, 0, 0, 255, 0, 0, 0];
        let mut out = [0u8; 3];
        l.unpack_u8(&row, &mut out);
        assert_eq!(out, [255, 0, 77]);
        let l = LumaLayout::for_format(F::P01010le).unwrap();
        // 1023 << 6 little endian, then 64 << 6.
        let row = [0xc0, 0xff, 0x00, 0x10];
        let mut out = [0u16; 2];
        l.unpack_u16(&row, &mut out);
        assert_eq!(out, [1023, 64]);
        assert_eq!(l.row_bytes(2), 4);
    }

    #[test]
    fn format_families_supported() {
        gst::init().unwrap();
        let all = supported_formats();
        for f in [
            F::I420,
            F::Yv12,
            F::Nv12,
            F::Nv21,
            F::Y444,
            F::Y42b,
            F::Gray8,
            F::Gray16Le,
            F::I42010le,
            F::I42012le,
            F::P01010le,
            F::P016Le,
            F::Yuy2,
            F::Uyvy,
            F::Ayuv,
            F::Rgb,
            F::Bgra,
            F::Xrgb,
        ] {
            assert!(all.contains(&f), "{f:?} should be supported");
        }
        assert!(!all.contains(&F::V210));
        // Negotiation picks the first formats of the template: the cheap ones come first.
        assert_eq!(all[..2], [F::I420, F::Nv12]);
        let first_deep = all
            .iter()
            .position(|f| !LumaLayout::for_format(*f).unwrap().is_8bit());
        assert!(
            all[first_deep.unwrap()..]
                .iter()
                .all(|f| !LumaLayout::for_format(*f).unwrap().is_8bit())
        );
    }
}
