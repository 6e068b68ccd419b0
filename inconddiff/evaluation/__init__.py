"""Evaluation tooling: synthetic captures with ground truth, image metrics (real LPIPS weights), cross-view
consistency and scores against the truth."""
