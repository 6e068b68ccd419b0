"""InConDiffPipeline: fill the hole of one target view, guided by other views of the same scene."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DiffusionPipeline
from diffusers.utils import BaseOutput

from inconddiff.models import InConDiffDenoiser
from inconddiff.prior.fusion import geometric_prior
from inconddiff.prior.homography import warp_references

ImageInput = np.ndarray | PIL.Image.Image | torch.Tensor


@dataclass
class InConDiffPipelineOutput(BaseOutput):
    """`images`: filled targets (numpy (B, H, W, 3) in [0, 1], PIL list or tensor (B, 3, H, W); a list of
    arrays or tensors when the targets differ in size); `priors`: the geometric priors, in the same format."""

    images: np.ndarray | list[PIL.Image.Image] | torch.Tensor
    priors: np.ndarray | list[PIL.Image.Image] | torch.Tensor


def to_numpy_image(image: ImageInput) -> np.ndarray:
    """HxWx3 float64 in [0, 1] from uint8/float numpy, PIL or a (3, H, W) tensor in [0, 1]."""
    if isinstance(image, PIL.Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float().permute(1, 2, 0).numpy()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    return image.astype(np.float64) / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)


def to_numpy_mask(mask: ImageInput) -> np.ndarray:
    """HxW bool (True = hole) from numpy, PIL or a tensor; values above half count as hole."""
    if isinstance(mask, PIL.Image.Image):
        mask = np.asarray(mask.convert("L"))
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0] if mask.shape[2] in (1, 3, 4) else mask[0]
    if mask.dtype == bool:
        return mask
    top = 255.0 if mask.dtype == np.uint8 else 1.0
    return mask.astype(np.float64) > 0.5 * top


def pad_to(a: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Pad an image or mask by reflection at the bottom (ph rows) and right (pw columns)."""
    return np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="reflect")


class InConDiffPipeline(DiffusionPipeline):
    """Reference-guided inpainting of one target view (see `__call__`)."""

    model_cpu_offload_seq = "unet"

    def __init__(self, unet: InConDiffDenoiser, scheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)

    @classmethod
    def default_scheduler(cls) -> DDIMScheduler:
        """DDIM over 1000 training steps predicting the clean sample (the model's output)."""
        return DDIMScheduler(
            num_train_timesteps=1000,
            beta_schedule="scaled_linear",
            prediction_type="sample",
            clip_sample=True,
            timestep_spacing="trailing",
        )

    def _condition(self, image, hole, prior, valid, device, dtype) -> torch.Tensor:
        masked = np.where(hole[..., None], 0.0, image * 2 - 1)
        chans = [
            masked,
            hole[..., None].astype(np.float64),
            prior * 2 - 1,
            valid[..., None].astype(np.float64),
        ]
        cond = np.concatenate(chans, axis=2).transpose(2, 0, 1)
        return torch.from_numpy(cond.copy()).to(device=device, dtype=dtype)

    def _references(self, images, masks, shape, device, dtype) -> torch.Tensor | None:
        if not images:
            return None
        refs = []
        for i, ref in enumerate(images):
            rgb = to_numpy_image(ref)
            inv = (
                np.zeros(rgb.shape[:2], dtype=bool)
                if masks is None or masks[i] is None
                else to_numpy_mask(masks[i])
            )
            if inv.shape != rgb.shape[:2]:
                raise ValueError(f"reference mask {i} has shape {inv.shape}, its image {rgb.shape[:2]}")
            t = torch.from_numpy(
                np.concatenate([rgb * 2 - 1, inv[..., None] * 1.0], 2).transpose(2, 0, 1).copy()
            )
            refs.append(F.interpolate(t[None].float(), size=shape, mode="bilinear", align_corners=False)[0])
        return torch.stack(refs).to(device=device, dtype=dtype)

    def _denoise(
        self, img, hole, prior, valid, refs, rmasks, num_inference_steps, strength, generator, device, dtype
    ) -> np.ndarray:
        """The model's fill of one target at the target's size (float [0, 1], hole pixels meaningful)."""
        k = self.unet.downscale
        h, w = hole.shape
        ph, pw = (-h) % k, (-w) % k
        padded = [pad_to(a, ph, pw) for a in (img, hole, prior, valid)]
        cond = self._condition(*padded, device, dtype)[None]
        ref = self._references(refs or [], rmasks, (h + ph, w + pw), device, dtype)
        ref = None if ref is None else ref[None]
        x0_prior = cond[:, 4:7]

        # 3. Timesteps: a schedule of N / strength steps, of which the last N are run
        total = max(num_inference_steps, int(round(num_inference_steps / strength)))
        self.scheduler.set_timesteps(total, device=device)
        timesteps = self.scheduler.timesteps[-num_inference_steps * self.scheduler.order :]

        # 4. Start from the prior, noised to the first timestep (SDEdit)
        noise = torch.randn(
            x0_prior.shape, generator=generator, device=generator.device if generator else "cpu"
        )
        x = self.scheduler.add_noise(x0_prior, noise.to(device=device, dtype=dtype), timesteps[:1])

        # 5. Denoising loop
        pred = x0_prior
        for t in self.progress_bar(timesteps):
            pred = self.unet(x, t, cond, ref)
            x = self.scheduler.step(pred, t, x, generator=generator).prev_sample
        out = (
            ((pred[0] + 1) / 2).clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()[:h, :w].astype(np.float64)
        )
        return out

    @staticmethod
    def _prior(img, hole, refs, rmasks, warps, wmasks) -> tuple[np.ndarray, np.ndarray]:
        """The geometric prior of one target from its warped references, or from its references warped by
        homographies when no warps are given."""
        if warps is None and refs:
            rmasks = rmasks or [None] * len(refs)
            warps, valids = warp_references(
                img,
                hole,
                [to_numpy_image(r) for r in refs],
                [None if m is None else to_numpy_mask(m) for m in rmasks],
            )
        else:
            warps = list(warps or [])
            valids = [to_numpy_mask(v) for v in (wmasks or [np.ones(img.shape[:2], bool)] * len(warps))]
        return geometric_prior(img, hole, [np.asarray(w, dtype=np.float64) for w in warps], valids)

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput | list[ImageInput],
        mask_image: ImageInput | list[ImageInput],
        reference_images: list[ImageInput] | list[list[ImageInput]] | None = None,
        reference_masks: list[ImageInput | None] | list[list[ImageInput | None]] | None = None,
        warped_references: list[np.ndarray] | list[list[np.ndarray]] | None = None,
        warped_masks: list[np.ndarray] | list[list[np.ndarray]] | None = None,
        prior_images: np.ndarray | list[np.ndarray] | None = None,
        prior_masks: np.ndarray | list[np.ndarray] | None = None,
        num_inference_steps: int = 1,
        strength: float = 0.2,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        model_resolution: int | None = None,
        neutral_correction: bool = True,
    ) -> InConDiffPipelineOutput | tuple:
        """Fill `mask_image`'s hole (True/255 = fill) in `image`.

        Args:
            image, mask_image: one target or a list (a batch) of targets of any size.
            reference_images, reference_masks: per target, K >= 0 other views of the scene (their regions
                matching the target, any size) and their invalid parts (own holes); they enter through attention.
            warped_references, warped_masks: per target, references already warped into the target (same size
                as the target, float in [0, 1]) and where the warp is valid; fused into the geometric prior.
                When None, the prior is computed here: `reference_images` warped onto the target by homographies
                fit to SIFT matches around the hole (`inconddiff.prior.homography.warp_references`), OpenCV Telea where
                none sees (an empty list: Telea only).
            prior_images, prior_masks: per target, a finished prior (float, the target's size, hole filled) and
                where it holds observed content; given, they replace the prior made from the warps.
            num_inference_steps: denoising steps of the scheduler between `strength` and 0.
            strength: how far into the noise schedule sampling starts from the prior (1 = pure noise);
                small values keep the prior's structure and let the model correct it.
            generator: torch generator for the noise (same seed, same output).
            output_type: "np", "pil" or "pt".
            model_resolution: when a target is larger, the denoiser runs with the target's long side scaled to
                this many pixels and its correction of the prior is upsampled and added to the full-resolution
                prior. None: the model's `sample_size` (the crop size it was trained at) when it has one;
                0: the denoiser always sees the full size.
            neutral_correction: remove the mean of the model's correction over the hole, so that it cannot
                shift the fill's overall colour (the prior's colour is matched to the hole's surroundings).
        Returns:
            `InConDiffPipelineOutput` (or a tuple (images, priors) with `return_dict=False`). Pixels outside the
            hole are returned exactly as given.
        """
        # 1. Check inputs and make a batch
        single = not isinstance(image, list)
        images = [image] if single else list(image)
        masks = [mask_image] if single else list(mask_image)
        if len(images) != len(masks):
            raise ValueError(f"{len(images)} images but {len(masks)} masks")

        def per_target(x):
            if x is None:
                return [None] * len(images)
            return [x] if single else list(x)

        refs_b, rmasks_b = per_target(reference_images), per_target(reference_masks)
        warps_b, wmasks_b = per_target(warped_references), per_target(warped_masks)
        priors_b, pmasks_b = per_target(prior_images), per_target(prior_masks)
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        if output_type not in ("np", "pil", "pt"):
            raise ValueError(f"output_type must be 'np', 'pil' or 'pt', got {output_type!r}")
        device, dtype = self._execution_device, self.unet.dtype
        if model_resolution is None:
            model_resolution = getattr(self.unet.config, "sample_size", None)

        # 2. Geometric priors, padding to the model's stride, conditions and references
        k = self.unet.downscale
        results, priors = [], []
        for b, (img_in, mask_in) in enumerate(zip(images, masks, strict=True)):
            img = to_numpy_image(img_in)
            hole = to_numpy_mask(mask_in)
            if hole.shape != img.shape[:2]:
                raise ValueError(f"mask {hole.shape} and image {img.shape[:2]} of target {b} differ in size")
            if priors_b[b] is not None:
                prior = np.asarray(priors_b[b], dtype=np.float64)
                valid = to_numpy_mask(pmasks_b[b]) if pmasks_b[b] is not None else np.zeros(hole.shape, bool)
                if prior.shape != img.shape or valid.shape != hole.shape:
                    raise ValueError(
                        f"prior {prior.shape} or its mask {valid.shape} of target {b} differ in size"
                    )
            else:
                prior, valid = self._prior(img, hole, refs_b[b], rmasks_b[b], warps_b[b], wmasks_b[b])
            priors.append(prior)
            if not hole.any():
                results.append(img)
                continue
            # the denoiser runs at its own resolution; its correction of the prior is brought back up to the
            # target's size and added to the full-resolution prior
            size = hole.shape
            scaled = bool(model_resolution) and max(size) > model_resolution
            inputs = (img, hole, prior, valid)
            if scaled:
                scale = model_resolution / max(size)
                small = (max(k, round(size[1] * scale)), max(k, round(size[0] * scale)))
                img_s, hole_s, prior_s, valid_s = (
                    cv2.resize(np.asarray(a, dtype=np.float32), small, interpolation=cv2.INTER_AREA)
                    for a in inputs
                )
                inputs = (img_s, hole_s > 0, prior_s, valid_s > 0.99)
            fill = self._denoise(
                *inputs, refs_b[b], rmasks_b[b], num_inference_steps, strength, generator, device, dtype
            )
            correction = fill - inputs[2]
            if neutral_correction:
                # the prior's colour is already matched to the known pixels around the hole: the model
                # corrects structure, not the hole's mean colour
                correction = correction - correction[inputs[1]].mean(axis=0)
            if scaled:
                correction = cv2.resize(correction, size[::-1], interpolation=cv2.INTER_LINEAR)
            fill = np.clip(prior + correction, 0.0, 1.0)

            # 6. Outside the hole, the input exactly
            results.append(np.where(hole[..., None], fill, img))

        # 7. Output
        def convert(batch: list[np.ndarray]):
            if output_type == "pil":
                return [PIL.Image.fromarray(np.round(a * 255).astype(np.uint8)) for a in batch]
            same = len({a.shape for a in batch}) == 1
            if output_type == "pt":
                tensors = [torch.from_numpy(a).permute(2, 0, 1) for a in batch]
                return torch.stack(tensors) if same else tensors
            return np.stack(batch) if same else batch

        if not return_dict:
            return convert(results), convert(priors)
        return InConDiffPipelineOutput(images=convert(results), priors=convert(priors))
