"""A dense multi-resolution voxel field in plain torch: fast to fit on a CPU, unchanged on a GPU.

Space is contracted (mip-NeRF 360, L-inf norm) into the cube [-2, 2]^3 so that unbounded captures fit in a
finite grid. Density and colour features are each a sum of dense grids at several resolutions (coarse levels
learn the layout in a few steps, fine levels the detail: coarse-to-fine without ever resizing a parameter),
read with trilinear interpolation. A tiny MLP turns features (and optionally the view direction) into RGB.
An occupancy bitmap, refreshed from the density grids during training, lets the model skip empty space.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def contract(x: Tensor) -> Tensor:
    """Scene contraction with the L-inf norm: identity inside [-1, 1]^3, everything else into [-2, 2]^3."""
    mag = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-6)
    return torch.where(mag <= 1, x, (2 - 1 / mag) * (x / mag))


def sample_grid(grid: Tensor, xyz: Tensor) -> Tensor:
    """Trilinear lookup of a (1, C, R, R, R) grid at points in [-1, 1]^3 (x indexes the last grid axis)."""
    out = F.grid_sample(grid, xyz.view(1, 1, 1, -1, 3), mode="bilinear", align_corners=True)
    return out.view(grid.shape[1], -1).t()


def sh_components(d: Tensor) -> Tensor:
    """Real spherical harmonics up to degree 2 (9 values) of unit directions."""
    x, y, z = d.unbind(-1)
    return torch.stack(
        [
            torch.full_like(x, 0.28209479),
            0.48860251 * y,
            0.48860251 * z,
            0.48860251 * x,
            1.09254843 * x * y,
            1.09254843 * y * z,
            0.31539157 * (3 * z * z - 1),
            1.09254843 * x * z,
            0.54627421 * (x * x - y * y),
        ],
        dim=-1,
    )


class VoxelField(nn.Module):
    """Density and RGB from dense voxel pyramids over the contracted cube [-2, 2]^3.

    Args:
        density_resolutions: side of each density grid, coarse to fine.
        feature_resolutions: side of each colour-feature grid, coarse to fine.
        feature_dim: colour features per voxel.
        hidden_dim: width of the colour MLP.
        view_dependent: feed degree-2 spherical harmonics of the view direction to the colour MLP.
        density_bias: added before the softplus, so that space starts nearly empty.
        occupancy_resolution: side of the occupancy bitmap used to skip empty space.
    """

    def __init__(
        self,
        density_resolutions: tuple[int, ...] = (32, 96),
        feature_resolutions: tuple[int, ...] = (24, 64),
        feature_dim: int = 8,
        hidden_dim: int = 64,
        view_dependent: bool = True,
        density_bias: float = -4.0,
        occupancy_resolution: int = 64,
    ) -> None:
        super().__init__()
        self.density_grids = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, 1, r, r, r)) for r in density_resolutions]
        )
        self.feature_grids = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, feature_dim, r, r, r)) for r in feature_resolutions]
        )
        with torch.no_grad():  # small random colour features so the MLP sees something to separate
            for g in self.feature_grids:
                g.normal_(0.0, 0.1 / math.sqrt(len(feature_resolutions)))
        self.view_dependent = view_dependent
        in_dim = feature_dim + (9 if view_dependent else 0)
        self.color_mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, 3)
        )
        self.density_bias = density_bias
        # True where some density may be; starts all True and is refreshed by `update_occupancy`.
        self.register_buffer(
            "occupancy",
            torch.ones(occupancy_resolution, occupancy_resolution, occupancy_resolution, dtype=torch.bool),
        )

    def grid_param_groups(self) -> list[nn.Parameter]:
        return [*self.density_grids, *self.feature_grids]

    def mlp_param_groups(self) -> list[nn.Parameter]:
        return list(self.color_mlp.parameters())

    @staticmethod
    def normalise(positions: Tensor) -> Tensor:
        """World positions to grid coordinates in [-1, 1]^3 (contracted, then halved)."""
        return contract(positions) / 2

    def density(self, xyz: Tensor) -> Tensor:
        """Volume density at normalised grid coordinates."""
        raw = sum(sample_grid(g, xyz) for g in self.density_grids)
        return F.softplus(raw + self.density_bias)

    def rgb(self, xyz: Tensor, directions: Tensor | None, ray_index: Tensor | None = None) -> Tensor:
        """Colour at normalised grid coordinates seen from `directions` (unit vectors, one per point, or one
        per ray with `ray_index` giving each point's ray)."""
        feats = sum(sample_grid(g, xyz) for g in self.feature_grids)
        if self.view_dependent:
            assert directions is not None
            sh = sh_components(directions)
            feats = torch.cat([feats, sh if ray_index is None else sh[ray_index]], dim=-1)
        return torch.sigmoid(self.color_mlp(feats))

    def occupied(self, xyz: Tensor) -> Tensor:
        """Occupancy bitmap lookup (nearest cell) at normalised grid coordinates."""
        r = self.occupancy.shape[0]
        idx = ((xyz + 1) * 0.5 * r).long().clamp_(0, r - 1)
        return self.occupancy[idx[:, 2], idx[:, 1], idx[:, 0]]

    @torch.no_grad()
    def update_occupancy(self, threshold: float) -> float:
        """Mark cells whose density (max over a 3x3x3 neighbourhood) exceeds `threshold`; returns the fraction kept."""
        r = self.occupancy.shape[0]
        lin = torch.linspace(-1 + 1 / r, 1 - 1 / r, r, device=self.occupancy.device)
        z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
        xyz = torch.stack([x, y, z], dim=-1).view(-1, 3)
        sigma = self.density(xyz).view(1, 1, r, r, r)
        sigma = F.max_pool3d(sigma, 3, stride=1, padding=1)[0, 0]
        self.occupancy.copy_(sigma > threshold)
        return float(self.occupancy.float().mean())

    def tv_loss(self, num_voxels: int = 4096) -> Tensor:
        """Total variation of every grid on a random subset of voxels (squared forward differences)."""
        total = 0.0
        for grids, weight in ((self.density_grids, 1.0), (self.feature_grids, 0.1)):
            for g in grids:
                c, r = g.shape[1], g.shape[2]
                idx = torch.randint(0, r - 1, (3, num_voxels), device=g.device)
                base = (idx[0] * r + idx[1]) * r + idx[2]
                offsets = torch.tensor([0, r * r, r, 1], device=g.device)
                v = g.view(c, -1)[:, (base[None, :] + offsets[:, None]).view(-1)].view(c, 4, -1)
                total = total + weight * ((v[:, 1:] - v[:, :1]) ** 2).mean()
        return total
