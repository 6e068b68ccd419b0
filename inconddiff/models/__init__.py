"""Denoisers of inconddiff (diffusers ModelMixin / ConfigMixin)."""

from inconddiff.models.refnet import CONDITION_CHANNELS, InConDiffDenoiser

__all__ = ["CONDITION_CHANNELS", "InConDiffDenoiser"]
