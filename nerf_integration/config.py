"""`inconddiff-fit`: the nerfstudio method registered through the `nerfstudio.method_configs` entry point.

    ns-train inconddiff-fit --data CAPTURE [nerfstudio-data | colmap]   # ns-train inconddiff-fit --help

Defaults pick CUDA when it is available and the CPU otherwise, and log to tensorboard (no viewer), so the same
command runs headless on either.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from nerf_integration.model import InconddiffFitModelConfig

MAX_STEPS = 1300
"""Fit steps of `inconddiff-fit`: 30 views at 640x480 evaluate within 5 minutes on 2 cores, and fewer steps cost
quickly (on such a capture 1,000 fit the untouched pixels 1.5 dB worse than 1,500: docs/RESULTS.md)."""
STEPS_PER_VIEW = 45
"""Beyond about 30 training views, `fit_steps` gives each view as many rays as 30 views get from `MAX_STEPS` (on
temple_ring's 45 training views, 1,300 steps fit the untouched pixels 1.7 dB worse than on its first 30)."""
MAX_FIT_STEPS = 2100
"""The most steps `fit_steps` gives (about 7 minutes of fitting on 2 cores, reached at 47 training views)."""


def fit_steps(train_views: int) -> int:
    """Steps of `inconddiff evaluate`'s fit for a capture of `train_views` training views."""
    return int(min(max(MAX_STEPS, STEPS_PER_VIEW * train_views), MAX_FIT_STEPS))


@dataclass
class FusedAdamOptimizerConfig(AdamOptimizerConfig):
    """Adam in one fused pass over each parameter (CPU and CUDA): the grids hold millions of values, and the
    step's chain of elementwise operations over them would otherwise cost a fifth of each training step."""

    fused: bool = True


def fit_trainer_config(max_steps: int = MAX_STEPS, rays_per_batch: int = 4096) -> TrainerConfig:
    """The method's TrainerConfig; `max_steps` also sets the learning-rate decay horizon."""
    return TrainerConfig(
        method_name="inconddiff-fit",
        steps_per_eval_batch=max(max_steps, 500),
        steps_per_eval_image=max(max_steps, 500),
        steps_per_eval_all_images=10**9,
        steps_per_save=max_steps,
        save_only_latest_checkpoint=True,
        max_num_iterations=max_steps,
        mixed_precision=False,
        pipeline=VanillaPipelineConfig(
            datamanager=VanillaDataManagerConfig(
                dataparser=NerfstudioDataParserConfig(downscale_factor=1, load_3D_points=True),
                train_num_rays_per_batch=rays_per_batch,
                eval_num_rays_per_batch=rays_per_batch,
            ),
            model=InconddiffFitModelConfig(eval_num_rays_per_chunk=1 << 13),
        ),
        optimizers={
            "grids": {
                "optimizer": FusedAdamOptimizerConfig(lr=0.02, eps=1e-15),
                "scheduler": ExponentialDecaySchedulerConfig(lr_final=0.002, max_steps=max_steps),
            },
            "mlp": {
                "optimizer": FusedAdamOptimizerConfig(lr=2e-3, eps=1e-15),
                "scheduler": ExponentialDecaySchedulerConfig(lr_final=2e-4, max_steps=max_steps),
            },
            "appearance": {
                "optimizer": FusedAdamOptimizerConfig(lr=5e-3, eps=1e-15),
                "scheduler": ExponentialDecaySchedulerConfig(lr_final=5e-4, max_steps=max_steps),
            },
        },
        machine=MachineConfig(device_type="cuda" if torch.cuda.is_available() else "cpu"),
        viewer=ViewerConfig(num_rays_per_chunk=1 << 13),
        vis="tensorboard",
    )


inconddiff_fit = MethodSpecification(
    config=fit_trainer_config(),
    description="Factorised (vector-matrix) radiance field with empty-space skipping: fits a small capture in minutes on a CPU.",
)
