// Copyright (C) 2026 The vqmon developers
//
// This Source Code Form is subject to the terms of the Mozilla Public License, v2.0.
// If a copy of the MPL was not distributed with this file, You can obtain one at
// <https://mozilla.org/MPL/2.0/>.
//
// SPDX-License-Identifier: MPL-2.0

//! The README's meson install, exactly as written, into a temporary prefix: the plugin lands
//! under the prefix, `meson install` does not build again, and GStreamer loads it from there.

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{text}",
        out.status
    );
    text
}

#[test]
fn meson_installs_under_the_prefix() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = std::env::temp_dir().join(format!("vqmon-meson-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let (build, prefix) = (tmp.join("build"), tmp.join("prefix"));
    run(Command::new("meson")
        .arg("setup")
        .arg(&build)
        .arg(format!("--prefix={}", prefix.display()))
        .current_dir(root));
    let compiled = run(Command::new("meson").arg("compile").arg("-C").arg(&build));
    // The release profile, without asking for it.
    assert!(
        build.join("target/release/libgstvqmon.so").exists(),
        "{compiled}"
    );
    let installed = run(Command::new("meson").arg("install").arg("-C").arg(&build));
    assert!(
        !installed.contains("Compiling") && !installed.contains("cargo"),
        "meson install built again:\n{installed}"
    );
    let libs: Vec<_> = walk(&prefix)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "libgstvqmon.so"))
        .collect();
    assert_eq!(libs.len(), 1, "{libs:?}");
    let dir = libs[0].parent().unwrap();
    assert!(dir.ends_with("gstreamer-1.0"), "{}", dir.display());
    // A registry of its own, so the system's cannot answer instead.
    let inspect = run(Command::new("gst-inspect-1.0")
        .arg("vqmon")
        .env("GST_PLUGIN_PATH", dir)
        .env("GST_PLUGIN_SYSTEM_PATH_1_0", "")
        .env("GST_REGISTRY_1_0", tmp.join("registry.bin")));
    assert!(
        inspect.contains(&libs[0].display().to_string()),
        "{inspect}"
    );
    for element in [
        "vqfreeze",
        "vqartifact",
        "avsyncmon",
        "vqreport",
        "vqinject",
    ] {
        assert!(inspect.contains(element), "{element}: {inspect}");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
