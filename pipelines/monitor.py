#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
#
# Monitors a media file or URI with the vqmon video detectors (vqfreeze, vqartifact) inline:
# prints each defect the moment it starts and ends, then reads vqreport's final report (from its
# bus message) and prints a summary table. A/V sync (avsyncmon) is not included: it needs both
# streams linked, and a file without audio would then never reach EOS. Needs Debian's
# python3-gst-1.0 (use /usr/bin/python3) and the vqmon plugin on GST_PLUGIN_PATH.
#
#   monitor.py [--report REPORT.json] FILE|URI

import argparse
import json
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

DETECTORS = "queue ! videoconvert ! vqfreeze ! vqartifact"


def seconds(ns):
    return "-" if ns is None else f"{ns / 1e9:9.3f}"


def to_uri(arg):
    if Gst.uri_is_valid(arg):
        return arg
    return Gst.filename_to_uri(os.path.abspath(arg))


def build(uri, report):
    pipeline = Gst.Pipeline.new("monitor")
    src = Gst.ElementFactory.make("uridecodebin", "source")
    src.set_property("uri", uri)
    reporter = Gst.ElementFactory.make("vqreport", "report")
    if reporter is None:
        sys.exit("the vqmon plugin is not found: set GST_PLUGIN_PATH to the folder of libgstvqmon.so")
    if report:
        reporter.set_property("location", report)
    pipeline.add(src)
    pipeline.add(reporter)

    def on_pad_added(_src, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        name = caps.get_structure(0).get_name()
        if name.startswith("video/"):
            branch = Gst.parse_bin_from_description(f"{DETECTORS} ! fakesink", True)
        else:
            # Audio and anything else: consumed, so that the pipeline can reach EOS.
            branch = Gst.parse_bin_from_description("queue ! fakesink", True)
        pipeline.add(branch)
        branch.sync_state_with_parent()
        pad.link(branch.get_static_pad("sink"))

    src.connect("pad-added", on_pad_added)
    return pipeline


def print_summary(report):
    print()
    print(f"vqmon report: {len(report['events'])} defects, complete: {report['complete']}")
    print(f"{'defect':<10}{'count':>6}{'total s':>10}{'longest s':>11}{'first at s':>12}")
    for defect, s in sorted(report["summary"].items()):
        print(
            f"{defect:<10}{s['count']:>6}{s['total-duration'] / 1e9:>10.3f}"
            f"{s['longest-duration'] / 1e9:>11.3f}{seconds(s['first-running-time']):>12}"
        )
    for d in report["detectors"]:
        print(f"{d['element']}: {d['frames']} frames, {seconds(d['duration']).strip()} s, {d['caps']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("media", help="a media file or URI")
    parser.add_argument("--report", help="where to write the JSON report")
    args = parser.parse_args()

    Gst.init(None)
    pipeline = build(to_uri(args.media), args.report)
    loop = GLib.MainLoop()
    state = {"report": None, "status": 0}

    def on_message(_bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name() == "vqmon-defect":
                phase = s.get_string("phase")
                _, rt = s.get_uint64("running-time")
                # Both phases carry the times of the defect's first frame.
                element, defect = s.get_string("element"), s.get_string("defect")
                if phase == "end":
                    _, duration = s.get_uint64("duration")
                    line = (
                        f"[{element}] {defect} end, started at {rt / 1e9:.3f} s, lasted "
                        f"{duration / 1e9:.3f} s ({s.get_string('end-reason')})"
                    )
                elif phase == "update":
                    _, duration = s.get_uint64("duration")
                    evidence = s.get_value("evidence") if s.has_field("evidence") else None
                    severity = evidence.get_string("severity") if evidence and evidence.has_field("severity") else None
                    line = (
                        f"[{element}] {defect} update, started at {rt / 1e9:.3f} s, "
                        f"{duration / 1e9:.3f} s so far" + (f", {severity}" if severity else "")
                    )
                else:
                    line = f"[{element}] {defect} {phase} at {rt / 1e9:.3f} s"
                print(line, flush=True)
            elif s.get_name() == "vqreport" and s.get_string("kind") == "final":
                state["report"] = json.loads(s.get_string("json"))
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print(f"error from {msg.src.get_path_string()}: {err.message} ({debug})", file=sys.stderr)
            state["status"] = 2
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()
        return True

    bus = pipeline.get_bus()
    bus.add_watch(GLib.PRIORITY_DEFAULT, on_message)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        sys.exit("the pipeline cannot start")
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    # Without a final message (error before EOS), the property still holds the latest report.
    report = state["report"]
    if report is None:
        text = pipeline.get_by_name("report").get_property("report")
        report = json.loads(text) if text else None
    if report is not None:
        print_summary(report)
    return state["status"]


if __name__ == "__main__":
    sys.exit(main())
