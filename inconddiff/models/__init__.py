"""Denoisers of inconddiff (diffusers ModelMixin / ConfigMixin)."""

from inconddiff.models.denoiser import CONDITION_CHANNELS, InConDiffDenoiser

__all__ = ["CONDITION_CHANNELS", "InConDiffDenoiser"]
