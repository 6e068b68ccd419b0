"""Training of the reference-conditioned denoiser: hole shapes, samples from captures, the train script."""
