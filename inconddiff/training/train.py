"""Train the reference-conditioned denoiser on prepared shards (see `inconddiff.training.samples`).

Flat script in the manner of diffusers' examples: `parse_args()` + `main()`, accelerate for devices, mixed
precision and multi-GPU (`accelerate launch -m inconddiff.training.train ...`), EMA weights, checkpoints every
few minutes with resume from the latest, a loss curve and sample grids in the output folder, and the result
saved as an `InConDiffPipeline` with `save_pretrained`.

The noisy input x_t is built from the geometric prior in half of the samples and from the truth in the
other half: sampling starts from the noised prior (SDEdit), so the model must learn to turn a noised warp
into the truth, and later steps see its own, better, estimates.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from inconddiff.training.shards import ShardData

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="folder of training shards (*.npz)")
    p.add_argument(
        "--val_data", type=Path, default=None, help="shards held out for validation (default: none)"
    )
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument(
        "--init_from", type=Path, default=None, help="start from this pipeline's weights (fine-tuning)"
    )
    p.add_argument("--block_out_channels", type=int, nargs="+", default=[32, 64, 128, 128])
    p.add_argument("--attention_levels", type=int, nargs="+", default=[2, 3])
    p.add_argument("--train_batch_size", type=int, default=8)
    p.add_argument("--learning_rate", type=float, default=2e-4)
    p.add_argument("--max_train_steps", type=int, default=200_000)
    p.add_argument(
        "--max_minutes", type=float, default=None, help="stop (after a checkpoint) after this long"
    )
    p.add_argument("--checkpoint_minutes", type=float, default=10.0)
    p.add_argument("--checkpoints_total_limit", type=int, default=2)
    p.add_argument("--resume_from_checkpoint", default="latest", help="'latest', a path, or 'none'")
    p.add_argument("--ema_decay", type=float, default=0.999)
    p.add_argument("--prior_start_fraction", type=float, default=0.8)
    p.add_argument("--max_timestep_fraction", type=float, default=0.3, help="most samples use t below this")
    p.add_argument("--outside_weight", type=float, default=0.05, help="loss weight outside the hole")
    p.add_argument(
        "--copied_weight",
        type=float,
        default=0.3,
        help="loss weight of hole pixels the prior copied from a view",
    )
    p.add_argument(
        "--lpips_weight",
        type=float,
        default=0.1,
        help="weight of LPIPS (AlexNet, real weights) between the composited prediction and the truth",
    )
    p.add_argument("--sample_every", type=int, default=500, help="steps between sample grids (0: none)")
    p.add_argument("--log_every", type=int, default=20)
    p.add_argument("--num_threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mixed_precision", default="no", choices=["no", "fp16", "bf16"])
    return p.parse_args(argv)


def loss_fn(model, scheduler, batch, generator, args) -> torch.Tensor:
    """Hole-weighted MSE of the x0 prediction from x_t noised from the truth or from the prior."""
    truth, cond, hole = batch["truth"], batch["condition"], batch["hole"]
    b = truth.shape[0]
    device = truth.device
    t_max = scheduler.config.num_train_timesteps
    low = torch.rand(b, generator=generator) < 0.8
    frac = torch.rand(b, generator=generator) * torch.where(low, args.max_timestep_fraction, 1.0)
    t = (frac * (t_max - 1)).long().to(device)
    from_prior = (torch.rand(b, generator=generator) < args.prior_start_fraction).to(device)
    prior = cond[:, 4:7]
    start = torch.where(from_prior[:, None, None, None], truth * (1 - hole) + prior * hole, truth)
    noise = torch.randn(truth.shape, generator=generator).to(device)
    x_t = scheduler.add_noise(start, noise, t)
    pred = model(x_t, t, cond, batch["references"])
    # the driver keeps copied pixels as copied: the loss weighs what the prior had to invent
    copied = cond[:, 7:8]
    weight = hole * (1 - (1 - args.copied_weight) * copied) + args.outside_weight * (1 - hole)
    if "ignore" in batch:
        weight = weight * (1 - batch["ignore"])
    loss = ((pred - truth) ** 2 * weight).sum() / (weight.sum() * 3).clamp_min(1e-8)
    if getattr(args, "lpips_weight", 0.0) > 0:
        # perceptual term on the composite (known pixels as given): MSE alone drifts towards blur,
        # which costs box LPIPS, the measure the warp fills are strongest on
        keep = 1 - hole if "ignore" not in batch else (1 - hole) * (1 - batch["ignore"])
        composite = pred * (1 - keep) + truth * keep
        loss = loss + args.lpips_weight * _lpips(device)(composite.clamp(-1, 1), truth).mean()
    return loss


def _lpips(device: torch.device):
    from inconddiff.evaluation.metrics import _lpips_net

    return _lpips_net("alex", str(device))


def save_loss_curve(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([r["step"] for r in rows])
    loss = np.array([r["loss"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, loss, alpha=0.3, label="loss")
    if len(loss) > 10:
        k = max(5, len(loss) // 30)
        ax.plot(steps[k - 1 :], np.convolve(loss, np.ones(k) / k, mode="valid"), label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (hole-weighted x0 MSE + LPIPS term)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.no_grad()
def sample_grid(model, scheduler_config, data: ShardData, path: Path, n: int = 6, n_scored: int = 64) -> dict:
    """Truth | hole | prior | model (one step from the prior at strength 0.2) for the first n samples, and
    masked PSNR of prior and model over the first n_scored (more than are shown: a figure to choose a
    checkpoint by on validation data)."""
    import imageio.v3 as iio

    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

    pipe = InConDiffPipeline(model, InConDiffPipeline.default_scheduler().from_config(scheduler_config))
    pipe.set_progress_bar_config(disable=True)
    idx = np.arange(min(max(n, n_scored), len(data)))
    rows, ps_prior, ps_model = [], [], []
    for i in idx:
        a = {k: data.arrays[k][i] for k in ShardData.KEYS}
        k = int(a["num_refs"])
        truth = a["truth"] / 255.0
        out = pipe(
            truth,
            a["hole"],
            reference_images=[a["refs"][j] for j in range(k)],
            reference_masks=[a["ref_invalid"][j] for j in range(k)],
            warped_references=[a["prior"] / 255.0],
            warped_masks=[np.ones_like(a["hole"])],
            num_inference_steps=1,
            strength=0.2,
            generator=torch.Generator().manual_seed(0),
        ).images[0]
        m = a["hole"]
        ps_prior.append(10 * np.log10(1 / max(((a["prior"] / 255.0 - truth) ** 2)[m].mean(), 1e-10)))
        ps_model.append(10 * np.log10(1 / max(((out - truth) ** 2)[m].mean(), 1e-10)))
        if i >= n:
            continue
        hole = np.repeat(m[..., None], 3, 2).astype(np.float64)
        rows.append(np.concatenate([truth, hole, a["prior"] / 255.0, out], 1))
    grid = np.concatenate(rows, 0)
    iio.imwrite(path, np.round(np.kron(grid, np.ones((2, 2, 1))) * 255).astype(np.uint8))
    return {"prior_masked_psnr": float(np.mean(ps_prior)), "model_masked_psnr": float(np.mean(ps_model))}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers.training_utils import EMAModel

    from inconddiff.models import InConDiffDenoiser
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    # cpu=True where there is no GPU: accelerate then also forms a group of CPU processes under `accelerate launch`
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=args.mixed_precision,
        project_dir=str(args.output_dir),
    )
    set_seed(args.seed)
    main_process, rank = accelerator.is_main_process, accelerator.process_index
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    if main_process:
        (out / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=2))

    data = ShardData(args.data)
    val = ShardData(args.val_data) if args.val_data else None
    while len(data) == 0:
        logger.info("waiting for shards in %s", args.data)
        time.sleep(30)
        data.refresh()

    if args.init_from is not None:
        model = InConDiffDenoiser.from_pretrained(args.init_from, subfolder="unet")
        logger.info("initialised from %s", args.init_from)
    else:
        model = InConDiffDenoiser(
            block_out_channels=tuple(args.block_out_channels),
            attention_levels=tuple(args.attention_levels),
            sample_size=int(data.arrays["truth"].shape[1]),
        )
    ema = EMAModel(
        model.parameters(), decay=args.ema_decay, model_cls=InConDiffDenoiser, model_config=model.config
    )
    scheduler = InConDiffPipeline.default_scheduler()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=1e-4)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(ema)

    step = 0
    ckpts = out / "checkpoints"
    if args.resume_from_checkpoint != "none":
        path = None
        if args.resume_from_checkpoint == "latest":
            found = list_checkpoints(ckpts)
            path = found[-1] if found else None
        else:
            path = Path(args.resume_from_checkpoint)
        if path is not None:
            accelerator.load_state(str(path))
            step = int(path.name.split("-")[1])
            logger.info("resumed from %s (step %d)", path, step)

    log_path = out / "loss.csv"
    rows = []
    if log_path.exists():
        with open(log_path) as f:
            rows = [{"step": int(r["step"]), "loss": float(r["loss"])} for r in csv.DictReader(f)]
        rows = [r for r in rows if r["step"] <= step]
    # each process draws its own batches and noise (`accelerate launch` on several devices); the first draws
    # what a single process draws
    rng = np.random.default_rng([args.seed, step, rank] if rank else [args.seed, step])
    gen = torch.Generator().manual_seed(args.seed * 100003 + step + 1_000_003 * rank)
    t_start = last_ckpt = time.time()
    first_step = step
    running = []

    def agreed(flag: bool) -> bool:
        """The main process's `flag` on every process: decisions taken on the clock must not differ."""
        if accelerator.num_processes == 1:
            return flag
        from accelerate.utils import broadcast

        return bool(broadcast(torch.tensor([int(flag)], device=accelerator.device), from_process=0).item())

    def save_checkpoint() -> None:
        # written under a temporary name and renamed: a process killed while saving leaves no
        # half-written checkpoint for the next resume to choke on
        path = ckpts / f"checkpoint-{step}"
        tmp = ckpts / f"checkpoint-{step}.tmp"
        if main_process and tmp.exists():
            shutil.rmtree(tmp)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))  # every process its random state, the main one the weights
        accelerator.wait_for_everyone()
        if main_process:
            publish(path, tmp)
        accelerator.wait_for_everyone()

    def publish(path: Path, tmp: Path) -> None:
        """The saved checkpoint renamed into place, old ones pruned, the loss log, curve and pipeline."""
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
        for old in list_checkpoints(ckpts)[: -args.checkpoints_total_limit]:
            shutil.rmtree(old)
        tmp_log = log_path.with_name(".loss.csv.tmp")
        with open(tmp_log, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", "loss"])
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp_log, log_path)
        save_loss_curve(rows, out / "loss.png")
        export(accelerator.unwrap_model(model), ema, scheduler, out / "pipeline")
        logger.info("checkpoint %s", path)

    model.train()
    while step < args.max_train_steps:
        idx = rng.integers(0, len(data), args.train_batch_size)
        batch = {k: v.to(accelerator.device) for k, v in data.batch(idx, rng).items()}
        loss = loss_fn(model, scheduler, batch, gen, args)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        ema.step(accelerator.unwrap_model(model).parameters())
        step += 1
        running.append(loss.item())
        if step % args.log_every == 0:
            rows.append({"step": step, "loss": float(np.mean(running))})
            per_step = (time.time() - t_start) / (step - first_step)
            if main_process:
                logger.info("step %d loss %.5f (%.2f s/step)", step, np.mean(running), per_step)
            running = []
        if args.sample_every > 0 and step % args.sample_every == 0:
            if main_process:
                stats = sample_grid(
                    ema_model(ema, model, accelerator),
                    scheduler.config,
                    val or data,
                    out / f"samples_{step:07d}.png",
                )
                logger.info("step %d samples: %s", step, stats)
            data.refresh()
        done = agreed(args.max_minutes is not None and (time.time() - t_start) / 60 > args.max_minutes)
        due = agreed((time.time() - last_ckpt) / 60 > args.checkpoint_minutes)
        if due or done or step == args.max_train_steps:
            save_checkpoint()
            last_ckpt = time.time()
        if done:
            break


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints `checkpoint-<step>` in `folder`, oldest first (temporary folders ignored)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def ema_model(ema, model, accelerator):
    """A copy of the model with the EMA weights."""
    from inconddiff.models import InConDiffDenoiser

    copy = InConDiffDenoiser.from_config(accelerator.unwrap_model(model).config)
    ema.copy_to(copy.parameters())
    copy.eval()
    return copy


def export(model, ema, scheduler, path: Path) -> None:
    """Save the EMA weights as an InConDiffPipeline (safetensors), replacing `path` atomically."""
    from inconddiff.models import InConDiffDenoiser
    from inconddiff.pipelines.pipeline_inconddiff import InConDiffPipeline

    copy = InConDiffDenoiser.from_config(model.config)
    ema.copy_to(copy.parameters())
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    InConDiffPipeline(copy, scheduler).save_pretrained(tmp)
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)


if __name__ == "__main__":
    main()
