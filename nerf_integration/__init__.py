"""nerfstudio side of inconddiff: a fast CPU radiance-field method and the 3D-consistency evaluation."""
