"""The `inconddiff-fit` nerfstudio model: a voxel-pyramid radiance field with occupancy-skipping sampling.

Per ray: stratified samples spaced linearly up to distance 1 and linearly in disparity beyond it (the contracted
cube holds everything); samples in cells the occupancy bitmap marks empty are skipped; densities are composited;
colour is evaluated only where a sample's compositing weight matters. Loss: photometric MSE (per-pixel weighted
by nerfstudio's mask when the pixel sampler is told to keep masked pixels) plus total variation on the grids.
It never builds torchmetrics' LPIPS (which downloads AlexNet); image metrics are PSNR and SSIM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.model_components.scene_colliders import NearFarCollider
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.utils import colormaps
from torch import Tensor, nn

from nerf_integration.field import VoxelField


@dataclass
class InconddiffFitModelConfig(ModelConfig):
    """Voxel-pyramid radiance field that fits a small capture in minutes on a CPU."""

    _target: type = field(default_factory=lambda: InconddiffFitModel)
    near_plane: float = 0.05
    """Nearest sample distance along a ray (scene units after nerfstudio's normalisation)."""
    far_plane: float = 1000.0
    """Farthest sample distance; the contraction maps it near the edge of the grid."""
    num_samples: int = 64
    """Samples per ray, half linear in distance up to 1, half linear in disparity beyond."""
    density_resolutions: tuple[int, ...] = (32, 96)
    """Side of each density grid, coarse to fine (summed)."""
    feature_resolutions: tuple[int, ...] = (24, 64)
    """Side of each colour-feature grid, coarse to fine (summed)."""
    feature_dim: int = 8
    """Colour features per voxel."""
    hidden_dim: int = 64
    """Width of the colour MLP."""
    view_dependent: bool = True
    """Give the colour MLP the view direction (spherical harmonics of degree 2)."""
    tv_weight: float = 1e-3
    """Weight of the total-variation regulariser on the grids."""
    occupancy_resolution: int = 64
    """Side of the occupancy bitmap used to skip empty space."""
    occupancy_threshold: float = 0.05
    """Density below which a cell (and its 26 neighbours) counts as empty."""
    occupancy_start: int = 30
    """First step at which empty space is skipped; the bitmap is refreshed every `occupancy_every` steps."""
    occupancy_every: int = 25
    """Steps between occupancy refreshes."""
    color_weight_threshold: float = 1e-4
    """Samples whose compositing weight is below this get no colour evaluation."""
    masked_pixel_weight: float = 0.0
    """Loss weight of pixels that nerfstudio's mask marks as ignored (mask 0). Only matters when the pixel
    sampler keeps masked pixels (`--pipeline.datamanager.pixel-sampler.ignore-mask True`); otherwise they are
    never sampled."""
    background: Literal["learned", "black", "white"] = "learned"
    """Colour behind everything: one learned RGB, or fixed black / white."""


def lin_disp_spacing(s: Tensor, near: Tensor, far: Tensor) -> Tensor:
    """Map s in [0, 1] to distances: linear up to 1, then linear in disparity (nerfacto's piecewise spacing)."""

    def g(t: Tensor) -> Tensor:
        return torch.where(t < 1, t / 2, 1 - 1 / (2 * t))

    def g_inv(u: Tensor) -> Tensor:
        return torch.where(u < 0.5, 2 * u, 1 / (2 - 2 * u).clamp_min(1e-6))

    return g_inv(s * g(far) + (1 - s) * g(near))


class InconddiffFitModel(Model):
    """See `InconddiffFitModelConfig`."""

    config: InconddiffFitModelConfig

    def populate_modules(self) -> None:
        super().populate_modules()
        c = self.config
        self.collider = NearFarCollider(near_plane=c.near_plane, far_plane=c.far_plane)
        self.field = VoxelField(
            density_resolutions=tuple(c.density_resolutions),
            feature_resolutions=tuple(c.feature_resolutions),
            feature_dim=c.feature_dim,
            hidden_dim=c.hidden_dim,
            view_dependent=c.view_dependent,
            occupancy_resolution=c.occupancy_resolution,
        )
        self.background_logit = nn.Parameter(torch.zeros(3), requires_grad=c.background == "learned")
        self.step = 0

    def get_param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "grids": self.field.grid_param_groups(),
            "mlp": self.field.mlp_param_groups() + [self.background_logit],
        }

    def get_training_callbacks(
        self, training_callback_attributes: TrainingCallbackAttributes
    ) -> list[TrainingCallback]:
        def set_step(step: int) -> None:
            self.step = step
            c = self.config
            if step >= c.occupancy_start and (step - c.occupancy_start) % c.occupancy_every == 0:
                self.field.update_occupancy(c.occupancy_threshold)

        return [
            TrainingCallback(
                where_to_run=[TrainingCallbackLocation.BEFORE_TRAIN_ITERATION],
                update_every_num_iters=1,
                func=set_step,
            )
        ]

    def background_rgb(self) -> Tensor:
        if self.config.background == "black":
            return torch.zeros(3, device=self.device)
        if self.config.background == "white":
            return torch.ones(3, device=self.device)
        return torch.sigmoid(self.background_logit)

    def get_outputs(self, ray_bundle: RayBundle) -> dict[str, Tensor]:
        c = self.config
        if ray_bundle.nears is None or ray_bundle.fars is None:
            ray_bundle = self.collider(ray_bundle)
        origins, dirs = ray_bundle.origins.view(-1, 3), ray_bundle.directions.view(-1, 3)
        n_rays, n_s = origins.shape[0], c.num_samples
        near, far = ray_bundle.nears.view(-1, 1), ray_bundle.fars.view(-1, 1)

        # 1. Sample distances (stratified while training).
        s = torch.linspace(0.0, 1.0, n_s + 1, device=origins.device).expand(n_rays, n_s + 1)
        if self.training:
            s = s + (torch.rand(n_rays, n_s + 1, device=s.device) - 0.5) / n_s
            s = s.clamp(0.0, 1.0).sort(dim=-1).values
        edges = lin_disp_spacing(s, near, far)
        t_mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
        deltas = edges[:, 1:] - edges[:, :-1]
        xyz = self.field.normalise(origins[:, None, :] + dirs[:, None, :] * t_mid[..., None]).view(-1, 3)

        # 2. Densities, skipping cells the occupancy bitmap marks empty.
        if self.training and self.step < c.occupancy_start:
            keep = None
            sigma = self.field.density(xyz).view(n_rays, n_s)
        else:
            keep = self.field.occupied(xyz).nonzero().squeeze(-1)
            sigma = xyz.new_zeros(n_rays * n_s)
            if keep.numel():
                sigma = sigma.index_put((keep,), self.field.density(xyz[keep]).squeeze(-1))
            sigma = sigma.view(n_rays, n_s)

        # 3. Compositing weights.
        alpha = 1 - torch.exp(-sigma * deltas)
        trans = torch.cumprod(torch.cat([alpha.new_ones(n_rays, 1), 1 - alpha + 1e-10], dim=-1), dim=-1)
        weights = alpha * trans[:, :-1]
        acc = weights.sum(-1, keepdim=True)

        # 4. Colour only where it contributes.
        sel = (weights.detach().view(-1) > c.color_weight_threshold).nonzero().squeeze(-1)
        rgb_s = xyz.new_zeros(n_rays * n_s, 3)
        if sel.numel():
            rgb_s = rgb_s.index_put((sel,), self.field.rgb(xyz[sel], dirs, sel // n_s))
        rgb = (weights[..., None] * rgb_s.view(n_rays, n_s, 3)).sum(1) + (1 - acc) * self.background_rgb()
        depth = (weights * t_mid).sum(-1, keepdim=True) / acc.clamp_min(1e-6)
        depth = torch.where(acc > 1e-3, depth, far)
        return {"rgb": rgb, "depth": depth, "accumulation": acc}

    def get_metrics_dict(self, outputs, batch) -> dict[str, Tensor]:
        image = batch["image"][..., :3].to(self.device)
        return {"psnr": -10 * torch.log10(F.mse_loss(outputs["rgb"].detach(), image).clamp_min(1e-10))}

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> dict[str, Tensor]:
        image = batch["image"][..., :3].to(self.device)
        err = ((outputs["rgb"] - image) ** 2).mean(-1, keepdim=True)
        if "mask" in batch:
            m = batch["mask"].to(self.device).float().view(-1, 1)
            w = m + (1 - m) * self.config.masked_pixel_weight
            rgb_loss = (err * w).sum() / w.sum().clamp_min(1.0)
        else:
            rgb_loss = err.mean()
        loss = {"rgb_loss": rgb_loss}
        if self.training and self.config.tv_weight > 0:
            loss["tv_loss"] = self.config.tv_weight * self.field.tv_loss()
        return loss

    def get_image_metrics_and_images(
        self, outputs: dict[str, Tensor], batch: dict[str, Tensor]
    ) -> tuple[dict[str, float], dict[str, Tensor]]:
        from torchmetrics.functional import structural_similarity_index_measure

        image = batch["image"][..., :3].to(outputs["rgb"].device)
        rgb = outputs["rgb"].clamp(0, 1)
        mse = F.mse_loss(rgb, image).clamp_min(1e-10)
        ssim = structural_similarity_index_measure(rgb.permute(2, 0, 1)[None], image.permute(2, 0, 1)[None])
        depth = colormaps.apply_depth_colormap(outputs["depth"], accumulation=outputs["accumulation"])
        metrics = {"psnr": float(-10 * torch.log10(mse)), "ssim": float(ssim)}
        images = {"img": torch.cat([image, rgb], dim=1), "depth": depth}
        return metrics, images
