"""The reference-conditioned denoiser: a small UNet whose target features attend to other views.

Inputs of `forward`:
- `sample` (B, 3, H, W): the noisy target x_t in [-1, 1];
- `timestep` (B,) or scalar;
- `condition` (B, 8, H, W): masked target (3, hole pixels zeroed), hole mask (1, 1 = fill), the geometric
  prior (3: references warped into the target and fused, Telea where no reference sees) and its validity (1);
- `references` (B, K, 4, H', W') (optional, K >= 0): other views' matching regions, RGB in [-1, 1] and an
  invalid mask (their own holes, outside the image). A shared encoder turns them into tokens that the target
  attends to at the configured levels, beside a learned null token, so K = 0 works.

The output is the clean-image prediction x0 = prior + correction, with the correction's last layer started at
zero: an untrained model returns the geometric prior, and training teaches it what the warp gets wrong.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

CONDITION_CHANNELS = 8
PRIOR_SLICE = slice(4, 7)


def downsample(channels: int) -> nn.Module:
    """Halve the resolution with a strided 3x3 convolution."""
    return nn.Conv2d(channels, channels, 3, stride=2, padding=1)


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour upsampling, then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ReferenceAttention(nn.Module):
    """Target tokens attend to reference tokens and a learned null token (residual, pre-norm)."""

    def __init__(self, channels: int, head_dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.null = nn.Parameter(torch.zeros(1, 1, channels))
        heads = max(1, channels // head_dim)
        self.attn = Attention(
            query_dim=channels, cross_attention_dim=channels, heads=heads, dim_head=head_dim
        )
        nn.init.zeros_(self.attn.to_out[0].weight)
        nn.init.zeros_(self.attn.to_out[0].bias)

    def forward(self, x: torch.Tensor, ref_tokens: torch.Tensor | None) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        null = self.null.expand(b, 1, c)
        kv = null if ref_tokens is None else torch.cat([ref_tokens, null], dim=1)
        out = self.attn(q, encoder_hidden_states=kv)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class ReferenceEncoder(nn.Module):
    """Shared by all references: (RGB + invalid) -> features at each level's resolution and width.

    Levels below `first_level` (the first attended one) only pass through cheap strided convolutions;
    residual blocks run from there on, where attention needs good features.
    """

    def __init__(self, block_out_channels: tuple[int, ...], groups: int, first_level: int):
        super().__init__()
        self.first_level = first_level
        self.conv_in = nn.Conv2d(4, block_out_channels[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        ch = block_out_channels[0]
        for i, out in enumerate(block_out_channels):
            if i < first_level:
                self.blocks.append(nn.Sequential(nn.Conv2d(ch, out, 3, padding=1), nn.SiLU()))
            else:
                self.blocks.append(
                    ResnetBlock2D(in_channels=ch, out_channels=out, temb_channels=None, groups=groups)
                )
            ch = out
            last = i == len(block_out_channels) - 1
            self.downs.append(nn.Identity() if last else downsample(ch))

    def forward(self, refs: torch.Tensor) -> list[torch.Tensor | None]:
        """Features per level (None below `first_level`)."""
        feats: list[torch.Tensor | None] = []
        h = self.conv_in(refs)
        for i, (block, down) in enumerate(zip(self.blocks, self.downs, strict=True)):
            h = block(h) if i < self.first_level else block(h, None)
            feats.append(h if i >= self.first_level else None)
            h = down(h)
        return feats


class InConDiffDenoiser(ModelMixin, ConfigMixin):
    """Small UNet with cross-view attention; predicts x0 as the geometric prior plus a learned correction."""

    @register_to_config
    def __init__(
        self,
        block_out_channels: tuple[int, ...] = (32, 64, 128, 128),
        layers_per_block: int = 1,
        attention_levels: tuple[int, ...] = (2, 3),
        attention_head_dim: int = 32,
        norm_num_groups: int = 8,
        time_embed_dim: int = 128,
        sample_size: int | None = None,
    ):
        """`sample_size`: the crop size the model was trained at (the pipeline runs it there by default);
        None: no preferred size, it runs at the size it is given."""
        super().__init__()
        chans = tuple(block_out_channels)
        g = norm_num_groups
        self.time_proj = Timesteps(chans[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(chans[0], time_embed_dim)
        self.conv_in = nn.Conv2d(3 + CONDITION_CHANNELS, chans[0], 3, padding=1)
        first = min(list(attention_levels) + [len(chans) - 1])
        self.ref_encoder = ReferenceEncoder(chans, g, first)

        self.down_blocks = nn.ModuleList()
        self.down_attn = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        skip_chans = [chans[0]]
        ch = chans[0]
        for i, out in enumerate(chans):
            blocks = nn.ModuleList()
            for _ in range(layers_per_block):
                blocks.append(
                    ResnetBlock2D(in_channels=ch, out_channels=out, temb_channels=time_embed_dim, groups=g)
                )
                ch = out
                skip_chans.append(ch)
            self.down_blocks.append(blocks)
            self.down_attn.append(
                ReferenceAttention(ch, attention_head_dim, g) if i in attention_levels else None
            )
            if i < len(chans) - 1:
                self.downsamplers.append(downsample(ch))
                skip_chans.append(ch)
            else:
                self.downsamplers.append(None)

        self.mid_block1 = ResnetBlock2D(
            in_channels=ch, out_channels=ch, temb_channels=time_embed_dim, groups=g
        )
        self.mid_attn = ReferenceAttention(ch, attention_head_dim, g)
        self.mid_block2 = ResnetBlock2D(
            in_channels=ch, out_channels=ch, temb_channels=time_embed_dim, groups=g
        )

        self.up_blocks = nn.ModuleList()
        self.up_attn = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for i, out in reversed(list(enumerate(chans))):
            blocks = nn.ModuleList()
            for _ in range(layers_per_block + 1):
                skip = skip_chans.pop()
                blocks.append(
                    ResnetBlock2D(
                        in_channels=ch + skip, out_channels=out, temb_channels=time_embed_dim, groups=g
                    )
                )
                ch = out
            self.up_blocks.append(blocks)
            self.up_attn.append(
                ReferenceAttention(ch, attention_head_dim, g) if i in attention_levels else None
            )
            self.upsamplers.append(Upsample(ch) if i > 0 else None)

        self.norm_out = nn.GroupNorm(g, ch)
        self.conv_out = nn.Conv2d(ch, 3, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def downscale(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (len(self.config.block_out_channels) - 1)

    def _reference_tokens(self, references: torch.Tensor | None) -> list[torch.Tensor | None]:
        levels = len(self.config.block_out_channels)
        if references is None or references.shape[1] == 0:
            return [None] * levels
        b, k = references.shape[:2]
        feats = self.ref_encoder(references.flatten(0, 1))
        tokens: list[torch.Tensor | None] = []
        for f in feats:
            if f is None:
                tokens.append(None)
                continue
            c, h, w = f.shape[1:]
            tokens.append(f.reshape(b, k, c, h * w).permute(0, 1, 3, 2).reshape(b, k * h * w, c))
        return tokens

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        condition: torch.Tensor,
        references: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x0 prediction (B, 3, H, W); see the module docstring for the inputs."""
        if condition.shape[1] != CONDITION_CHANNELS:
            raise ValueError(f"condition must have {CONDITION_CHANNELS} channels, got {condition.shape[1]}")
        if sample.shape[-2] % self.downscale or sample.shape[-1] % self.downscale:
            raise ValueError(f"input sides {tuple(sample.shape[-2:])} must be multiples of {self.downscale}")
        b = sample.shape[0]
        t = torch.as_tensor(timestep, device=sample.device)
        if t.ndim == 0:
            t = t[None]
        t = t.expand(b).to(sample.device)
        temb = self.time_embedding(self.time_proj(t).to(sample.dtype))
        tokens = self._reference_tokens(references)

        h = self.conv_in(torch.cat([sample, condition], dim=1))
        skips = [h]
        for i, (blocks, attn, down) in enumerate(
            zip(self.down_blocks, self.down_attn, self.downsamplers, strict=True)
        ):
            for block in blocks:
                h = block(h, temb)
                skips.append(h)
            if attn is not None:
                h = attn(h, tokens[i])
                skips[-1] = h
            if down is not None:
                h = down(h)
                skips.append(h)
        h = self.mid_block1(h, temb)
        h = self.mid_attn(h, tokens[-1])
        h = self.mid_block2(h, temb)
        levels = len(self.config.block_out_channels)
        for j, (blocks, attn, up) in enumerate(
            zip(self.up_blocks, self.up_attn, self.upsamplers, strict=True)
        ):
            i = levels - 1 - j
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), temb)
            if attn is not None:
                h = attn(h, tokens[i])
            if up is not None:
                h = up(h)
        correction = self.conv_out(F.silu(self.norm_out(h)))
        return condition[:, PRIOR_SLICE] + correction
