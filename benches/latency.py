#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
#
# Added latency per buffer of vqmon elements inline after a decoder: the time a buffer takes from
# an identity in front of the elements to an identity behind them, against the same two identities
# with nothing between them (the probes' own cost cancels out). Every configuration runs ROUNDS
# times, interleaved; prints one JSON object with, per configuration, the mean, median and 99th
# percentile of the added latency in ms over all buffers.
#
#   benches/latency.py FILE.mp4 ROUNDS NAME=ELEMENTS [NAME=ELEMENTS ...]
#
# ELEMENTS is a gst-launch fragment placed between the identities (empty for the baseline, which
# is always measured as "none").
import json
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def run(path, elements):
    """Per-buffer wall time from identity `a` to identity `b`, in ms, in buffer order."""
    middle = f"{elements} ! " if elements else ""
    pipe = Gst.parse_launch(
        f"filesrc location={path} ! qtdemux ! h264parse ! avdec_h264 max-threads=1 ! "
        f"identity name=a ! {middle}identity name=b ! fakesink"
    )
    entered, took = {}, []

    def enter(_pad, info):
        entered[info.get_buffer().pts] = time.perf_counter_ns()
        return Gst.PadProbeReturn.OK

    def leave(_pad, info):
        t0 = entered.pop(info.get_buffer().pts, None)
        if t0 is not None:
            took.append((time.perf_counter_ns() - t0) / 1e6)
        return Gst.PadProbeReturn.OK

    pipe.get_by_name("a").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, enter)
    pipe.get_by_name("b").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, leave)
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    pipe.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        sys.exit(f"{elements or 'baseline'}: {err.message} ({dbg})")
    return took


def quantile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main():
    Gst.init(None)
    path, rounds = sys.argv[1], int(sys.argv[2])
    configs = [("none", "")] + [a.split("=", 1) for a in sys.argv[3:]]
    samples = {name: [] for name, _ in configs}
    for _ in range(rounds):
        for name, elements in configs:
            samples[name].extend(run(path, elements))
    base = sorted(samples["none"])
    base_mean = sum(base) / len(base)
    out = {"baseline-mean-ms": base_mean, "buffers": len(base) // rounds}
    for name, _ in configs[1:]:
        v = sorted(samples[name])
        if len(v) != len(base):
            sys.exit(f"{name}: {len(v)} buffers measured, baseline {len(base)}")
        # Added latency: the distribution less the baseline's at the same quantile.
        out[name] = {
            "mean": sum(v) / len(v) - base_mean,
            "median": quantile(v, 0.5) - quantile(base, 0.5),
            "p99": quantile(v, 0.99) - quantile(base, 0.99),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
