#!/bin/sh
# Measure A/V sync on FFmpeg's avsynctest pattern (flash box + beep every 3 s), audio delayed by
# DELAY ms (default 200): avsyncmon posts an av-offset measurement per flash/beep pair and, with
# the default BT.1359 profile, an av-offset defect once three pairs are late by more than 125 ms.
# Usage: pipelines/avsyncmon-ffmpeg-avsynctest.sh [DELAY_MS]
set -eu
delay=${1:-200}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ffmpeg -hide_banner -loglevel error -f lavfi -i "avsynctest=d=20:s=320x180:sr=48000[out1][out0]" \
    -map 0:0 -pix_fmt yuv420p "$dir/v.y4m" \
    -map 0:1 -af "adelay=${delay}" -c:a pcm_s16le "$dir/a.wav"
gst-launch-1.0 -m avsyncmon name=m \
    filesrc location="$dir/v.y4m" ! y4mdec ! m.video_sink m.video_src ! fakesink sync=false \
    filesrc location="$dir/a.wav" ! wavparse ! m.audio_sink m.audio_src ! fakesink sync=false \
    | grep -E 'vqmon-(defect|measurement).*test-signal|vqmon-defect'
