"""A factorised (TensoRF vector-matrix) radiance field in plain torch: fast to fit on a CPU, unchanged on a GPU.

Space is scaled by `scene_radius` and contracted (L-inf norm) into the grid cube [-1, 1]^3: the box
|x| <= scene_radius fills the central `inner_fraction` of the grid linearly, everything beyond it is squeezed into
the rim, so bounded rooms get nearly all the resolution and unbounded captures still fit. Density and colour are
each a sum over the three axis pairs of (matrix on the plane) x (vector on the remaining axis), read with bilinear /
linear interpolation (`grid_sample`): an R x R x R field for the price of three R x R planes, and axis-aligned
surfaces (floors, walls) are represented exactly. Colour features map linearly to spherical-harmonic RGB
coefficients (degree 0 or 1), so no MLP runs per sample. Resolution grows coarse to fine by resampling the planes
(`upsample`). An occupancy bitmap computed from the density factors lets the renderer skip empty space, and a
carved bitmap (`set_carved`) holds density at zero where the field must stay empty (a removed object's volume).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# plane k spans grid axes PLANE_AXES[k]; its vector runs along LINE_AXES[k]
PLANE_AXES = ((0, 1), (0, 2), (1, 2))
LINE_AXES = (2, 1, 0)


DENSITY_SCALE = 25.0


def density_activation(raw: Tensor) -> Tensor:
    """Density (per scene unit) from the raw factor sum: softplus, scaled so that a raw value of a few units makes a
    surface opaque within a voxel."""
    return F.softplus(raw) * DENSITY_SCALE


def sh_components(d: Tensor, degree: int) -> Tensor:
    """Real spherical harmonics of unit directions up to `degree` (0 or 1): (N, (degree + 1)^2)."""
    c0 = torch.full_like(d[:, :1], 0.28209479)
    if degree == 0:
        return c0
    x, y, z = d.unbind(-1)
    return torch.cat([c0, 0.48860251 * torch.stack([y, z, x], -1)], -1)


class TensorVMField(nn.Module):
    """Density and RGB from vector-matrix factorised grids over the contracted cube.

    Args:
        resolution: initial side of the density planes and length of their vectors (grown by `upsample`).
        color_resolution: the same for the colour factors (default: `resolution`).
        density_components: rank of the density factorisation per axis pair.
        color_components: rank of the colour-feature factorisation per axis pair.
        sh_degree: spherical-harmonic degree of the colour (0 = view-independent, 1 = linear in direction).
        scene_radius: half-side of the box (in world units) that gets the grid's fine resolution.
        inner_fraction: share of the grid's extent the inner box occupies; the rest holds contracted space.
        density_bias: added to the raw density before the softplus (space starts nearly empty).
        occupancy_resolution: side of the occupancy bitmap.
    """

    def __init__(
        self,
        resolution: int = 128,
        color_resolution: int | None = None,
        density_components: int = 8,
        color_components: int = 16,
        sh_degree: int = 1,
        scene_radius: float = 1.5,
        inner_fraction: float = 0.8,
        density_bias: float = -5.0,
        occupancy_resolution: int = 128,
    ) -> None:
        super().__init__()
        if sh_degree not in (0, 1):
            raise ValueError("sh_degree must be 0 or 1")
        g = torch.Generator().manual_seed(0)

        def planes(c: int, r: int, scale: float) -> nn.Parameter:
            return nn.Parameter(scale * torch.randn(3, c, r, r, generator=g))

        def lines(c: int, r: int, scale: float) -> nn.Parameter:
            return nn.Parameter(scale * torch.randn(3, c, r, 1, generator=g))

        cr = color_resolution or resolution
        self.density_planes = planes(density_components, resolution, 0.1)
        self.density_lines = lines(density_components, resolution, 0.1)
        self.color_planes = planes(color_components, cr, 0.1)
        self.color_lines = lines(color_components, cr, 0.1)
        self.sh_degree = sh_degree
        n_coef = 3 * (sh_degree + 1) ** 2
        self.color_basis = nn.Linear(3 * color_components, n_coef, bias=True)
        self.scene_radius = scene_radius
        self.inner_fraction = inner_fraction
        self.density_bias = density_bias
        self.register_buffer(
            "occupancy",
            torch.ones(occupancy_resolution, occupancy_resolution, occupancy_resolution, dtype=torch.bool),
        )
        self.register_buffer(
            "carved",
            torch.zeros(occupancy_resolution, occupancy_resolution, occupancy_resolution, dtype=torch.bool),
        )
        self.has_carved = False

    @property
    def resolution(self) -> int:
        return self.density_planes.shape[-1]

    def grid_parameters(self) -> list[nn.Parameter]:
        return [self.density_planes, self.density_lines, self.color_planes, self.color_lines]

    def basis_parameters(self) -> list[nn.Parameter]:
        return list(self.color_basis.parameters())

    def normalise(self, positions: Tensor) -> Tensor:
        """World positions to grid coordinates in [-1, 1]^3: linear inside the inner box, contracted outside."""
        x = positions / self.scene_radius
        f = self.inner_fraction
        mag = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-6)
        outer = (f + (1 - f) * (1 - 1 / mag)) * (x / mag)
        return torch.where(mag <= 1, f * x, outer)

    def inner_voxel_size(self) -> float:
        """World size of one grid cell inside the inner box at the current resolution."""
        return 2 * self.scene_radius / (self.inner_fraction * (self.resolution - 1))

    @staticmethod
    def _factors(plane: Tensor, line: Tensor, xyz: Tensor) -> tuple[Tensor, Tensor]:
        """Plane and vector features at grid coordinates: each (3, C, N)."""
        n = xyz.shape[0]
        pc = torch.stack([xyz[:, list(a)] for a in PLANE_AXES]).view(3, n, 1, 2)
        lc = torch.stack([xyz[:, a] for a in LINE_AXES])
        lc = torch.stack([torch.zeros_like(lc), lc], -1).view(3, n, 1, 2)
        pf = F.grid_sample(plane, pc, mode="bilinear", align_corners=True).view(3, plane.shape[1], n)
        lf = F.grid_sample(line, lc, mode="bilinear", align_corners=True).view(3, line.shape[1], n)
        return pf, lf

    def raw_density(self, xyz: Tensor) -> Tensor:
        pf, lf = self._factors(self.density_planes, self.density_lines, xyz)
        return (pf * lf).sum(dim=(0, 1))

    def density(self, xyz: Tensor) -> Tensor:
        """Volume density (per world unit) at grid coordinates, zero in carved cells: (N,)."""
        sigma = density_activation(self.raw_density(xyz) + self.density_bias)
        if self.has_carved:
            sigma = sigma.masked_fill(self._lookup(self.carved, xyz), 0.0)
        return sigma

    def rgb(self, xyz: Tensor, directions: Tensor) -> Tensor:
        """Colour at grid coordinates seen along unit `directions` (one per point): (N, 3)."""
        pf, lf = self._factors(self.color_planes, self.color_lines, xyz)
        feats = (pf * lf).reshape(-1, xyz.shape[0]).t()
        coef = self.color_basis(feats).view(-1, 3, (self.sh_degree + 1) ** 2)
        sh = sh_components(directions, self.sh_degree)
        return torch.sigmoid((coef * sh[:, None, :]).sum(-1))

    @torch.no_grad()
    def density_volume(self, r: int) -> Tensor:
        """Density at the centres of an r^3 lattice over the grid cube, indexed [z, y, x]."""
        lin = torch.linspace(-1 + 1 / r, 1 - 1 / r, r, device=self.density_planes.device)
        gy, gx = torch.meshgrid(lin, lin, indexing="ij")
        plane_grid = torch.stack([gx, gy], -1)[None]  # out[i, j] samples (x = lin[j], y = lin[i])
        line_grid = torch.stack([torch.zeros_like(lin), lin], -1).view(1, r, 1, 2)
        raw = torch.zeros(r, r, r, device=lin.device)  # [x, y, z]
        for k, ((a, b), c) in enumerate(zip(PLANE_AXES, LINE_AXES, strict=True)):
            p = F.grid_sample(
                self.density_planes[k : k + 1], plane_grid, mode="bilinear", align_corners=True
            )[0]
            v = F.grid_sample(self.density_lines[k : k + 1], line_grid, mode="bilinear", align_corners=True)
            vol = torch.einsum("cij,ck->ijk", p, v[0, :, :, 0])  # axes (b, a, c)
            order = (b, a, c)
            raw += vol.permute(*[order.index(ax) for ax in range(3)])
        sigma = density_activation(raw + self.density_bias)
        return sigma.permute(2, 1, 0).contiguous()

    @staticmethod
    def _lookup(bitmap: Tensor, xyz: Tensor) -> Tensor:
        """Nearest-cell lookup of an r^3 bitmap indexed [z, y, x] at grid coordinates."""
        r = bitmap.shape[0]
        idx = ((xyz + 1) * 0.5 * r).long().clamp_(0, r - 1)
        return bitmap[idx[:, 2], idx[:, 1], idx[:, 0]]

    def occupied(self, xyz: Tensor) -> Tensor:
        """Occupancy bitmap lookup (nearest cell) at grid coordinates."""
        return self._lookup(self.occupancy, xyz)

    def cell_centres(self) -> Tensor:
        """Grid coordinates of the occupancy / carved cells' centres, (r, r, r, 3) indexed [z, y, x], xyz last."""
        r = self.occupancy.shape[0]
        lin = (torch.arange(r, device=self.occupancy.device) + 0.5) * (2.0 / r) - 1.0
        z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
        return torch.stack([x, y, z], -1)

    def denormalise(self, xyz: Tensor) -> Tensor:
        """Grid coordinates inside the inner box back to world positions (the inverse of `normalise` there)."""
        return xyz / self.inner_fraction * self.scene_radius

    @torch.no_grad()
    def set_carved(self, carved: Tensor) -> None:
        """Hold density at zero in the cells `carved` marks (bool, the occupancy bitmap's shape)."""
        if carved.shape != self.carved.shape:
            raise ValueError(f"carved bitmap must be {tuple(self.carved.shape)}, got {tuple(carved.shape)}")
        self.carved.copy_(carved)
        self.has_carved = bool(carved.any())
        self.occupancy &= ~self.carved

    def cell_size_ratio(self, xyz: Tensor) -> Tensor:
        """World size of a grid cell at grid coordinates `xyz` (..., 3), relative to a cell of the inner box: 1
        inside it, growing with the square of the distance in the contracted rim."""
        f = self.inner_fraction
        g = xyz.abs().amax(-1)
        # distance in units of scene_radius, from g = f + (1 - f)(1 - 1 / dist) (`normalise`)
        dist = (1 - f) / (1 - g).clamp_min(1e-3)
        return torch.where(g <= f, torch.ones_like(g), (f * dist * dist / (1 - f)).clamp_min(1.0))

    @torch.no_grad()
    def update_occupancy(self, threshold: float) -> float:
        """Mark cells whose optical thickness (density, max over a 3x3x3 neighbourhood, times the cell's world
        size) exceeds that of an inner-box cell at min(threshold, mean density); returns the fraction kept.
        Thickness, not density: a cell of the contracted rim spans metres, over which distant trees and buildings
        of low density are opaque, and a cell marked empty is never sampled, so it gets no gradient to come back."""
        r = self.occupancy.shape[0]
        sigma = self.density_volume(r)
        thr = min(threshold, float(sigma.mean()))
        sigma = F.max_pool3d(sigma[None, None], 3, stride=1, padding=1)[0, 0]
        thickness = sigma * self.cell_size_ratio(self.cell_centres())
        self.occupancy.copy_((thickness > thr) & ~self.carved)
        return float(self.occupancy.float().mean())

    @torch.no_grad()
    def upsample(
        self, resolution: int, color_resolution: int | None = None
    ) -> dict[nn.Parameter, nn.Parameter]:
        """Resample the density factors to `resolution` and the colour factors to `color_resolution` (default the
        same; bilinear / linear). The factors become new Parameters (autograd caches a parameter's shape), so the
        caller must swap them in its optimiser: returns {old: new}."""
        cr = color_resolution or resolution
        sizes = {
            "density_planes": (resolution, resolution),
            "density_lines": (resolution, 1),
            "color_planes": (cr, cr),
            "color_lines": (cr, 1),
        }
        swapped = {}
        for name, size in sizes.items():
            old = getattr(self, name)
            new = nn.Parameter(F.interpolate(old.data, size=size, mode="bilinear", align_corners=True))
            setattr(self, name, new)
            swapped[old] = new
        return swapped

    def tv_loss(self, crop: int = 96) -> Tensor:
        """Total variation (mean squared neighbour differences) of the planes on one random crop x crop window
        (an unbiased estimate of the whole-plane mean at a fraction of the cost); colour weighted 0.1."""
        total = self.density_planes.new_zeros(())
        for p, w in ((self.density_planes, 1.0), (self.color_planes, 0.1)):
            r = p.shape[-1]
            c = min(crop, r)
            i, j = (int(v) for v in torch.randint(0, r - c + 1, (2,)))
            q = p[..., i : i + c, j : j + c]
            total = total + w * (
                ((q[..., 1:, :] - q[..., :-1, :]) ** 2).mean() + ((q[..., 1:] - q[..., :-1]) ** 2).mean()
            )
        return total
