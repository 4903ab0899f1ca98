#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Decodes any media file or URI with the vqmon video detectors inline (vqfreeze and vqartifact,
# through monitor.py), writes the JSON report and prints a short summary table (defects are
# printed as they happen).
#
#   pipelines/analyze-file.sh FILE|URI [REPORT.json]     (default report: vqmon-report.json)
#
# Uses the plugin built in this checkout (target/release or target/debug) unless GST_PLUGIN_PATH
# is set, and Debian's /usr/bin/python3 with python3-gst-1.0.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 FILE|URI [REPORT.json]" >&2
  exit 64
fi
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${GST_PLUGIN_PATH:-}" ]; then
  for dir in "$here/../target/release" "$here/../target/debug"; do
    if [ -f "$dir/libgstvqmon.so" ]; then
      export GST_PLUGIN_PATH
      GST_PLUGIN_PATH=$(cd "$dir" && pwd)
      break
    fi
  done
fi
report=${2:-vqmon-report.json}
exec /usr/bin/python3 "$here/monitor.py" --report "$report" "$1"
