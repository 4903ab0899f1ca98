#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
#
# Runs a command and prints "KEY ROUND USER SYSTEM": the CPU seconds it used (user and system),
# for the side-by-side comparisons (benches/compare.sh, benches/compare-audio.sh).
#
#   benches/cputime.py KEY ROUND COMMAND...
import resource
import subprocess
import sys

key, rnd, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{key} {rnd} {r.ru_utime:.4f} {r.ru_stime:.4f}")
