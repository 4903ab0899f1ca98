#!/bin/bash
# Builds the development corpus's cases (../shared/devcorpus) from OTHER real clips, as a check
# that a detector change generalises beyond the clips it was developed on:
#   scripts/other-clips-corpus.sh OUTDIR
#   ../shared/devcorpus/score.py all --corpus OUTDIR --plugin-dir target/release --no-ffmpeg
# Sources, from the same Debian package as the corpus's own (opencv-doc 4.6.0+dfsg-12, never
# installed): examples/data/Megamind.avi (a CGI movie trailer with dialogue and music, 720x528
# 23.976 fps, AC-3) takes the place of box.mp4, and examples/data/vtest.avi (a fixed camera over
# pedestrians, 768x576 10 fps, no sound) that of cup.mp4 for the freeze and artifact cases; the
# A/V cases use the trailer for both, since they need sound. Each is first scaled to the 640x480
# the corpus builders assume (x264 crf 12). DEVCORPUS names the builder folder
# (default ../shared/devcorpus). About 3 minutes on 2 cores.
set -euo pipefail
out="$(mkdir -p "${1:?usage: $0 OUTDIR}" && cd "$1" && pwd)"
dc="$(cd "${DEVCORPUS:-$(dirname "$0")/../../shared/devcorpus}" && pwd)"
py=/usr/bin/python3
builder="$out/builder"
rm -rf "$builder" && cp -r "$dc" "$builder"
mkdir -p "$out/sources/dl" "$out/x"
deb=$(ls "$out"/sources/dl/opencv-doc_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  (cd "$out/sources/dl" && apt-get download opencv-doc=4.6.0+dfsg-12)
  deb=$(ls "$out"/sources/dl/opencv-doc_*.deb | head -1)
fi
data=./usr/share/doc/opencv-doc/examples/data
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out/x" "$data/Megamind.avi" "$data/vtest.avi"
ffmpeg -v error -y -i "$out/x/$data/Megamind.avi" -vf scale=640:480:flags=bicubic -c:v libx264 \
  -crf 12 -preset medium -pix_fmt yuv420p -c:a aac -b:a 192k "$out/sources/Megamind.mp4"
ffmpeg -v error -y -i "$out/x/$data/vtest.avi" -vf scale=640:480:flags=bicubic -c:v libx264 \
  -crf 12 -preset medium -pix_fmt yuv420p "$out/sources/vtest.mp4"
# Points the builder's "box" and "cup" sources at the given files (pinned by their sha256).
use() {
  $py - "$builder/sources.py" "$out/sources" "$1" "$2" <<'EOF'
import hashlib, re, sys
path, src, box, cup = sys.argv[1:]
s = open(path).read()
for key, name in (("box", box), ("cup", cup)):
    sha = hashlib.sha256(open("%s/%s" % (src, name), "rb").read()).hexdigest()
    s, n = re.subn(r'"%s": \("[^"]+", "[0-9a-f]+"' % key, '"%s": ("%s", "%s"' % (key, name, sha), s)
    assert n == 1, key
open(path, "w").write(s)
EOF
}
use Megamind.mp4 vtest.mp4
"$builder/build.sh" "$out" --only freeze,artifact
use Megamind.mp4 Megamind.mp4
"$builder/build.sh" "$out" --only avsync
echo "score with: $dc/score.py all --corpus $out --plugin-dir target/release --no-ffmpeg"
