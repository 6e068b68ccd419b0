"""`inconddiff evaluate EDITED_CAPTURE`: refit a radiance field on edited views and score their 3D consistency."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="fit inconddiff-fit (nerfstudio) on an edited capture and score renders against the edits",
    )
    p.add_argument("edited", help="capture folder: images/, masks/ marking the edited holes, cameras")
    p.add_argument("--gt", dest="gt_images", default=None, help="folder of ground-truth images (same stems)")
    p.add_argument(
        "--holdout", type=int, default=2, help="views kept out of the fit and scored as novel views"
    )
    p.add_argument(
        "--out", default=None, help="new folder for the report (default: EDITED/../<name>_consistency)"
    )
    p.add_argument("--masks", dest="masks_dir", default=None, help="mask folder (default: EDITED/masks)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps of the fit (default: 1,300, more beyond 30 views)",
    )
    p.add_argument("--time-budget", type=float, default=None, help="stop the fit after this many seconds")
    p.add_argument(
        "--working-size",
        type=int,
        default=None,
        help="fit, render and score views shrunk to this longer side in pixels (default: 320; 0: full size)",
    )
    p.add_argument(
        "--max-views",
        type=int,
        default=None,
        help="render and score at most this many views, spread over the capture; every view is fitted "
        "(default: 32; 0: all)",
    )
    p.add_argument(
        "--no-lpips", action="store_true", help="skip LPIPS (PSNR and SSIM only, and no consistency score)"
    )
    p.add_argument(
        "--no-carve",
        action="store_true",
        help="let the field put density where the removed object stood (by default that volume is held empty, "
        "so a ghost of the object cannot explain the fills)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda ... for the fit (default: CUDA if available)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from nerf_integration.evaluate import SCORED_VIEWS, WORKING_SIZE, evaluate_capture

    edited = Path(args.edited)
    out = Path(args.out) if args.out else edited.parent / f"{edited.name}_consistency"
    evaluate_capture(
        edited,
        out,
        gt_images=args.gt_images,
        holdout=args.holdout,
        masks_dir=args.masks_dir,
        max_steps=args.steps,
        time_budget=args.time_budget,
        use_lpips=not args.no_lpips,
        overwrite=args.overwrite,
        carve=not args.no_carve,
        working_size=WORKING_SIZE if args.working_size is None else args.working_size or None,
        device=args.device,
        max_views=SCORED_VIEWS if args.max_views is None else args.max_views or None,
    )
    return 0
