#!/usr/bin/env bash
# From a plain folder of your own photos to an object-free capture.
#
#   bash examples/photos_from_scratch.sh PHOTOS_DIR WORK_DIR VIEW_A [VIEW_B ...]
#
# 1. lays out WORK_DIR/capture/images/ with copies of the photos (the originals are not touched);
# 2. reconstructs it with COLMAP (WORK_DIR/capture/sparse/0);
# 3. expects masks for the named views in WORK_DIR/capture/masks/<stem>.png (paint the object white on
#    black in any editor; the script stops and tells you which files it is waiting for);
# 4. propagates the masks to all views, removes the object, and writes WORK_DIR/removed/ with report.html.
set -euo pipefail
photos="${1:?usage: $0 PHOTOS_DIR WORK_DIR VIEW_A [VIEW_B ...]}"
work="${2:?work folder}"
shift 2
[ "$#" -ge 1 ] || { echo "name at least one annotated view (an image stem)" >&2; exit 2; }
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/.venv/bin/inconddiff"
mkdir -p "$work/capture/images" "$work/capture/masks"
find "$photos" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) -exec cp -n {} "$work/capture/images/" \;
[ -d "$work/capture/sparse/0" ] || "$bin" reconstruct "$work/capture"
missing=0
for v in "$@"; do
    if [ ! -f "$work/capture/masks/$v.png" ]; then
        echo "waiting for a mask: $work/capture/masks/$v.png (255 = object, 0 = keep, same size as the photo)"
        missing=1
    fi
done
[ "$missing" -eq 0 ] || exit 1
"$bin" run "$work/capture" --from "$@" --out "$work/removed"
echo "done: $work/removed/report.html"
