"""Do the chosen reference views see what the object hides? Ground truth from synthetic captures.

For each masked target view, the hidden background is every mask pixel lifted to 3D with the target's
object-free depth (gt/depth_clean). A reference sees such a point when it projects inside the reference's
image and the reference's depth *with* the object (gt/depth) agrees with the point's depth within 1%
(so the object, or anything else, in front of it counts as occlusion).

Per target and ranker, the top K references are scored by
- mean: the mean over the K references of the fraction of hidden background each sees;
- union: the fraction seen by at least one of the K (what a multi-reference fill can use).
Rankers: colmap_tools.references (ours; ours_cov = its coverage alone, no angle/distance falloff;
ours_plain = without the greedy diversity ordering), inconddiff.removal.rank_references (the driver's depth-warp
coverage ranking), K covisible views at random (>= 10 shared sparse points; mean of 20 draws), and the
oracle (the K views that individually see the most, by the ground truth itself; not the best union). Rankers run on gt/sparse/0 (a perfect SfM model) and, with
--colmap, on a COLMAP reconstruction of the capture (names link the two; the truth stays in gt's frame).

Run: .venv/bin/python benchmarks/reference_choice.py [--k 3] [--colmap]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENES = [
    ("synth_orbit_s0", dict(views=30, seed=0, path="orbit")),
    ("synth_orbit_s1", dict(views=30, seed=1, path="orbit")),
    ("synth_orbit_s4", dict(views=30, seed=4, path="orbit")),
    ("synth_forward_s0", dict(views=30, seed=0, path="forward")),
]


def synthetic(name: str, cfg: dict) -> Path:
    from inconddiff.evaluation.synthetic import SynthConfig, generate_capture

    out = ROOT / "data_cache" / "bench_synth" / name
    if not (out / "gt" / "cameras.npz").exists():
        generate_capture(out, SynthConfig(**cfg))
    return out


def gt_visibility(capture: Path, stride: int = 2) -> dict[str, dict[str, float]]:
    """vis[target][reference] = fraction of the target's hidden background the reference sees."""
    from inconddiff.cameras import Camera
    from inconddiff.capture import load_capture
    from inconddiff.evaluation.synthetic import load_gt_cameras

    cap = load_capture(capture)
    g = load_gt_cameras(capture)
    stems = [Path(str(n)).stem for n in g["names"]]
    h, w = cap.sizes[stems[0]]
    cams = {s: Camera(g["K"], g["R"][i], g["t"][i], w, h) for i, s in enumerate(stems)}
    depth = {s: np.load(capture / "gt" / "depth" / f"{s}.npy") for s in stems}
    vis: dict[str, dict[str, float]] = {}
    for t in stems:
        m = cap.mask(t)
        if m is None or not m.any():
            continue
        ys, xs = np.nonzero(m)
        ys, xs = ys[::stride], xs[::stride]
        dc = np.load(capture / "gt" / "depth_clean" / f"{t}.npy")[ys, xs]
        ok = np.isfinite(dc) & (dc > 0)
        X = cams[t].unproject(np.stack([xs[ok] + 0.5, ys[ok] + 0.5], 1), dc[ok])
        vis[t] = {}
        for r in stems:
            if r == t:
                continue
            uv, z = cams[r].project(X)
            xi, yi = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
            inside = (z > 0) & (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
            seen = np.zeros(len(X), bool)
            dr = depth[r][yi[inside], xi[inside]]
            seen[inside] = np.abs(dr - z[inside]) < 0.01 * z[inside]
            vis[t][r] = float(seen.mean()) if len(X) else 0.0
    return vis


def gt_seen_sets(capture: Path, stride: int = 2):
    """Like gt_visibility but keeps the per-point boolean arrays (for the union measure)."""
    from inconddiff.cameras import Camera
    from inconddiff.capture import load_capture
    from inconddiff.evaluation.synthetic import load_gt_cameras

    cap = load_capture(capture)
    g = load_gt_cameras(capture)
    stems = [Path(str(n)).stem for n in g["names"]]
    h, w = cap.sizes[stems[0]]
    cams = {s: Camera(g["K"], g["R"][i], g["t"][i], w, h) for i, s in enumerate(stems)}
    depth = {s: np.load(capture / "gt" / "depth" / f"{s}.npy") for s in stems}
    out: dict[str, dict[str, np.ndarray]] = {}
    for t in stems:
        m = cap.mask(t)
        if m is None or m.sum() < 20:
            continue
        ys, xs = np.nonzero(m)
        ys, xs = ys[::stride], xs[::stride]
        dc = np.load(capture / "gt" / "depth_clean" / f"{t}.npy")[ys, xs]
        ok = np.isfinite(dc) & (dc > 0)
        X = cams[t].unproject(np.stack([xs[ok] + 0.5, ys[ok] + 0.5], 1), dc[ok])
        out[t] = {}
        for r in stems:
            if r == t:
                continue
            uv, z = cams[r].project(X)
            xi, yi = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
            inside = (z > 0) & (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
            seen = np.zeros(len(X), bool)
            dr = depth[r][yi[inside], xi[inside]]
            seen[inside] = np.abs(dr - z[inside]) < 0.01 * z[inside]
            out[t][r] = seen
    return out


def score(seen: dict[str, np.ndarray], chosen: list[str]) -> tuple[float, float]:
    chosen = [c for c in chosen if c in seen]
    if not chosen:
        return 0.0, 0.0
    mean = float(np.mean([seen[c].mean() for c in chosen]))
    union = float(np.any([seen[c] for c in chosen], axis=0).mean())
    return mean, union


def rankers(geometry, masks, k: int):
    from colmap_tools.pairs import rank_references as driver_rank
    from colmap_tools.references import RankingOptions, rank_all
    from inconddiff.cameras import background_points

    ours = {t: [r.name for r in refs] for t, refs in rank_all(geometry, masks, k).items()}
    flat = RankingOptions(angle_falloff_deg=1e9, distance_falloff=1e9)
    ours_cov = {t: [r.name for r in refs] for t, refs in rank_all(geometry, masks, k, flat).items()}
    plain = RankingOptions(diversity=0.0)
    ours_plain = {t: [r.name for r in refs] for t, refs in rank_all(geometry, masks, k, plain).items()}
    keep = background_points(geometry, masks)
    driver = {}
    for t in masks:
        if t in geometry.cameras and masks[t].any():
            driver[t] = [n for n, _ in driver_rank(t, masks[t], geometry, keep, masks)[:k]]
    return {"ours": ours, "ours_cov": ours_cov, "ours_plain": ours_plain, "driver": driver}


def covisible(geometry, target: str, min_shared: int = 10) -> list[str]:
    counts: dict[str, int] = {}
    for tr in geometry.tracks:
        names = {n for n, _, _ in tr}
        if target in names:
            for n in names - {target}:
                counts[n] = counts.get(n, 0) + 1
    return [n for n, c in counts.items() if c >= min_shared]


def evaluate(capture: Path, geometry, k: int, rng: np.random.Generator) -> dict:
    from inconddiff.capture import load_capture

    cap = load_capture(capture)
    masks = {s: cap.mask(s) for s in cap.masks}
    truth = gt_seen_sets(capture)
    ranked = rankers(geometry, masks, k)
    rows: dict[str, list[tuple[float, float]]] = {
        n: [] for n in ("ours", "ours_cov", "ours_plain", "driver", "random", "oracle")
    }
    for t, seen in truth.items():
        if t not in geometry.cameras:
            continue
        for name in ("ours", "ours_cov", "ours_plain", "driver"):
            rows[name].append(score(seen, ranked[name].get(t, [])))
        pool = [c for c in covisible(geometry, t) if c in seen]
        draws = [score(seen, list(rng.choice(pool, min(k, len(pool)), replace=False))) for _ in range(20)]
        rows["random"].append(tuple(np.mean(draws, axis=0)) if pool else (0.0, 0.0))
        best_single = sorted(seen, key=lambda r: -seen[r].mean())[:k]
        rows["oracle"].append(score(seen, best_single))
    return {
        n: {
            "mean": float(np.mean([a for a, _ in v])),
            "union": float(np.mean([b for _, b in v])),
            "targets": len(v),
        }
        for n, v in rows.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--colmap", action="store_true", help="also rank on a COLMAP reconstruction")
    p.add_argument("--scenes", nargs="*", default=[s for s, _ in SCENES])
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from colmap_tools.sparse_model import load_scene_geometry

    rng = np.random.default_rng(0)
    results = []
    for name, cfg in SCENES:
        if name not in args.scenes:
            continue
        t0 = time.time()
        cap = synthetic(name, cfg)
        models = {"gt_sparse": cap / "gt" / "sparse" / "0"}
        if args.colmap:
            from colmap_tools.reconstruct import reconstruct

            rec_dir = ROOT / "data_cache" / "bench_recon" / name  # shared with reconstruction_accuracy.py
            if not (rec_dir / "sparse" / "0").exists():
                reconstruct(cap, output_dir=rec_dir)
            models["colmap"] = rec_dir / "sparse" / "0"
        for model, sparse in models.items():
            res = evaluate(cap, load_scene_geometry(sparse), args.k, rng)
            for ranker, v in res.items():
                results.append({"scene": name, "model": model, "ranker": ranker, **v})
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)

    print(f"\nTop-{args.k} references: fraction of the hidden background seen (ground-truth depth)")
    print(f"{'scene':<18} {'model':<10} {'ranker':<8} {'mean':>6} {'union':>6} {'targets':>7}")
    for r in results:
        print(
            f"{r['scene']:<18} {r['model']:<10} {r['ranker']:<8} {r['mean']:6.3f} {r['union']:6.3f} {r['targets']:7d}"
        )
    summary = {}
    for model in sorted({r["model"] for r in results}):
        for ranker in ("ours", "ours_cov", "ours_plain", "driver", "random", "oracle"):
            sel = [r for r in results if r["model"] == model and r["ranker"] == ranker]
            if sel:
                summary[f"{model}/{ranker}"] = {
                    "mean": float(np.mean([r["mean"] for r in sel])),
                    "union": float(np.mean([r["union"] for r in sel])),
                }
    print("\naverage over scenes")
    for key, v in summary.items():
        print(f"{key:<20} mean {v['mean']:.3f}  union {v['union']:.3f}")
    out = ROOT / "benchmarks" / "results" / "reference_choice.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"k": args.k, "rows": results, "summary": summary}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
