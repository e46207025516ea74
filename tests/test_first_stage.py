"""The LDM first-stage loss: L1 + perceptual (LPIPS) + KL/codebook + adaptive PatchGAN with a delayed start."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from diffbench.config import validate_config
from diffbench.errors import ConfigError
from diffbench.io import read_json
from diffbench.models.autoencoders import AUTOENCODERS
from diffbench.models.discriminator import PatchDiscriminator, hinge_loss, min_side
from diffbench.specs import DatasetSpec, ModelSpec, TrainingSpec
from diffbench.training.first_stage import FirstStageLoss, adaptive_weight
from diffbench.training.loop import fit
from helpers import typed_spec


def autoencoder_spec(kind="kl", resolution=8, **autoencoder):
    return latent_model(kind, resolution, **autoencoder)[0].autoencoder


def latent_model(kind="kl", resolution=8, **autoencoder) -> tuple[ModelSpec, DatasetSpec]:
    config = validate_config(
        {
            "datasets": {"d": {"resolution": resolution, "num_train": 32, "num_reference": 16}},
            "models": {
                "m": {
                    "dataset": "d",
                    "family": "latent",
                    "unet": {"channel_mult": [1]},
                    "autoencoder": {"type": kind, "downsampling_factor": 2, "base_channels": 8, "max_channels": 8,
                                    "latent_channels": 2, **autoencoder},
                }
            },
            "evaluation": {"interval_groups": 0},
        }
    )  # fmt: skip
    return ModelSpec.of(config["models"]["m"]), DatasetSpec.of(config["datasets"]["d"])


def make_loss(spec, perceptual=None, resolution=8):
    torch.manual_seed(0)
    kind = AUTOENCODERS[spec.type]
    autoencoder = kind.build(spec, 3, resolution)
    loss = FirstStageLoss(autoencoder, kind, spec, image_channels=3, learning_rate=1e-3,
                          device=torch.device("cpu"), precision="fp32", perceptual=perceptual)  # fmt: skip
    return autoencoder, loss


def batch(n=4, side=8):
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(1)) * 2 - 1


class MeanSquare(torch.nn.Module):
    """A stand-in perceptual distance with lpips.LPIPS's output shape, (N, 1, 1, 1)."""

    def forward(self, a, b):
        return (a - b).pow(2).mean((1, 2, 3), keepdim=True)


@pytest.mark.parametrize("kind", ["kl", "vq"])
def test_without_perceptual_and_discriminator_it_is_the_kinds_loss(kind):
    """Weight 0 and no discriminator: L1 reduced as the kind does plus its regulariser, nothing else."""
    spec = autoencoder_spec(kind, perceptual_weight=0)
    autoencoder, loss_fn = make_loss(spec)
    x = batch()
    torch.manual_seed(5)
    loss, parts = loss_fn(x, step=0)
    torch.manual_seed(5)
    reconstruction, regulariser, _ = AUTOENCODERS[kind].forward(autoencoder, x, spec)
    l1 = (x - reconstruction).abs()
    expected = (l1.sum((1, 2, 3)).mean() if kind == "kl" else l1.mean()) + regulariser
    assert torch.equal(loss, expected)
    assert set(parts) == {"reconstruction", "kl" if kind == "kl" else "codebook"}
    assert loss_fn.describe() == ("L1 + 1e-06 KL" if kind == "kl" else "L1 + codebook")


@pytest.mark.parametrize("kind", ["kl", "vq"])
def test_perceptual_term_is_added_per_pixel_with_its_weight(kind):
    """LPIPS is per image, broadcast over pixels before the reduction (as taming/LDM): a KL model's
    per-image sum gives it weight x C x H x W, a VQ model's mean gives it weight."""
    base = autoencoder_spec(kind, perceptual_weight=0)
    weighted = autoencoder_spec(kind, perceptual_weight=2.5, perceptual_min_side=16)
    x = batch()
    _, plain = make_loss(base)
    _, with_term = make_loss(weighted, perceptual=MeanSquare())
    torch.manual_seed(5)
    loss0, _ = plain(x, step=0)
    torch.manual_seed(5)
    loss1, parts = with_term(x, step=0)
    values = 3 * 8 * 8 if kind == "kl" else 1
    assert parts["perceptual"] > 0
    # float32 sums of 192 terms of size ~1: round-off is ~1e-5 relative, far below the term itself
    assert math.isclose((loss1 - loss0).item(), 2.5 * values * parts["perceptual"], rel_tol=1e-4)


def test_scale_equivariance_decodes_the_halved_latent_to_the_halved_image():
    """The term is the L1 between the image's 2x2 means and the decoding of the same posterior
    sample's 2x2 means, summed per image as the KL kind's reconstruction, and added with its weight;
    the loss names it, and configs where it cannot apply are refused."""
    x = batch()
    plain_spec = autoencoder_spec(perceptual_weight=0)
    autoencoder, plain = make_loss(plain_spec)
    _, with_term = make_loss(autoencoder_spec(perceptual_weight=0, scale_equivariance_weight=0.5))
    torch.manual_seed(5)
    loss0, parts0 = plain(x, step=0)
    torch.manual_seed(5)
    loss1, parts = with_term(x, step=0)
    torch.manual_seed(5)
    latents = autoencoder.encode(x).latent_dist.sample()  # the sample both losses decoded (same seed)
    halved = autoencoder.decode(torch.nn.functional.avg_pool2d(latents, 2)).sample
    assert halved.shape == (4, 3, 4, 4)
    term = (torch.nn.functional.avg_pool2d(x, 2) - halved).abs().sum((1, 2, 3)).mean()
    assert "scale_equivariance" not in parts0 and torch.equal(parts["scale_equivariance"], term.detach())
    # float32 sums of ~200 terms of size ~1: round-off ~1e-5 relative, far below the term
    assert math.isclose((loss1 - loss0).item(), 0.5 * term.item(), rel_tol=1e-4)
    assert with_term.describe() == "L1 + 1e-06 KL + 0.5 scale equivariance (2x)"
    with pytest.raises(ConfigError, match="scale_equivariance_weight' applies to type: kl only"):
        autoencoder_spec("vq", scale_equivariance_weight=1.0)
    with pytest.raises(ConfigError, match="the 3x3 latents of 6 px images at f=2 cannot be halved exactly"):
        autoencoder_spec(resolution=6, scale_equivariance_weight=1.0)


def train_kl(steps=4, **autoencoder):
    """A small KL first stage trained by the loop for `steps` steps (FLOPs counted per phase)."""
    spec = autoencoder_spec(perceptual_weight=0, **autoencoder)
    autoencoder_model, loss_fn = make_loss(spec)
    table, summary = fit_first_stage(autoencoder_model, loss_fn, batch(16), steps)
    return loss_fn, table, summary


def test_scale_equivariance_from_its_start_step_is_a_fine_tuning_phase():
    """Before its start step the term is off (no record, the plain loss); from it on, it is in the
    loss and its extra decoding is counted as a phase of its own."""
    loss_fn, table, summary = train_kl(scale_equivariance_weight=0.5, scale_equivariance_start_step=2)
    assert table["scale_equivariance"].isna().tolist() == [True, True, False, False]
    assert loss_fn.describe() == "L1 + 1e-06 KL + 0.5 scale equivariance (2x) from step 2"
    plain_step = train_kl()[2]["train_gflops"] / 4
    equivariant_step = train_kl(scale_equivariance_weight=0.5)[2]["train_gflops"] / 4
    assert equivariant_step > plain_step > 0
    assert math.isclose(summary["train_gflops"], 2 * plain_step + 2 * equivariant_step, rel_tol=1e-12)
    x = batch()
    _, late = make_loss(autoencoder_spec(perceptual_weight=0, scale_equivariance_weight=0.5,
                                         scale_equivariance_start_step=2))  # fmt: skip
    _, from_start = make_loss(autoencoder_spec(perceptual_weight=0, scale_equivariance_weight=0.5))
    _, plain = make_loss(autoencoder_spec(perceptual_weight=0))
    for step, same_as in ((1, plain), (2, from_start)):  # same initial weights (seed 0), same posterior draw
        torch.manual_seed(5)
        expected = same_as(x, step)[0]
        torch.manual_seed(5)
        assert torch.equal(late(x, step)[0], expected), step
    with pytest.raises(ConfigError, match="scale_equivariance_start_step' is set but scale_equivariance_weight is 0"):
        autoencoder_spec(scale_equivariance_start_step=10)


def test_adaptive_weight_is_the_ratio_of_gradient_norms():
    layer = torch.nn.Parameter(torch.ones(3))
    a, b = torch.tensor([3.0, 0.0, 4.0]), torch.tensor([0.0, 1.0, 0.0])
    weight = adaptive_weight((layer * a).sum(), (layer * b).sum(), layer)
    assert weight.item() == pytest.approx(5.0 / (1.0 + 1e-4), rel=1e-6)
    assert not weight.requires_grad
    # a vanishing adversarial gradient is clamped, not infinite
    assert adaptive_weight((layer * a).sum(), (layer * 0).sum(), layer).item() == pytest.approx(1e4)


def test_patch_discriminator_sides_and_hinge():
    for layers in (1, 2, 3):
        side = min_side(layers)
        assert PatchDiscriminator(3, 8, layers)(torch.zeros(2, 3, side, side)).shape == (2, 1, 1, 1)
        with pytest.raises(RuntimeError):
            PatchDiscriminator(3, 8, layers)(torch.zeros(2, 3, side - 1, side - 1))
    # hinge: a perfect discriminator (real >= 1, fake <= -1) has zero loss
    assert hinge_loss(torch.full((2, 1, 2, 2), 1.5), torch.full((2, 1, 2, 2), -1.0)).item() == 0.0
    assert hinge_loss(torch.zeros(1), torch.zeros(1)).item() == 1.0


def test_discriminator_too_deep_for_the_images_is_a_config_error():
    with pytest.raises(ConfigError, match=r"discriminator.layers': 2 layers need images of at least 12 px.*has 8"):
        autoencoder_spec(discriminator={"start_step": 0, "layers": 2})
    autoencoder_spec(discriminator={"start_step": None, "layers": 3})  # unused: no check


def train_with_discriminator(start, steps=4, checkpoint=None):
    """A small VQ first stage trained by the loop, its discriminator starting at `start`, optionally
    checkpointed every 2 steps to `checkpoint`."""
    from diffbench.training.checkpoint import Checkpointing

    spec = autoencoder_spec("vq", perceptual_weight=0, discriminator={"start_step": start, "layers": 1, "channels": 4})
    autoencoder, loss_fn = make_loss(spec)
    data = batch(16)
    initial = copy.deepcopy(loss_fn.discriminator.state_dict()) if start is not None else None
    checkpointing = None
    if checkpoint is not None:
        checkpointing = Checkpointing(path=checkpoint, every=2, fingerprint="ae",
                                      modules={"autoencoder": autoencoder, "first_stage_loss": loss_fn})  # fmt: skip
    table, summary = fit_first_stage(autoencoder, loss_fn, data, steps, checkpointing)
    return loss_fn, initial, table, summary


def fit_first_stage(autoencoder, loss_fn, data, steps, checkpointing=None):
    """The loop over `data` in batches of 4 for `steps` steps, as train_autoencoder runs it."""
    return fit(
        parameters=list(autoencoder.parameters()),
        loss_fn=lambda indices, generator, step: loss_fn(data[indices], step),
        num_images=len(data),
        spec=typed_spec(TrainingSpec, learning_rate=1e-3, max_steps=steps, batch_size=4),
        device=torch.device("cpu"),
        precision="fp32",
        description="ae",
        update=loss_fn.update,
        phase=loss_fn.phase,
        checkpointing=checkpointing,
    )  # fmt: skip


def test_discriminator_starts_late_and_its_flops_are_counted():
    loss_fn, initial, table, summary = train_with_discriminator(start=2)
    assert table["generator"].isna().tolist() == [True, True, False, False]
    assert table["discriminator"].notna().tolist() == [False, False, True, True]
    assert (table["adaptive_weight"].dropna() >= 0).all()
    changed = any(not torch.equal(v, loss_fn.discriminator.state_dict()[k]) for k, v in initial.items())
    assert changed
    assert "0.5 adaptive PatchGAN from step 2" in loss_fn.describe()
    plain_step = train_with_discriminator(start=None)[3]["train_gflops"] / 4
    adversarial_step = train_with_discriminator(start=0)[3]["train_gflops"] / 4
    assert adversarial_step > plain_step > 0  # the discriminator's update and the generator term cost FLOPs
    # two plain steps, then two adversarial ones, each phase counted on its own first step
    assert math.isclose(summary["train_gflops"], 2 * plain_step + 2 * adversarial_step, rel_tol=1e-12)
    assert summary["gflops_per_step"] == summary["train_gflops"] / 4


def test_discriminator_state_resumes_exactly(tmp_path):
    """Killed after step 2 and resumed: the same autoencoder and discriminator as one run of 4 steps."""
    whole, _, table_whole, _ = train_with_discriminator(start=1)
    train_with_discriminator(start=1, steps=2, checkpoint=tmp_path / "ae.pt")  # "killed" after its step-2 checkpoint
    resumed, _, table, _ = train_with_discriminator(start=1, steps=4, checkpoint=tmp_path / "ae.pt")
    for key, value in whole.discriminator.state_dict().items():
        assert torch.equal(value, resumed.discriminator.state_dict()[key]), key
    for key, value in whole.autoencoder.state_dict().items():
        assert torch.equal(value, resumed.autoencoder.state_dict()[key]), key
    pd.testing.assert_frame_equal(table.drop(columns="elapsed_s"), table_whole.drop(columns="elapsed_s"))


def test_train_autoencoder_with_lpips_and_patchgan(tmp_path, torch_home, monkeypatch):
    """The stage with the real lpips network (random squeeze backbone of the tests' TORCH_HOME): the
    record names the loss, the loss table has its terms, and the perceptual term moves the weights."""
    from diffbench.data.synthetic import render_shapes
    from diffbench.io import write_npz
    from diffbench.stages.train import train_autoencoder

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    images = tmp_path / "train.npz"
    write_npz(images, images=np.stack([render_shapes(3, i, 8) for i in range(16)]))

    def train(out, **autoencoder):
        model, dataset = latent_model("kl", training={"max_steps": 3, "batch_size": 4}, **autoencoder)
        return train_autoencoder(
            name="m", model_spec=model, dataset_spec=dataset,
            train_images=images, device="cpu", precision="fp32", out_dir=out / "ae",
            out_record=out / "r.json", out_loss=out / "l.csv",
        )  # fmt: skip

    record = train(tmp_path / "a", perceptual_net="squeeze", discriminator={"start_step": 1, "layers": 1})
    assert record["first_stage_loss"] == "L1 + 1 LPIPS-squeeze + 1e-06 KL + 0.5 adaptive PatchGAN from step 1"
    assert read_json(tmp_path / "a" / "r.json")["first_stage_loss"] == record["first_stage_loss"]
    losses = pd.read_csv(tmp_path / "a" / "l.csv")
    assert losses["perceptual"].notna().all() and losses["generator"].notna().tolist() == [False, True, True]
    plain = train(tmp_path / "b", perceptual_weight=0)
    assert plain["first_stage_loss"] == "L1 + 1e-06 KL"
    assert record["final_loss"] != plain["final_loss"]


def test_missing_perceptual_backbone_names_the_key(tmp_path, monkeypatch):
    from diffbench.errors import MissingWeights
    from diffbench.metrics.lpips import load_lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeights, match=r"LPIPS backbone weights \(vgg, 'models.m.autoencoder.perceptual_net'\)"):
        load_lpips("vgg", torch.device("cpu"), "models.m.autoencoder.perceptual_net")
