#!/bin/bash
# Checks avsyncmon's real-content estimate (tier 3) on real clips with their own sound, beyond the
# development corpus: every clip, re-encoded with its audio moved by -120, 0 and +80 ms, is run
# through avsyncmon at its defaults, and every content estimate is compared with the shift:
#   scripts/content-clips.sh OUTDIR
# It prints one row per file and, at the end, how many estimates were available, how many were
# within 20 ms, and how many of those given with confidence >= 0.8 were within 40 ms (the
# calibration target). The truth assumes each source is in sync as shipped.
# Sources, all from Debian 12 main at pinned versions, fetched with apt-get download (never
# installed):
#   planetblupi-common (the game's rendered cut scenes, 8 to 18 s, with sound effects),
#   pd-extendedview (diver.mov, an underwater camera), openboard-common (an animated
#   tutorial with voice and music; its first 60 s), forensics-samples-files (movie-hello.mp4, a
#   webcam and screen capture with speech), opencv-doc (Megamind.avi, a movie trailer; box.mp4 and
#   cup.mp4, the development corpus's own clips, for comparison).
# About 2 minutes on 2 cores, downloads included. Needs ffmpeg, the release build
# (target/release, or the folder PLUGIN_DIR names) and /usr/bin/python3 with python3-gst-1.0.
set -euo pipefail
out="$(mkdir -p "${1:?usage: $0 OUTDIR}" && cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out/dl" "$out/x" "$out/media"
for p in planetblupi-common=1.14.2-3 pd-extendedview=0.5~repack-4 \
  openboard-common=1.6.4+dfsg-1 forensics-samples-files=1.1.4-5 opencv-doc=4.6.0+dfsg-12; do
  name=${p%%=*}
  ls "$out"/dl/"${name}"_*.deb >/dev/null 2>&1 || (cd "$out/dl" && apt-get download -q "$p")
done
unpack() { dpkg-deb --fsys-tarfile "$out"/dl/"$1"_*.deb | tar -x -C "$out/x" "${@:2}"; }
blupi=./usr/share/planetblupi/movie
unpack planetblupi-common $blupi/win005.mkv $blupi/win129.mkv $blupi/history2.mkv \
  $blupi/play103.mkv $blupi/play105.mkv $blupi/play110.mkv $blupi/play116.mkv $blupi/play124.mkv
unpack pd-extendedview ./usr/share/doc/pd-extendedview/media/diver.mov
unpack openboard-common ./usr/share/openboard/library/videos/wannaworktogether.mp4
unpack forensics-samples-files ./usr/share/forensics-samples/original-files/movie2/movie-hello.mp4
ocv=./usr/share/doc/opencv-doc
unpack opencv-doc $ocv/examples/data/Megamind.avi $ocv/opencv4/html/box.mp4.gz \
  $ocv/opencv4/html/cup.mp4.gz
gunzip -kf "$out/x/$ocv/opencv4/html/box.mp4.gz" "$out/x/$ocv/opencv4/html/cup.mp4.gz"
sources=("$out/x/$blupi"/*.mkv "$out/x/usr/share/doc/pd-extendedview/media/diver.mov"
  "$out/x/usr/share/openboard/library/videos/wannaworktogether.mp4"
  "$out/x/usr/share/forensics-samples/original-files/movie2/movie-hello.mp4"
  "$out/x/$ocv/examples/data/Megamind.avi" "$out/x/$ocv/opencv4/html/box.mp4"
  "$out/x/$ocv/opencv4/html/cup.mp4")
for src in "${sources[@]}"; do
  base=$(basename "${src%.*}")
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src")
  dur=$(/usr/bin/python3 -c "print(min(60.0, float('$dur')))")
  for shift in -120 0 80; do
    f="$out/media/${base}_${shift/-/m}.mkv"
    [ -s "$f" ] && continue
    # The audio moves by re-encoding (timestamps stay honest), padded or cut to its length.
    if [ "$shift" -ge 0 ]; then af="adelay=${shift}:all=1,atrim=0:$dur"
    else af="atrim=start=$(awk "BEGIN{print -($shift)/1000}"),asetpts=PTS-STARTPTS,apad,atrim=0:$dur"; fi
    ffmpeg -v error -y -i "$src" -t "$dur" -map 0:v:0 -map 0:a:0 -af "$af" \
      -vf "scale=trunc(iw/2)*2:trunc(ih/2)*2" -c:v libx264 -preset veryfast -crf 18 \
      -pix_fmt yuv420p -c:a flac "$f"
  done
done
GST_PLUGIN_PATH="${PLUGIN_DIR:-$here/../target/release}" /usr/bin/python3 "$here/content-clips.py" "$out/media"
