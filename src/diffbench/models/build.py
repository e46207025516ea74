"""Build fresh models from a model spec: the UNet and the training noise scheduler."""

from __future__ import annotations

from diffusers import DDPMScheduler, UNet2DModel

from diffbench.models.autoencoders import norm_groups
from diffbench.specs import DatasetSpec, DiffusionSpec, ModelSpec, UNetSpec


def unet_input(model: ModelSpec, dataset: DatasetSpec) -> tuple[int, int]:
    """(channels, side) of what the UNet denoises: pixels, or latents of the autoencoder."""
    if model.latent:
        return model.autoencoder.latent_channels, dataset.resolution // model.autoencoder.downsampling_factor
    return dataset.channels, dataset.resolution


def build_unet(spec: UNetSpec, channels: int, side: int) -> UNet2DModel:
    widths = [spec.base_channels * m for m in spec.channel_mult]
    attention = spec.attention
    down = ["DownBlock2D"] * (len(widths) - 1) + ["AttnDownBlock2D" if attention else "DownBlock2D"]
    up = ["AttnUpBlock2D" if attention else "UpBlock2D"] + ["UpBlock2D"] * (len(widths) - 1)
    return UNet2DModel(
        sample_size=side,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=widths,
        down_block_types=down,
        up_block_types=up,
        layers_per_block=spec.layers_per_block,
        dropout=spec.dropout,
        add_attention=attention,
        norm_num_groups=min(norm_groups(w) for w in widths),
        attention_head_dim=min(8, widths[-1]),
    )


def build_noise_scheduler(spec: DiffusionSpec, x0_range: float | None) -> DDPMScheduler:
    """The training schedule, saved as the model's scheduler config. `x0_range`: the largest |value|
    of the data the denoiser learns (1 for pixels in [-1, 1]; a latent model's scaled training
    latents), to which samplers clamp the predicted x0 under `x0_clamp: data_range`; None = unknown."""
    clamp = spec.x0_clamp == "data_range" and x0_range is not None
    return DDPMScheduler(
        num_train_timesteps=spec.num_train_timesteps,
        beta_schedule=spec.beta_schedule,
        beta_start=spec.beta_start,
        beta_end=spec.beta_end,
        prediction_type=spec.prediction_type,
        clip_sample=clamp,
        clip_sample_range=x0_range if clamp else 1.0,
    )
