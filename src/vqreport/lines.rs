// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! NDJSON output that neither tears nor glues lines.
//!
//! Each line, newline included, goes out in one `write()`: a process killed between lines leaves
//! whole lines only. A write that fails part-way (a full disk, a file size limit) is cut back, so
//! the file keeps whole lines. A file that a crash left without a final newline gets one before
//! the first new line, so the next run's first line does not glue onto the torn one.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

enum Out {
    Stdout,
    File(File),
}

pub struct LineWriter {
    out: Out,
    /// The line being written, reused (no allocation per line once it is large enough).
    buf: Vec<u8>,
}

impl LineWriter {
    /// Standard output for `-`, else the file `location`, created or appended to.
    pub fn open(location: &str) -> io::Result<Self> {
        let out = if location == "-" {
            Out::Stdout
        } else {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(location)?;
            let len = file.metadata()?.len();
            if len > 0 {
                let mut last = [0u8; 1];
                file.read_exact_at(&mut last, len - 1)?;
                if last[0] != b'\n' {
                    (&file).write_all(b"\n")?;
                }
            }
            Out::File(file)
        };
        Ok(LineWriter {
            out,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Writes `line` and its newline in one call; on failure the file is left as it was.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        match &mut self.out {
            Out::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&self.buf)?;
                out.flush()
            }
            Out::File(file) => {
                let len = file.metadata()?.len();
                file.write_all(&self.buf).inspect_err(|_| {
                    // Cut a partial line back off; if even that fails, the next open starts
                    // a new line after it.
                    let _ = file.set_len(len);
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vqmon-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn a_torn_last_line_is_not_glued_to() {
        let p = tmp("torn.ndjson");
        std::fs::write(&p, "{\"a\":1}\n{\"kind\":\"ev").unwrap();
        let mut w = LineWriter::open(p.to_str().unwrap()).unwrap();
        w.write_line("{\"b\":2}").unwrap();
        w.write_line("{\"c\":3}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"kind\":\"ev\n{\"b\":2}\n{\"c\":3}\n"
        );
        // A file that ends with its newline, or is empty, gets nothing extra.
        let mut w = LineWriter::open(p.to_str().unwrap()).unwrap();
        w.write_line("{\"d\":4}").unwrap();
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .ends_with("{\"c\":3}\n{\"d\":4}\n")
        );
        let e = tmp("empty.ndjson");
        let mut w = LineWriter::open(e.to_str().unwrap()).unwrap();
        w.write_line("{}").unwrap();
        assert_eq!(std::fs::read_to_string(&e).unwrap(), "{}\n");
    }

    #[test]
    fn a_full_device_fails_cleanly() {
        let mut w = LineWriter::open("/dev/full").unwrap();
        let e = w.write_line("{\"a\":1}").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "{e}"); // ENOSPC
    }
}
