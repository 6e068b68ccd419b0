"""What the fill knows of each view of a capture: its pixels, its dense stereo depth and the surface it sees,
computed once and kept, and the view as a source of observed pixels for the others (`prior.copy_fill`).

Shared by the removal driver, the training samples and the benchmarks, so that all of them copy from the same
views in the same way."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from inconddiff.cameras import SceneGeometry
from inconddiff.prior.copy_fill import CopySource
from inconddiff.prior.stereo import DepthMap, covisible_neighbours, view_depth
from inconddiff.prior.warp import SurfaceMap

IMAGE_CACHE_BYTES = 2 << 30
"""Decoded views kept in memory (the most recently used): every view is a source for many others."""


class CaptureViews:
    """The registered views of a capture: `images(stem)` reads one (uint8), `masks` are their holes (the
    object), `keep` marks the background sparse points."""

    def __init__(
        self,
        geometry: SceneGeometry,
        keep: np.ndarray,
        images: Callable[[str], np.ndarray],
        masks: dict[str, np.ndarray],
    ):
        self.geometry, self.keep, self.read, self.masks = geometry, keep, images, masks
        self._images: dict[str, np.ndarray] = {}
        self._depths: dict[str, DepthMap | None] = {}

    def image(self, stem: str) -> np.ndarray:
        """View `stem`'s pixels."""
        if stem in self._images:
            self._images[stem] = self._images.pop(stem)  # most recently used last
            return self._images[stem]
        image = self.read(stem)
        self._images[stem] = image
        while len(self._images) > 1 and sum(i.nbytes for i in self._images.values()) > IMAGE_CACHE_BYTES:
            self._images.pop(next(iter(self._images)))
        return image

    def depth_map(self, stem: str) -> DepthMap | None:
        """View `stem`'s dense stereo depth outside its hole, None without sparse points to bound it."""
        if stem not in self._depths:
            camera, geometry = self.geometry.cameras[stem], self.geometry
            idx = geometry.observations.get(stem, (np.zeros(0, np.int64),))[0]
            _, z = camera.project(geometry.points[idx])
            z = z[z > 1e-6]
            if len(z) < 8:
                self._depths[stem] = None
            else:
                neighbours = [
                    (geometry.cameras[n], self.image(n), self.masks.get(n))
                    for n in covisible_neighbours(geometry, stem)
                ]
                depth_range = (np.percentile(z, 1) * 0.8, np.percentile(z, 99) * 1.25)
                self._depths[stem] = view_depth(
                    camera, self.image(stem), self.masks.get(stem), neighbours, depth_range
                )
        return self._depths[stem]

    def surface(self, stem: str) -> SurfaceMap | None:
        """The surface view `stem` was measured to see, for the occlusion test: its stereo depth where
        trusted, unknown elsewhere (`warp.SurfaceMap`)."""
        stereo = self.depth_map(stem)
        return None if stereo is None else SurfaceMap(stereo.depth, stereo.scale)

    def source(self, stem: str, invalid: np.ndarray | None = None) -> CopySource:
        """View `stem` as a source of observed pixels: its own pixels, its hole excluded. `invalid` replaces the
        hole (the depth map is blanked there too): a view whose pixels are hidden for a training sample."""
        camera = self.geometry.cameras[stem]
        depth = self.depth_map(stem)
        if invalid is None:
            invalid = self.masks.get(stem)
        elif depth is not None:
            hidden = cv2.resize(
                invalid.astype(np.float32), depth.depth.shape[::-1], interpolation=cv2.INTER_AREA
            )
            depth = DepthMap(np.where(hidden > 0, np.nan, depth.depth).astype(np.float32), depth.scale)
        return CopySource(stem, camera, self.image(stem), invalid, self.surface(stem), depth)
