"""`inconddiff reconstruct CAPTURE`: COLMAP poses and sparse points into CAPTURE/sparse/0 (or --out).

Optionally also a nerfstudio transforms.json (--nerfstudio) and, for captures with masks, the ranked
reference views per masked view as an hloc-style pairs file with scores (--pairs), the file `remove` reads.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    from colmap_tools.reconstruct import MATCHERS

    p = sub.add_parser("reconstruct", help="reconstruct a capture with COLMAP (pycolmap, CPU)")
    p.add_argument("capture", help="capture folder with images/")
    p.add_argument("--out", default=None, help="write OUT/sparse/0 instead of CAPTURE/sparse/0")
    p.add_argument(
        "--matcher",
        choices=("auto", *MATCHERS),
        default="auto",
        help="auto: exhaustive up to 60 images, else retrieval (similar images and name-order neighbours)",
    )
    p.add_argument(
        "--camera-model",
        default="SIMPLE_PINHOLE",
        help="COLMAP camera model; with lens distortion (e.g. SIMPLE_RADIAL, OPENCV) an undistorted PINHOLE "
        "copy of the capture is written to --undistorted-out",
    )
    p.add_argument(
        "--undistorted-out",
        default=None,
        help="new folder for the undistorted capture (default: CAPTURE_undistorted beside the capture)",
    )
    p.add_argument(
        "--no-retry",
        action="store_true",
        help="do not retry with the preset for hard captures when views stay unregistered",
    )
    p.add_argument(
        "--nerfstudio",
        action="store_true",
        help="also write transforms.json (+ masks_nerfstudio/ where masks exist) to OUT (or CAPTURE)",
    )
    p.add_argument(
        "--pairs",
        action="store_true",
        help="also rank the reference views of every masked view into OUT/pairs.txt",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from colmap_tools.reconstruct import reconstruct

    out = Path(args.out) if args.out else Path(args.capture)
    rec = reconstruct(
        args.capture, args.out, args.matcher, camera_model=args.camera_model, retry_hard=not args.no_retry
    )
    sparse = out / "sparse" / "0"
    from colmap_tools.undistort import needs_undistortion, undistort_capture

    if needs_undistortion(sparse):
        target = Path(args.undistorted_out or f"{Path(args.capture).resolve()}_undistorted")
        undistort_capture(args.capture, target, sparse_dir=sparse)
        print(f"undistorted PINHOLE capture (use it for the next steps): {target}")
    if args.nerfstudio:
        from colmap_tools.export import export_nerfstudio

        export_nerfstudio(args.capture, out, sparse_dir=sparse)
    if args.pairs:
        from colmap_tools.pairs import main as rank_main

        rank_main(args.capture, out / "pairs.txt", sparse_dir=sparse)
    print(f"{rec.num_reg_images()} views registered, {rec.num_points3D()} points: {sparse}")
    return 0
