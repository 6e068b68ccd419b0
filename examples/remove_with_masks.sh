#!/usr/bin/env bash
# Remove an object from every view of a capture that has a mask for every view.
#
#   bash examples/remove_with_masks.sh CAPTURE [OUT]
#
# CAPTURE holds images/ and masks/ (PNG by image stem, 255 = remove); sparse/0 is reused if present,
# otherwise COLMAP reconstructs it (into OUT, CAPTURE is never modified).
# Prints progress per view; writes OUT/images/ (same stems and sizes, PNG), OUT/masks/, OUT/sparse/0,
# OUT/transforms.json, OUT/report.html (before | mask | after | references per view) and OUT/log.json.
# Try it on ../shared/data/statue (29 views with masks).
set -euo pipefail
capture="${1:?usage: $0 CAPTURE [OUT]}"
out="${2:-${capture%/}_removed}"
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/.venv/bin/inconddiff" remove "$capture" --out "$out" --refs 3
echo "open $out/report.html to compare before and after"
