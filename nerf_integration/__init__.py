"""nerfstudio side of inconddiff: a fast CPU radiance-field method and the 3D-consistency evaluation.

- `nerf_integration.config.inconddiff_fit`: the `inconddiff-fit` MethodSpecification (entry point
  `nerfstudio.method_configs`), so `ns-train inconddiff-fit --data CAPTURE` works.
- `nerf_integration.fit`: `prepare_fit_data(capture, work_dir, holdout=0, image_dir=None, heldout=None)`,
  `fit(data_dir, output_dir, max_steps=None, time_budget=None, ...) -> FitResult`.
- `nerf_integration.render`: `render_views(pipeline)`, `render_camera(pipeline, cameras, index)`.
- `nerf_integration.evaluate`: `evaluate_capture(edited, out, gt_images=None, holdout=2, ...) -> dict`
  (`inconddiff evaluate`), `region_scores(a, b, hole, lpips)`.
"""
