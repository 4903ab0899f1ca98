#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# vqaudio against FFmpeg's ebur128 filter (peak=true: momentary, short-term, integrated, LRA and
# true peak) on the same 48 kHz float WAV files, stereo and 5.1, side by side in one run. Each
# pipeline runs with and without the analyser, interleaved ROUNDS times; the analyser's cost in
# one round is the CPU-time difference divided by the seconds of audio, quoted as a percentage of
# one core (median over rounds; the spread is printed too, this machine is shared).
#
#   benches/compare-audio.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_OF_AUDIO=${1:-300}
ROUNDS=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --lib
export GST_PLUGIN_PATH="$PWD/target/release"
gst-inspect-1.0 vqaudio >/dev/null

# Pink noise (a music-like spectrum), 48 kHz F32, stereo and 5.1.
for layout in "2 0x3" "6 0x3f"; do
  set -- $layout
  gst-launch-1.0 -q audiotestsrc wave=pink-noise volume=0.3 samplesperbuffer=4800 \
    num-buffers=$((SECONDS_OF_AUDIO * 10)) ! \
    "audio/x-raw,format=F32LE,rate=48000,channels=$1,channel-mask=(bitmask)$2" ! \
    wavenc ! filesink location="$work/ch$1.wav"
done

runs="$work/cpu.txt"
add() {
  /usr/bin/python3 benches/cputime.py "$@" >>"$runs"
}

for r in $(seq "$ROUNDS"); do
  for ch in 2 6; do
    ff=(ffmpeg -nostdin -hide_banner -threads 1 -i "$work/ch$ch.wav")
    gst=(gst-launch-1.0 -q filesrc location="$work/ch$ch.wav" ! wavparse)
    add "ff_base_$ch" "$r" "${ff[@]}" -f null -
    add "ff_r128_$ch" "$r" "${ff[@]}" -af ebur128=peak=true -f null -
    add "gst_base_$ch" "$r" "${gst[@]}" ! fakesink
    add "gst_vq_$ch" "$r" "${gst[@]}" ! vqaudio loudness-standard=ebu-r128 ! fakesink
  done
done

/usr/bin/python3 - "$runs" "$SECONDS_OF_AUDIO" "$ROUNDS" "$(date -u +%F)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" <<'PY'
import statistics, sys
from collections import defaultdict

runs, secs, rounds, date, cpu = sys.argv[1:]
secs = float(secs)
cpu_s = defaultdict(dict)
for line in open(runs):
    key, rnd, user, system = line.split()
    cpu_s[key][int(rnd)] = (float(user), float(system))


def pct(key, base):
    per = [
        100 * (sum(cpu_s[key][r]) - sum(cpu_s[base][r])) / secs for r in sorted(cpu_s[base])
    ]
    return statistics.median(per), min(per), max(per)


print(f"{secs:.0f} s of 48 kHz float audio x {rounds} interleaved rounds, {date}, {cpu}")
print("% of one core per stream (CPU time of the analyser / audio time), median [range]")
for ch, name in ((2, "stereo"), (6, "5.1")):
    v = pct(f"gst_vq_{ch}", f"gst_base_{ch}")
    f = pct(f"ff_r128_{ch}", f"ff_base_{ch}")
    print(f"{name:7} vqaudio {v[0]:6.3f} % [{v[1]:.3f}, {v[2]:.3f}]   "
          f"FFmpeg ebur128=peak=true {f[0]:6.3f} % [{f[1]:.3f}, {f[2]:.3f}]   "
          f"ratio vqaudio / FFmpeg {v[0] / f[0]:.2f}")
PY
