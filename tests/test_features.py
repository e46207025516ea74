"""Inception features: torch-fidelity's network, weights from the torch hub cache, no network.

The weights are conftest's calibrated random Inception in the exact file layout torch-fidelity loads.
"""

import numpy as np
import pytest
import torch
import torch_fidelity

from diffbench.data.synthetic import render_shapes
from diffbench.features.inception import (
    MissingWeights, default_weights_path, inception_features, load_inception, resolve_weights,
)
from diffbench.metrics.frechet import frechet_distance, gaussian_statistics

CPU = torch.device("cpu")


def shapes(n, start=0, resolution=32):
    return np.stack([render_shapes(1, i, resolution) for i in range(start, start + n)])


@pytest.fixture
def weights(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return resolve_weights(None)


def fid(a, b):
    sa, sb = gaussian_statistics(a), gaussian_statistics(b)
    return frechet_distance(sa["mu"], sa["sigma"], sb["mu"], sb["sigma"])["fd"]


def test_weights_are_found_in_the_torch_hub_cache(weights, torch_home):
    assert weights == default_weights_path() and str(weights).startswith(str(torch_home))


def test_missing_weights_name_the_file_the_key_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeights) as err:
        resolve_weights(None)
    message = str(err.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in message and str(tmp_path) in message
    assert "evaluation.inception_weights" in message and "fetch-assets" in message
    with pytest.raises(MissingWeights, match="set 'evaluation.inception_weights' to an existing file"):
        resolve_weights(str(tmp_path / "mine.pth"))


def test_features_are_non_degenerate_and_batch_independent(weights):
    model = load_inception(weights, CPU)
    images = shapes(6)
    features = inception_features(images, model, CPU, batch_size=6)
    assert features.shape == (6, 2048) and features.dtype == np.float64
    assert features.std(axis=0).mean() > 1e-3  # a random, uncalibrated net gives ~1e-8
    one_by_one = inception_features(images, model, CPU, batch_size=1)
    np.testing.assert_allclose(features, one_by_one, rtol=1e-4, atol=1e-5)
    gray = inception_features(images[..., :1], model, CPU)
    assert gray.shape == (6, 2048)


def test_fid_matches_torch_fidelity_on_the_same_weights(weights):
    real, fake = shapes(24, start=0), shapes(24, start=500)
    fake[:, ::2] = 255 - fake[:, ::2]  # a visibly different distribution
    model = load_inception(weights, CPU)
    ours = fid(inception_features(fake, model, CPU), inception_features(real, model, CPU))

    class Images(torch.utils.data.Dataset):
        def __init__(self, array):
            self.array = torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()

        def __len__(self):
            return len(self.array)

        def __getitem__(self, i):
            return self.array[i]

    theirs = torch_fidelity.calculate_metrics(
        input1=Images(fake), input2=Images(real), fid=True, cuda=False, cache=False, verbose=False,
        batch_size=16, feature_extractor_weights_path=str(weights),
    )["frechet_inception_distance"]
    assert ours > 1e-2  # the fixture separates distributions
    assert ours == pytest.approx(theirs, rel=1e-4)
    same = fid(inception_features(real[:12], model, CPU), inception_features(real[12:], model, CPU))
    assert same < ours


def test_fetch_assets_downloads_once(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from diffbench.cli import cli

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no config/config.yaml here: only the weights are fetched
    calls = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, progress: (calls.append(url), open(dst, "wb").close()))
    for _ in range(2):
        result = CliRunner().invoke(cli, ["fetch-assets"])
        assert result.exit_code == 0, result.output
    assert calls == [
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    ]
    assert resolve_weights(None).is_file()
