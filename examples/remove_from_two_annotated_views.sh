#!/usr/bin/env bash
# Remove an object when only a few views are annotated: masks are carried to every view through the
# reconstruction's 3D points, then the object is removed everywhere.
#
#   bash examples/remove_from_two_annotated_views.sh CAPTURE VIEW_A VIEW_B [OUT]
#
# CAPTURE holds images/ and masks/VIEW_A.png, masks/VIEW_B.png (stems of the annotated views).
# Writes OUT/ as `inconddiff remove` does, plus the propagated masks in OUT/masks/.
set -euo pipefail
capture="${1:?usage: $0 CAPTURE VIEW_A VIEW_B [OUT]}"
a="${2:?annotated view stem}"
b="${3:?second annotated view stem}"
out="${4:-${capture%/}_removed}"
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/.venv/bin/inconddiff" run "$capture" --from "$a" "$b" --out "$out"
echo "open $out/report.html to check the propagated masks and the removal"
