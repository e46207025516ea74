import dataclasses
import json

import pytest
import torch
from diffusers import AutoencoderKL, DDPMPipeline, DDPMScheduler, DiffusionPipeline, UNet2DModel, VQModel

from diffbench.config import validate_config
from diffbench.errors import ModelError
from diffbench.models.autoencoders import AUTOENCODERS, level_channels
from diffbench.models.build import build_noise_scheduler, build_unet, unet_input
from diffbench.models.diffusion_model import DiffusionModel
from diffbench.sampling.pipeline_io import LatentDiffusionPipeline, load_model, save_model
from diffbench.specs import AutoencoderSpec, DatasetSpec, DiffusionSpec, ModelSpec, UNetSpec
from diffbench.stages.train import import_pretrained
from helpers import import_spec, ldm_style_checkpoint, tiny_unet, typed_spec


def latent_spec(f, kind="kl", resolution=16):
    config = validate_config(
        {
            "datasets": {"d": {"resolution": resolution}},
            "models": {
                "m": {
                    "dataset": "d",
                    "family": "latent",
                    "unet": {"channel_mult": [1]},
                    "autoencoder": {"type": kind, "downsampling_factor": f, "base_channels": 8, "max_channels": 16},
                }
            },
        }
    )
    return ModelSpec.of(config["models"]["m"]), DatasetSpec.of(config["datasets"]["d"])


@pytest.mark.parametrize("f", [1, 2, 4, 8])
@pytest.mark.parametrize("kind", ["kl", "vq"])
def test_autoencoder_downsamples_by_f(f, kind):
    model_spec, dataset_spec = latent_spec(f, kind)
    ae = AUTOENCODERS[kind].build(model_spec.autoencoder, 3, 16)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    mean, std = AUTOENCODERS[kind].encode(ae, x)
    assert mean.shape == (2, 4, 16 // f, 16 // f)
    assert unet_input(model_spec, dataset_spec) == (4, 16 // f)
    assert ae.decode(mean).sample.shape == x.shape
    reconstruction, regulariser, parts = AUTOENCODERS[kind].forward(ae, x, model_spec.autoencoder)
    assert reconstruction.shape == x.shape
    assert regulariser.ndim == 0 and torch.isfinite(regulariser)
    assert set(parts) == {"kl" if kind == "kl" else "codebook"}


def test_level_channels_double_up_to_the_cap():
    spec = typed_spec(AutoencoderSpec, downsampling_factor=8, base_channels=8, max_channels=32)
    assert level_channels(spec) == [8, 16, 32, 32]


def test_unet_shapes_and_schedule():
    spec = typed_spec(UNetSpec, base_channels=8, channel_mult=[1, 2], layers_per_block=1, attention=True)
    unet = build_unet(spec, 3, 8)
    assert unet(torch.zeros(2, 3, 8, 8), torch.tensor([3, 4])).sample.shape == (2, 3, 8, 8)
    diffusion = typed_spec(
        DiffusionSpec, num_train_timesteps=100, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
        prediction_type="epsilon", x0_clamp="data_range",
    )  # fmt: skip
    pixel, latent = build_noise_scheduler(diffusion, 1.0).config, build_noise_scheduler(diffusion, 3.5).config
    assert (pixel.clip_sample, pixel.clip_sample_range) == (True, 1.0)
    assert (latent.clip_sample, latent.clip_sample_range) == (True, 3.5)
    assert build_noise_scheduler(dataclasses.replace(diffusion, x0_clamp="none"), 3.5).config.clip_sample is False
    assert build_noise_scheduler(diffusion, None).config.clip_sample is False  # range unknown: not clamped


def test_pixel_model_is_a_standard_ddpm_pipeline(tmp_path):
    save_model(DiffusionModel(tiny_unet(), DDPMScheduler(num_train_timesteps=10)), tmp_path / "m")
    pipeline = DiffusionPipeline.from_pretrained(tmp_path / "m")  # plain diffusers, no diffbench code
    assert isinstance(pipeline, DDPMPipeline)
    loaded = load_model(tmp_path / "m")
    assert loaded.family == "pixel"
    for a, b in zip(loaded.unet.parameters(), pipeline.unet.parameters(), strict=True):
        assert torch.equal(a, b)


def test_latent_model_components_load_with_from_pretrained(tmp_path):
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 8),
        latent_channels=2,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4,
        sample_size=8,
    )
    vae.register_to_config(scaling_factor=0.5)
    save_model(DiffusionModel(tiny_unet(2, 4), DDPMScheduler(num_train_timesteps=10), vae), tmp_path / "m")
    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["vae"] == ["diffusers", "AutoencoderKL"] and index.get("vqvae") in (None, [None, None])
    assert AutoencoderKL.from_pretrained(tmp_path / "m", subfolder="vae").config.scaling_factor == 0.5
    assert UNet2DModel.from_pretrained(tmp_path / "m", subfolder="unet").config.in_channels == 2
    loaded = load_model(tmp_path / "m")
    assert loaded.family == "latent" and loaded.scaling_factor == 0.5
    assert isinstance(LatentDiffusionPipeline.from_pretrained(tmp_path / "m").vae, AutoencoderKL)


def test_import_ldm_style_checkpoint(tmp_path):
    ldm_style_checkpoint(tmp_path / "ldm")
    record = import_pretrained(
        **import_spec(tmp_path / "ldm", "latent", scale=1.0), out_dir=tmp_path / "out", out_record=tmp_path / "out.json"
    )
    assert record["scheduler"] == "DDIMScheduler" and record["scaling_factor"] == 1.0
    loaded = load_model(tmp_path / "out")
    assert isinstance(loaded.autoencoder, VQModel) and loaded.scaling_factor == 1.0


def test_a_latent_checkpoint_without_a_scaling_factor_needs_one_in_the_config(tmp_path):
    ldm_style_checkpoint(tmp_path / "ldm")
    message = (
        r"models.m: the autoencoder of .* has no scaling_factor in its config, and "
        r"'models.m.pretrained.latent_scaling_factor' is null; set it .* default of 0.18215"
    )
    with pytest.raises(ModelError, match=message):
        import_pretrained(**import_spec(tmp_path / "ldm", "latent"), out_dir=tmp_path / "o", out_record=tmp_path / "r")
    assert not (tmp_path / "o").exists()


def test_import_ddpm_style_checkpoint(tmp_path):
    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(tmp_path / "ddpm")
    record = import_pretrained(
        **import_spec(tmp_path / "ddpm", "pixel"), out_dir=tmp_path / "out", out_record=tmp_path / "out.json"
    )
    assert record["family"] == "pixel" and record["parameters"] > 0
    assert (tmp_path / "out" / "unet" / "config.json").is_file()


@pytest.mark.parametrize(
    "family, resolution, channels, message",
    [
        ("latent", 8, 3, "is a pixel model .* family: latent"),
        ("pixel", 8, 1, "makes 3-channel images but dataset 'd' has channels: 1"),
        ("pixel", 16, 3, "makes 8x8 images but dataset 'd' has resolution: 16"),
    ],
)
def test_import_mismatch_names_the_entry(tmp_path, family, resolution, channels, message):
    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(tmp_path / "ddpm")
    with pytest.raises(ModelError, match=message):
        import_pretrained(
            **import_spec(tmp_path / "ddpm", family, resolution, channels),
            out_dir=tmp_path / "out",
            out_record=tmp_path / "out.json",
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("missing", ["folder", "hub id"])
def test_import_missing_model_names_the_key(tmp_path, missing):
    pretrained_id = str(tmp_path / "nowhere") if missing == "folder" else "no-such-org/no-such-model"
    with pytest.raises(ModelError, match=r"models.m.pretrained.id"):
        import_pretrained(
            **import_spec(pretrained_id, "pixel"), out_dir=tmp_path / "out", out_record=tmp_path / "o.json"
        )
