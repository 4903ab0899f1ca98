#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Installs what building, testing and demonstrating vqmon needs on Debian 12, only if missing:
# GStreamer 1.22 development files and plugins (x264enc, avdec_h264 for the re-encode tests,
# timeoverlay from gstreamer1.0-x for the burnt-in clock example),
# meson/ninja, FFmpeg (benchmarks compare against it), Python GStreamer bindings and Chromium
# (the HTML report of vqmon analyze is checked in a real browser, headless).
# Runs apt as root, or through sudo.
set -euo pipefail

packages=(
  pkg-config
  bc
  libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools
  gstreamer1.0-plugins-base
  gstreamer1.0-x
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  meson
  ninja-build
  ffmpeg
  python3-gst-1.0
  chromium
  prometheus
  gir1.2-gst-rtsp-server-1.0
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "vqmon: installing missing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "vqmon: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "vqmon: cargo is in ~/.cargo/bin; add it to PATH (source ~/.cargo/env)" >&2
  else
    echo "vqmon: no Rust toolchain: install rustup (https://rustup.rs), Rust >= 1.92" >&2
  fi
  exit 1
fi
rustc_minor=$(rustc --version | sed -E 's/rustc 1\.([0-9]+).*/\1/')
if [ "$rustc_minor" -lt 92 ]; then
  echo "vqmon: Rust >= 1.92 is needed (gstreamer-rs 0.25): run 'rustup update'" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
