"""The tiny denoiser configuration the model, pipeline and training tests share (fast on a CPU)."""

TINY = dict(
    block_out_channels=(8, 16),
    attention_levels=(1,),
    attention_head_dim=8,
    norm_num_groups=4,
    time_embed_dim=16,
)
