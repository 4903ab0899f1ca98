#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# vqmon's video detectors against their FFmpeg counterparts on the same raw 1080p I420 frames,
# side by side in one run: vqfreeze against freezedetect (and blackdetect), vqartifact against
# blockdetect; then the cost of every vqmon video element inline after a real decoder, and the
# latency each adds to a buffer there (benches/latency.py). Each pipeline runs with and without
# the detector, interleaved ROUNDS times; a detector's cost in one round is the CPU-time difference
# (user and system separately) divided by the frames, and the figure quoted is the median over the
# rounds (this machine is shared: a single round can be off by 20 %; the spread is printed too).
#
#   benches/compare.sh [FRAMES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-250}
ROUNDS=${2:-5}
W=1920
H=1080
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --lib --example rawframes
./target/release/examples/rawframes $W $H "$FRAMES" "$work/frames.yuv"
export GST_PLUGIN_PATH="$PWD/target/release"
gst-inspect-1.0 vqfreeze >/dev/null
gst-inspect-1.0 vqartifact >/dev/null

# Appends "KEY ROUND USER SYSTEM" (CPU seconds of the command) to $work/cpu.txt.
runs="$work/cpu.txt"
add() {
  /usr/bin/python3 benches/cputime.py "$@" >>"$runs"
}

ff=(ffmpeg -nostdin -hide_banner -threads 1 -f rawvideo -pix_fmt yuv420p -s ${W}x${H} -r 25 -i "$work/frames.yuv")
gst=(gst-launch-1.0 -q filesrc location="$work/frames.yuv" blocksize=$((W * H * 3 / 2)) ! rawvideoparse width=$W height=$H format=i420 framerate=25/1)

# The same frames as H.264, for the cost next to a real decoder (avdec_h264, one thread).
gst-launch-1.0 -q filesrc location="$work/frames.yuv" blocksize=$((W * H * 3 / 2)) ! \
  rawvideoparse width=$W height=$H format=i420 framerate=25/1 ! \
  x264enc bitrate=8000 speed-preset=faster ! mp4mux ! filesink location="$work/frames.mp4"
dec=(gst-launch-1.0 -q filesrc location="$work/frames.mp4" ! qtdemux ! h264parse ! avdec_h264 max-threads=1)

for r in $(seq "$ROUNDS"); do
  add ff_base "$r" "${ff[@]}" -f null -
  add ff_det "$r" "${ff[@]}" -vf freezedetect -f null -
  add ff_black "$r" "${ff[@]}" -vf blackdetect -f null -
  add ff_both "$r" "${ff[@]}" -vf freezedetect,blackdetect -f null -
  add ff_block "$r" "${ff[@]}" -vf blockdetect -f null -
  add gst_base "$r" "${gst[@]}" ! fakesink
  add gst_det "$r" "${gst[@]}" ! vqfreeze ! fakesink
  add gst_det4 "$r" "${gst[@]}" ! vqfreeze row-step=4 ! fakesink
  add gst_art "$r" "${gst[@]}" ! vqartifact ! fakesink
  add dec_base "$r" "${dec[@]}" ! fakesink
  add dec_det "$r" "${dec[@]}" ! vqfreeze ! fakesink
  add dec_art "$r" "${dec[@]}" ! vqartifact ! fakesink
  # Every vqmon video element inline: vqinject (idle), vqfreeze, vqartifact, avsyncmon's video branch.
  add dec_all "$r" "${dec[@]}" ! vqinject ! vqfreeze ! vqartifact ! m.video_sink avsyncmon name=m m.video_src ! fakesink
  # The same in the reduced-cost modes for large fleets (accuracy measured in the tests).
  add dec_fleet "$r" "${dec[@]}" ! vqinject ! vqfreeze row-step=4 ! vqartifact frame-step=4 ! m.video_sink avsyncmon name=m m.video_src ! fakesink
done

# (c) Added latency per buffer after the decoder (wall time through the elements, probes' own
# cost subtracted), interleaved the same way.
all_elems="vqinject ! vqfreeze ! vqartifact ! m.video_sink avsyncmon name=m m.video_src"
fleet_elems="vqinject ! vqfreeze row-step=4 ! vqartifact frame-step=4 ! m.video_sink avsyncmon name=m m.video_src"
benches/latency.py "$work/frames.mp4" "$ROUNDS" vqfreeze=vqfreeze vqartifact=vqartifact \
  "all=$all_elems" "fleet=$fleet_elems" >"$work/latency.json"

# The table, and the same figures as JSON for the README's performance section and for tracking.
/usr/bin/python3 - "$runs" "$work/latency.json" "${COMPARE_JSON:-target/compare.json}" "$FRAMES" "$ROUNDS" \
  "$(date -u +%F)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" <<'PY'
import json, statistics, sys
from collections import defaultdict

runs, latency, out, frames, rounds, date, cpu, cores = sys.argv[1:]
frames, rounds = int(frames), int(rounds)
cpu_s = defaultdict(dict)
for line in open(runs):
    key, rnd, user, system = line.split()
    cpu_s[key][int(rnd)] = (float(user), float(system))


def cost(key, base):
    """Median over rounds of ms per frame above the baseline: (user, system, total, spread)."""
    per = [
        tuple(1000 * (a - b) / frames for a, b in zip(cpu_s[key][r], cpu_s[base][r]))
        for r in sorted(cpu_s[base])
    ]
    user = statistics.median(p[0] for p in per)
    system = statistics.median(p[1] for p in per)
    totals = [p[0] + p[1] for p in per]
    return {
        "user": round(user, 4),
        "system": round(system, 4),
        "total": round(statistics.median(totals), 4),
        "user-min": round(min(p[0] for p in per), 4),
        "user-max": round(max(p[0] for p in per), 4),
    }


rows = {
    "ffmpeg-freezedetect": cost("ff_det", "ff_base"),
    "ffmpeg-blackdetect": cost("ff_black", "ff_base"),
    "ffmpeg-freezedetect-blackdetect": cost("ff_both", "ff_base"),
    "vqfreeze": cost("gst_det", "gst_base"),
    "vqfreeze-row-step-4": cost("gst_det4", "gst_base"),
    "ffmpeg-blockdetect": cost("ff_block", "ff_base"),
    "vqartifact": cost("gst_art", "gst_base"),
}
dec = [1000 * sum(cpu_s["dec_base"][r]) / frames for r in sorted(cpu_s["dec_base"])]
dec_user = [1000 * cpu_s["dec_base"][r][0] / frames for r in sorted(cpu_s["dec_base"])]
inline = {
    "vqfreeze": cost("dec_det", "dec_base"),
    "vqartifact": cost("dec_art", "dec_base"),
    "every video element (vqinject idle, vqfreeze, vqartifact, avsyncmon)": cost("dec_all", "dec_base"),
    "every video element, reduced-cost modes (row-step=4, frame-step=4)": cost("dec_fleet", "dec_base"),
}
lat = json.load(open(latency))
decode_user, decode_total = statistics.median(dec_user), statistics.median(dec)

print(f"1080p I420, {frames} frames x {rounds} interleaved rounds, {date}, {cpu}, {cores} cores")
print("ms of CPU per frame, median over rounds (user range over rounds in brackets)")
print(f"{'':34} {'user':>8} {'system':>8} {'total':>8}   user range")
for name, c in rows.items():
    print(f"{name:34} {c['user']:8.3f} {c['system']:8.3f} {c['total']:8.3f}   [{c['user-min']:.3f}, {c['user-max']:.3f}]")
r = lambda a, b, k: rows[a][k] / rows[b][k]
print(f"ratio vqfreeze / freezedetect: user {r('vqfreeze', 'ffmpeg-freezedetect', 'user'):.2f}, "
      f"total {r('vqfreeze', 'ffmpeg-freezedetect', 'total'):.2f}")
print(f"ratio vqfreeze row-step=4 / freezedetect: user {r('vqfreeze-row-step-4', 'ffmpeg-freezedetect', 'user'):.2f}, "
      f"total {r('vqfreeze-row-step-4', 'ffmpeg-freezedetect', 'total'):.2f}")
print(f"ratio vqfreeze / (freezedetect + blackdetect), its full counterpart: user "
      f"{r('vqfreeze', 'ffmpeg-freezedetect-blackdetect', 'user'):.2f}")
print(f"ratio vqartifact / blockdetect: user 1/{1 / r('vqartifact', 'ffmpeg-blockdetect', 'user'):.0f}, "
      f"total 1/{1 / r('vqartifact', 'ffmpeg-blockdetect', 'total'):.0f}")
print(f"\ndecode (avdec_h264, 1 thread): {decode_user:.3f} ms/frame user, {decode_total:.3f} total; inline after it:")
print(f"{'':70} {'user':>8} {'of decode':>10} {'total':>8} {'of decode':>10}")
for name, c in inline.items():
    c["user-percent-of-decode"] = round(100 * c["user"] / decode_user, 2)
    c["total-percent-of-decode"] = round(100 * c["total"] / decode_total, 2)
    print(f"{name:70} {c['user']:8.3f} {c['user-percent-of-decode']:9.1f}% {c['total']:8.3f} {c['total-percent-of-decode']:9.1f}%")
print(f"\nadded latency per buffer after avdec_h264 (ms; wall time, {lat['buffers']} buffers x {rounds} rounds)")
print(f"{'':70} {'mean':>8} {'median':>8} {'p99':>8}")
labels = {"vqfreeze": "vqfreeze", "vqartifact": "vqartifact", "all": "every video element",
          "fleet": "every video element, reduced-cost modes"}
for k, label in labels.items():
    d = lat[k]
    print(f"{label:70} {d['mean']:8.3f} {d['median']:8.3f} {d['p99']:8.3f}")
json.dump({
    "date": date, "cpu": cpu, "cores": int(cores), "frames": frames, "rounds": rounds,
    "unit": "ms of CPU per 1080p frame, median over rounds",
    **rows,
    "avdec-h264-1-thread": {"user": round(decode_user, 4), "total": round(decode_total, 4)},
    "after-decode": inline,
    "added-latency-ms-per-buffer-after-decode": lat,
}, open(out, "w"), indent=2)
print(f"written to {out}")
PY
