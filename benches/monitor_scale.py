#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
#
# How many streams one `vqmon monitor` keeps in real time on one core, and its memory per
# stream: N copies of a pre-encoded H.264 file (1080p25 and 720p25, looped, played in real
# time: decoding, every video detector and avsyncmon, metrics), the process pinned to one core
# (taskset). A run keeps real time when every stream analyses at least 98 % of 25 frames per
# second over a 10 s window after a warm-up; the largest N that does is found by bisection.
# Compare with the elements-only figures of benches/scale.rs (README, Performance): the
# difference is the decoder and the service's own overhead.
#
#   benches/monitor_scale.py [MAX_STREAMS]
import json, os, re, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VQMON = os.path.join(ROOT, "target", "release", "vqmon")
MAX = int(sys.argv[1]) if len(sys.argv) > 1 else 32
WARMUP, WINDOW, FPS = 8.0, 10.0, 25.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    frames = {}
    for m in re.finditer(r'^vqmon_frames_analysed_total\{stream="([^"]+)"\} (\S+)$', text, re.M):
        frames[m.group(1)] = float(m.group(2))
    return frames


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def trial(media, n, work):
    port = free_port()
    cfg = os.path.join(work, f"lineup-{n}.toml")
    with open(cfg, "w") as f:
        f.write(f'listen = "127.0.0.1:{port}"\nsource-timeout = 30.0\n')
        for i in range(n):
            f.write(f'[[stream]]\nname = "s{i}"\nuri = "{media}"\nloop = true\n')
    p = subprocess.Popen(["taskset", "-c", "0", VQMON, "monitor", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(WARMUP)
        a, t_a = scrape(port), time.monotonic()
        time.sleep(WINDOW)
        b, t_b = scrape(port), time.monotonic()
        rates = [(b.get(k, 0) - a.get(k, 0)) / (t_b - t_a) for k in (f"s{i}" for i in range(n))]
        return min(rates), rss_kib(p.pid)
    finally:
        p.terminate()
        p.wait()


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "vqmon"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    print(f"vqmon monitor, one core (taskset -c 0), {time.strftime('%Y-%m-%d')}; real time = "
          f"every stream >= {0.98 * FPS:.1f} fps over {WINDOW:.0f} s after {WARMUP:.0f} s")
    results = {}
    for name, w, h, rate in (("1080p25", 1920, 1080, 6000), ("720p25", 1280, 720, 3000)):
        media = os.path.join(work, f"{name}.mp4")
        subprocess.run(
            ["gst-launch-1.0", "-q", "videotestsrc", "pattern=ball", "num-buffers=250", "!",
             f"video/x-raw,width={w},height={h},framerate=25/1", "!", "x264enc",
             "speed-preset=veryfast", f"bitrate={rate}", "key-int-max=50", "!", "mp4mux", "!",
             "filesink", f"location={media}"], check=True)
        seen = {}
        lo, hi = 0, MAX + 1
        while hi - lo > 1:
            n = (lo + hi) // 2
            fps, rss = trial(media, n, work)
            seen[n] = (fps, rss)
            ok = fps >= 0.98 * FPS
            print(f"  {name} N={n:3d}: slowest stream {fps:5.1f} fps, RSS {rss / 1024:6.1f} MiB  "
                  f"{'real time' if ok else 'late'}")
            lo, hi = (n, hi) if ok else (lo, n)
        one = seen.get(1) or trial(media, 1, work)
        per = None
        if lo > 1:
            per = (seen[lo][1] - one[1]) / (lo - 1) / 1024
        results[name] = {"streams": lo, "rss-mib-per-stream": per}
        print(f"{name}: {lo} streams in real time on one core"
              + (f", {per:.1f} MiB per stream" if per is not None else ""))
    print(json.dumps(results))


main()
