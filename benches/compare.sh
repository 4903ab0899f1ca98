#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# vqmon's video detectors against their FFmpeg counterparts on the same raw 1080p I420 frames,
# side by side in one run: vqfreeze against freezedetect (and blackdetect), vqartifact against
# blockdetect; then the cost of every vqmon video element inline after a real decoder, and the
# latency each adds to a buffer there (benches/latency.py). Each pipeline runs with and without
# the detector, interleaved ROUNDS times; a detector's cost is the CPU-time difference (user and
# system separately) divided by the frames.
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

# CPU seconds (user, system) of a command's children.
cpu() {
  /usr/bin/python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime:.4f} {r.ru_stime:.4f}")
PY
}

ff=(ffmpeg -nostdin -hide_banner -threads 1 -f rawvideo -pix_fmt yuv420p -s ${W}x${H} -r 25 -i "$work/frames.yuv")
gst=(gst-launch-1.0 -q filesrc location="$work/frames.yuv" blocksize=$((W * H * 3 / 2)) ! rawvideoparse width=$W height=$H format=i420 framerate=25/1)

# The same frames as H.264, for the cost next to a real decoder (avdec_h264, one thread).
gst-launch-1.0 -q filesrc location="$work/frames.yuv" blocksize=$((W * H * 3 / 2)) ! \
  rawvideoparse width=$W height=$H format=i420 framerate=25/1 ! \
  x264enc bitrate=8000 speed-preset=faster ! mp4mux ! filesink location="$work/frames.mp4"
dec=(gst-launch-1.0 -q filesrc location="$work/frames.mp4" ! qtdemux ! h264parse ! avdec_h264 max-threads=1)

declare -A U S
for k in ff_base ff_det ff_black ff_both ff_block gst_base gst_det gst_det4 gst_art dec_base dec_det dec_art dec_all dec_fleet; do U[$k]=0; S[$k]=0; done
add() { read -r u s < <(cpu "${@:2}"); U[$1]=$(echo "${U[$1]} + $u" | bc -l); S[$1]=$(echo "${S[$1]} + $s" | bc -l); }
for r in $(seq "$ROUNDS"); do
  add ff_base "${ff[@]}" -f null -
  add ff_det "${ff[@]}" -vf freezedetect -f null -
  add ff_black "${ff[@]}" -vf blackdetect -f null -
  add ff_both "${ff[@]}" -vf freezedetect,blackdetect -f null -
  add ff_block "${ff[@]}" -vf blockdetect -f null -
  add gst_base "${gst[@]}" ! fakesink
  add gst_det "${gst[@]}" ! vqfreeze ! fakesink
  add gst_det4 "${gst[@]}" ! vqfreeze row-step=4 ! fakesink
  add gst_art "${gst[@]}" ! vqartifact ! fakesink
  add dec_base "${dec[@]}" ! fakesink
  add dec_det "${dec[@]}" ! vqfreeze ! fakesink
  add dec_art "${dec[@]}" ! vqartifact ! fakesink
  # Every vqmon video element inline: vqinject (idle), vqfreeze, vqartifact, avsyncmon's video branch.
  add dec_all "${dec[@]}" ! vqinject ! vqfreeze ! vqartifact ! m.video_sink avsyncmon name=m m.video_src ! fakesink
  # The same in the reduced-cost modes for large fleets (accuracy measured in the tests).
  add dec_fleet "${dec[@]}" ! vqinject ! vqfreeze row-step=4 ! vqartifact frame-step=4 ! m.video_sink avsyncmon name=m m.video_src ! fakesink
done

# (c) Added latency per buffer after the decoder (wall time through the elements, probes' own
# cost subtracted), interleaved the same way.
all_elems="vqinject ! vqfreeze ! vqartifact ! m.video_sink avsyncmon name=m m.video_src"
fleet_elems="vqinject ! vqfreeze row-step=4 ! vqartifact frame-step=4 ! m.video_sink avsyncmon name=m m.video_src"
lat=$(benches/latency.py "$work/frames.mp4" "$ROUNDS" vqfreeze=vqfreeze vqartifact=vqartifact "all=$all_elems" "fleet=$fleet_elems")

per_frame() { echo "scale=4; 1000 * ($1) / ($ROUNDS * $FRAMES)" | bc -l; }
ffu=$(per_frame "${U[ff_det]} - ${U[ff_base]}"); ffs=$(per_frame "${S[ff_det]} - ${S[ff_base]}")
vqu=$(per_frame "${U[gst_det]} - ${U[gst_base]}"); vqs=$(per_frame "${S[gst_det]} - ${S[gst_base]}")
v4u=$(per_frame "${U[gst_det4]} - ${U[gst_base]}"); v4s=$(per_frame "${S[gst_det4]} - ${S[gst_base]}")
fbu=$(per_frame "${U[ff_black]} - ${U[ff_base]}"); fbs=$(per_frame "${S[ff_black]} - ${S[ff_base]}")
f2u=$(per_frame "${U[ff_both]} - ${U[ff_base]}"); f2s=$(per_frame "${S[ff_both]} - ${S[ff_base]}")
fft=$(echo "$ffu + $ffs" | bc -l); vqt=$(echo "$vqu + $vqs" | bc -l); v4t=$(echo "$v4u + $v4s" | bc -l)
fku=$(per_frame "${U[ff_block]} - ${U[ff_base]}"); fks=$(per_frame "${S[ff_block]} - ${S[ff_base]}")
vau=$(per_frame "${U[gst_art]} - ${U[gst_base]}"); vas=$(per_frame "${S[gst_art]} - ${S[gst_base]}")
fkt=$(echo "$fku + $fks" | bc -l); vat=$(echo "$vau + $vas" | bc -l)
echo "1080p I420, $FRAMES frames x $ROUNDS interleaved rounds, $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
printf '%-22s %10s %10s %10s\n' "ms per frame" user system total
printf '%-22s %10.3f %10.3f %10.3f\n' "ffmpeg freezedetect" "$ffu" "$ffs" "$fft"
printf '%-22s %10.3f %10.3f %10.3f\n' "ffmpeg blackdetect" "$fbu" "$fbs" "$(echo "$fbu + $fbs" | bc -l)"
printf '%-22s %10.3f %10.3f %10.3f\n' "ffmpeg freeze+black" "$f2u" "$f2s" "$(echo "$f2u + $f2s" | bc -l)"
printf '%-22s %10.3f %10.3f %10.3f\n' "vqfreeze" "$vqu" "$vqs" "$vqt"
printf '%-22s %10.3f %10.3f %10.3f\n' "vqfreeze row-step=4" "$v4u" "$v4s" "$v4t"
printf '%-22s %10.3f %10.3f %10.3f\n' "ffmpeg blockdetect" "$fku" "$fks" "$fkt"
printf '%-22s %10.3f %10.3f %10.3f\n' "vqartifact" "$vau" "$vas" "$vat"
printf 'ratio vqfreeze / freezedetect: user %.2f, total %.2f\n' "$(echo "$vqu / $ffu" | bc -l)" "$(echo "$vqt / $fft" | bc -l)"
printf 'ratio vqfreeze row-step=4 / freezedetect: user %.2f, total %.2f\n' "$(echo "$v4u / $ffu" | bc -l)" "$(echo "$v4t / $fft" | bc -l)"
printf 'ratio vqfreeze / (freezedetect + blackdetect), its full counterpart: user %.2f\n' "$(echo "$vqu / $f2u" | bc -l)"
printf 'ratio vqartifact / blockdetect: user 1/%.0f, total 1/%.0f\n' "$(echo "$fku / $vau" | bc -l)" "$(echo "$fkt / $vat" | bc -l)"
decu=$(per_frame "${U[dec_base]}"); dect=$(per_frame "${U[dec_base]} + ${S[dec_base]}")
addu=$(per_frame "${U[dec_det]} - ${U[dec_base]}"); addt=$(per_frame "${U[dec_det]} + ${S[dec_det]} - ${U[dec_base]} - ${S[dec_base]}")
printf 'decode (avdec_h264, 1 thread): %.3f ms/frame user, %.3f total; vqfreeze inline adds %.3f ms user (%.1f %%), %.3f total (%.1f %%)\n' \
  "$decu" "$dect" "$addu" "$(echo "100 * $addu / $decu" | bc -l)" "$addt" "$(echo "100 * $addt / $dect" | bc -l)"

artu=$(per_frame "${U[dec_art]} - ${U[dec_base]}"); artt=$(per_frame "${U[dec_art]} + ${S[dec_art]} - ${U[dec_base]} - ${S[dec_base]}")
printf 'vqartifact inline adds %.3f ms user (%.1f %%), %.3f total (%.1f %%)\n' \
  "$artu" "$(echo "100 * $artu / $decu" | bc -l)" "$artt" "$(echo "100 * $artt / $dect" | bc -l)"
allu=$(per_frame "${U[dec_all]} - ${U[dec_base]}"); allt=$(per_frame "${U[dec_all]} + ${S[dec_all]} - ${U[dec_base]} - ${S[dec_base]}")
printf 'every vqmon video element inline (vqinject idle, vqfreeze, vqartifact, avsyncmon) adds %.3f ms user (%.1f %%), %.3f total (%.1f %%)\n' \
  "$allu" "$(echo "100 * $allu / $decu" | bc -l)" "$allt" "$(echo "100 * $allt / $dect" | bc -l)"

lat_row() {
  /usr/bin/python3 -c 'import json, sys; d = json.loads(sys.argv[1])[sys.argv[2]]; print("%.3f %.3f %.3f" % (d["mean"], d["median"], d["p99"]))' "$lat" "$1"
}
printf '%-60s %8s %8s %8s\n' "added latency per buffer after avdec_h264, ms" mean median p99
for k in vqfreeze vqartifact all fleet; do
  read -r m md p <<<"$(lat_row $k)"
  label=$k
  [ "$k" = all ] && label="every video element"
  [ "$k" = fleet ] && label="every video element, reduced-cost modes"
  printf '%-60s %8.3f %8.3f %8.3f\n' "$label" "$m" "$md" "$p"
done
fleetu=$(per_frame "${U[dec_fleet]} - ${U[dec_base]}"); fleett=$(per_frame "${U[dec_fleet]} + ${S[dec_fleet]} - ${U[dec_base]} - ${S[dec_base]}")
printf 'the same in reduced-cost modes (vqfreeze row-step=4, vqartifact frame-step=4) adds %.3f ms user (%.1f %%), %.3f total (%.1f %%)\n' \
  "$fleetu" "$(echo "100 * $fleetu / $decu" | bc -l)" "$fleett" "$(echo "100 * $fleett / $dect" | bc -l)"

# The same figures as JSON, for the README's performance section and for tracking.
out=${COMPARE_JSON:-target/compare.json}
/usr/bin/python3 - "$out" <<PY
import json, sys
json.dump({
    "date": "$(date -u +%F)", "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)",
    "frames": $FRAMES, "rounds": $ROUNDS, "unit": "ms of CPU per 1080p frame",
    "ffmpeg-freezedetect": {"user": $ffu, "system": $ffs},
    "ffmpeg-blackdetect": {"user": $fbu, "system": $fbs},
    "ffmpeg-freezedetect-blackdetect": {"user": $f2u, "system": $f2s},
    "vqfreeze": {"user": $vqu, "system": $vqs},
    "vqfreeze-row-step-4": {"user": $v4u, "system": $v4s},
    "ffmpeg-blockdetect": {"user": $fku, "system": $fks},
    "vqartifact": {"user": $vau, "system": $vas},
    "avdec-h264-1-thread": {"user": $decu, "total": $dect},
    "vqfreeze-after-decode": {"user": $addu, "total": $addt},
    "vqartifact-after-decode": {"user": $artu, "total": $artt},
    "all-video-elements-after-decode": {"user": $allu, "total": $allt},
    "all-video-elements-reduced-cost-after-decode": {"user": $fleetu, "total": $fleett},
    "added-latency-ms-per-buffer-after-decode": json.loads('''$lat'''),
}, open(sys.argv[1], "w"), indent=2)
PY
echo "written to $out"
