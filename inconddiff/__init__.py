"""inconddiff: 3D-consistent object removal for multi-view captures (InConDiff, arXiv 2412.05881)."""

__version__ = "0.1.0"
