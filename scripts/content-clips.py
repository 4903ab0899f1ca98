#!/usr/bin/python3
"""Runs avsyncmon at its defaults on every NAME_SHIFT.mkv of a folder (made by content-clips.sh;
SHIFT in ms, m for minus: the audio moved that much, so the truth) and scores its content
estimates: one row per file, then the totals."""
import pathlib
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)


def estimates(path):
    """Every content estimate avsyncmon posts on the file: (final, offset ms or None, confidence,
    reason)."""
    pipe = Gst.parse_launch(
        f"uridecodebin name=d uri={path.as_uri()} avsyncmon name=m "
        "m.video_src ! fakesink sync=false m.audio_src ! fakesink sync=false "
        "d. ! queue ! videoconvert ! m.video_sink d. ! queue ! audioconvert ! m.audio_sink")
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    out = []
    while True:
        msg = bus.timed_pop(120 * Gst.SECOND)
        if msg is None:
            sys.exit(f"{path}: no EOS within 120 s")
        if msg.type == Gst.MessageType.ERROR:
            sys.exit(f"{path}: {msg.parse_error()}")
        if msg.type == Gst.MessageType.EOS:
            break
        s = msg.get_structure()
        if s is None or s.get_name() != "vqmon-measurement" or not s.has_field("values"):
            continue
        v = s.get_value("values")
        if v.get_value("source") != "content":
            continue
        if v.get_value("available"):
            out.append((v.get_value("final"), v.get_value("offset") / 1e6, v.get_value("confidence"), None))
        else:
            out.append((v.get_value("final"), None, 0.0, v.get_value("reason")))
    pipe.set_state(Gst.State.NULL)
    return out


def main():
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.mkv"))
    if not files:
        sys.exit(f"no .mkv in {sys.argv[1]}")
    print("| file | truth ms | estimates available | their errors ms (confidence) | final estimate | "
          "reasons given |")
    print("|---|---|---|---|---|---|")
    avail = within20 = confident = confident40 = 0
    for f in files:
        truth = float(f.stem.rsplit("_", 1)[1].replace("m", "-"))
        est = estimates(f)
        got = [(o - truth, c) for _, o, c, _ in est if o is not None]
        avail += len(got)
        within20 += sum(abs(e) <= 20 for e, _ in got)
        confident += sum(c >= 0.8 for _, c in got)
        confident40 += sum(c >= 0.8 and abs(e) <= 40 for e, c in got)
        final = next((e for e in est if e[0]), None)
        fin = ("none" if final is None else
               f"{final[1] - truth:+.1f} ({final[2]:.2f})" if final[1] is not None else final[3])
        shown = ", ".join(f"{e:+.1f} ({c:.2f})" for e, c in got) or "-"
        reasons = sorted({r for _, o, _, r in est if o is None and r != "window not filled"})
        print(f"| {f.stem} | {truth:+.0f} | {len(got)}/{len(est)} | {shown} | {fin} | {', '.join(reasons) or '-'} |")
    print()
    print(f"{len(files)} files: {avail} estimates available, {within20} within 20 ms; "
          f"{confident} with confidence >= 0.8, {confident40} of them within 40 ms")


if __name__ == "__main__":
    main()
