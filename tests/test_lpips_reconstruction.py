"""LPIPS and reconstruction metrics, with backbone weights the tests create (random ImageNet
backbones in the torch hub cache layout; lpips' own linear heads ship inside the package)."""

import numpy as np
import pytest
import torch

from diffbench.data.synthetic import render_shapes
from diffbench.errors import MissingWeights
from diffbench.metrics.lpips import convergence, diversity, load_lpips, paired_distances, require_backbone
from diffbench.metrics.reconstruction import psnr_ssim
from diffbench.models.autoencoders import reconstruct
from helpers import tiny_vq

CPU = torch.device("cpu")


@pytest.fixture
def alex(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return load_lpips("alex", CPU)


def shapes(n, start=0, resolution=16):
    return np.stack([render_shapes(2, i, resolution) for i in range(start, start + n)])


def noisy(images, level, seed=0):
    noise = np.random.default_rng(seed).normal(0, 255 * level, images.shape)
    return np.clip(images + noise, 0, 255).astype(np.uint8)


def test_identity_is_zero_and_noise_is_monotone(alex):
    images = shapes(4)
    assert paired_distances(images, images, alex, CPU) == pytest.approx(np.zeros(4), abs=1e-6)
    means = [paired_distances(images, noisy(images, level), alex, CPU).mean() for level in (0.02, 0.1, 0.3)]
    assert 0 < means[0] < means[1] < means[2]


def test_diversity_and_convergence(alex):
    same = np.repeat(shapes(1), 6, axis=0)
    assert diversity(same, alex, CPU, max_pairs=20)["lpips_diversity_mean"] == pytest.approx(0, abs=1e-6)
    varied = diversity(shapes(6), alex, CPU, max_pairs=20)
    assert (
        varied["lpips_diversity_mean"] > 0.01 and varied["lpips_diversity_pairs"] == 20 and varied["lpips_side"] == 64
    )
    images = shapes(5)
    near = convergence(noisy(images, 0.02), images, alex, CPU)["lpips_convergence_mean"]
    far = convergence(noisy(images, 0.3), images, alex, CPU)["lpips_convergence_mean"]
    assert near < far


def test_other_backbones_are_selectable(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    squeeze = load_lpips("squeeze", CPU)
    assert paired_distances(shapes(2), shapes(2, start=9), squeeze, CPU).min() > 0
    with pytest.raises(MissingWeights, match=r"vgg16-397923af.pth.*fetch-assets"):
        require_backbone("vgg")


def test_psnr_ssim_hand_checked():
    images = shapes(3)
    identical = psnr_ssim(images, images)
    assert identical["ssim"] == pytest.approx(1.0) and identical["psnr_db"] > 100
    offset = (images.astype(int) // 2 * 2).astype(np.uint8)  # values differ from images by 0 or 1
    mse = ((offset.astype(float) - images) ** 2).reshape(3, -1).mean(1)
    expected = np.mean(10 * np.log10(255**2 / mse))
    assert psnr_ssim(images, offset)["psnr_db"] == pytest.approx(expected, rel=1e-6)
    assert psnr_ssim(images, noisy(images, 0.3))["ssim"] < psnr_ssim(images, noisy(images, 0.05))["ssim"] < 1


def test_reconstruct_through_an_autoencoder():
    torch.manual_seed(0)
    images = shapes(3, resolution=8)
    out = reconstruct(tiny_vq().eval(), images, CPU, batch_size=2)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert psnr_ssim(images, out)["ssim_window"] == 7
