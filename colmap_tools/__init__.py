"""COLMAP side of inconddiff: reconstruction, reference-view choice, mask propagation, export."""
