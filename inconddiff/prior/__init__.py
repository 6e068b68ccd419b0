"""The geometric prior on plain arrays (numpy, OpenCV, SciPy; no torch): the hidden background's depth,
reference warps and their tests, homographies, fusion of warps, colour harmonisation and Telea."""
