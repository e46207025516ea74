"""Inception features: torch-fidelity's network, weights from the torch hub cache, no network.

The weights are conftest's calibrated random Inception in the exact file layout torch-fidelity loads.
"""

import numpy as np
import pytest
import torch
import torch_fidelity

from diffbench.data.synthetic import render_shapes
from diffbench.errors import MissingWeights
from diffbench.features.inception import (
    default_weights_path,
    inception_features,
    load_inception,
    resolve_weights,
    rgb_batches,
)
from diffbench.features.transfer import on_device
from diffbench.metrics.frechet import frechet_distance, gaussian_statistics
from diffbench.specs import EvaluationSpec
from helpers import assert_rows_close, needs_cuda, rows_relative_difference, typed_spec, write_assets_record

CPU = torch.device("cpu")
RUN = {
    "dataset": "d",
    "model": "m",
    "family": "pixel",
    "sampler": "ddim",
    "sampler_type": "ddim",
    "steps": 5,
    "seed_first": 0,
    "seed_last": 5,
}  # what config.run_key gives a sample set


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
    assert_rows_close(features, one_by_one)
    gray = inception_features(images[..., :1], model, CPU)
    assert gray.shape == (6, 2048)


def test_an_empty_set_gives_no_features(weights):
    # Every sample of a set can be non-finite (left out of FID): the job still writes its file.
    features = inception_features(np.zeros((0, 16, 16, 3), np.uint8), load_inception(weights, CPU), CPU)
    assert features.shape == (0, 2048) and features.dtype == np.float64


@needs_cuda
def test_staged_batches_reach_the_gpu_intact_while_it_is_busy():
    cuda = torch.device("cuda")
    generator = torch.Generator().manual_seed(0)
    host = [torch.randint(0, 256, (n, 64, 64, 3), dtype=torch.uint8, generator=generator) for n in (32, 32, 32, 7)]
    host.append(torch.rand(5, 8, 8, 3, generator=generator))  # another dtype and shape: fresh buffers
    busy, seen = torch.randn(1024, 1024, device=cuda), []
    for batch in on_device(iter(host), cuda):
        for _ in range(50):  # the compute stream lags, so copies and buffer refills run ahead of it
            busy = torch.tanh(busy @ busy)
        seen.append(batch * 1)  # read on the compute stream, after the long queue
    for expected, actual in zip(host, seen, strict=True):
        assert torch.equal(actual.cpu(), expected)


@needs_cuda
def test_features_on_cuda_equal_a_plain_per_batch_loop(weights):
    cuda = torch.device("cuda")
    model, images = load_inception(weights, cuda), shapes(10)
    with torch.no_grad():
        plain = [model(torch.from_numpy(b).permute(0, 3, 1, 2).to(cuda))[0].cpu() for b in rgb_batches(images, 4)]
    assert_rows_close(inception_features(images, model, cuda, batch_size=4), torch.cat(plain).double().numpy())


def test_channels_last_runs_the_same_network_in_nhwc(weights):
    from diffbench.features import EXTRACTORS

    extractor = EXTRACTORS["inception-v3-compat"]
    default, nhwc = (
        extractor.network(weights, CPU, channels_last=channels_last, fold_batch_norm=False)
        for channels_last in (False, True)
    )
    conv = nhwc.Conv2d_1a_3x3.conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert default.Conv2d_1a_3x3.conv.weight.is_contiguous()
    images = shapes(6)
    # Another conv algorithm over the same arithmetic: assert_rows_close's bound (measured 7e-6).
    assert_rows_close(inception_features(images, nhwc, CPU), inception_features(images, default, CPU))


def test_fold_batch_norm_runs_the_same_network_with_no_batch_norm_left(weights):
    from diffbench.features import EXTRACTORS

    extractor = EXTRACTORS["inception-v3-compat"]
    default, folded = (
        extractor.network(weights, CPU, channels_last=False, fold_batch_norm=fold) for fold in (False, True)
    )
    batch_norms = [sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) for net in (default, folded)]
    assert batch_norms == [94, 0]
    assert not folded.training  # in inference form: a training-mode batch norm would not fold
    images = shapes(6)
    # The same affine maps in another order: assert_rows_close's bound (measured 2e-6).
    assert_rows_close(inception_features(images, folded, CPU), inception_features(images, default, CPU))


@pytest.mark.parametrize(("channels_last", "fold_batch_norm"), [(False, False), (True, False), (True, True)])
def test_fid_matches_torch_fidelity_on_the_same_weights(weights, channels_last, fold_batch_norm):
    from diffbench.features import EXTRACTORS

    real, fake = shapes(24, start=0), shapes(24, start=500)
    fake[:, ::2] = 255 - fake[:, ::2]  # a visibly different distribution
    model = EXTRACTORS["inception-v3-compat"].network(
        weights, CPU, channels_last=channels_last, fold_batch_norm=fold_batch_norm
    )
    ours = fid(inception_features(fake, model, CPU), inception_features(real, model, CPU))

    class Images(torch.utils.data.Dataset):
        def __init__(self, array):
            self.array = torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()

        def __len__(self):
            return len(self.array)

        def __getitem__(self, i):
            return self.array[i]

    theirs = torch_fidelity.calculate_metrics(
        input1=Images(fake),
        input2=Images(real),
        fid=True,
        cuda=False,
        cache=False,
        verbose=False,
        batch_size=16,
        feature_extractor_weights_path=str(weights),
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
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda url, dst, progress: (calls.append(url), open(dst, "wb").close())
    )
    for _ in range(2):
        result = CliRunner().invoke(cli, ["fetch-assets"])
        assert result.exit_code == 0, result.output
    assert calls == [
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    ]
    assert resolve_weights(None).is_file()


def test_clean_mode_enters_the_same_network(weights):
    model = load_inception(weights, CPU)
    # At 299x299 both resizes are the identity, so both paths must give the same features.
    images = np.stack([render_shapes(1, i, 299) for i in range(2)])
    assert_rows_close(inception_features(images, model, CPU, resize="clean"), inception_features(images, model, CPU))
    small = shapes(3, resolution=16)
    clean, tf = (inception_features(small, model, CPU, resize=mode) for mode in ("clean", "tf-bilinear"))
    assert clean.shape == tf.shape and rows_relative_difference(clean, tf) > 1e-2  # the resizes differ
    with pytest.raises(ValueError, match="unknown resize mode"):
        inception_features(small, model, CPU, resize="nearest")


FAKE_DINOV2_HUBCONF = """
# Stands in for the facebookresearch/dinov2 hub repo (not downloadable here): same entry point,
# weights read from the hub cache by URL as the real hubconf does.
import torch

def dinov2_vitl14(pretrained=True, **kwargs):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 1024, 14, 14), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    if pretrained:
        url = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
        model.load_state_dict(torch.hub.load_state_dict_from_url(url))
    return model
"""


def test_dinov2_loads_from_the_torch_hub_cache(tmp_path, monkeypatch):
    from diffbench.features import EXTRACTORS
    from diffbench.features.dinov2 import cache_paths

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # torch.hub's probe of GitHub fails at once, offline
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    extractor = EXTRACTORS["dinov2-vit-l-14"]
    with pytest.raises(MissingWeights, match=r"facebookresearch_dinov2_main.*dinov2_vitl14_pretrain.pth.*fetch-assets"):
        extractor.resolve_weights(None)
    code, weights = cache_paths()
    code.mkdir(parents=True)
    (code / "hubconf.py").write_text(FAKE_DINOV2_HUBCONF)
    weights.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 1024, 14, 14)).state_dict(), weights)
    model = extractor.load(extractor.resolve_weights(None), CPU)
    images = shapes(3, resolution=16)
    for resize in ("tf-bilinear", "clean"):
        features = extractor.extract(images, model, CPU, 2, resize)
        assert features.shape == (3, 1024) and features.std(axis=0).mean() > 0


def test_features_of_shards_merge_into_those_of_the_whole_set(weights, tmp_path):
    from diffbench.io import write_npz
    from diffbench.metrics.frechet import Moments
    from diffbench.stages.evaluate import sample_feature_shard
    from diffbench.stages.merge import sample_features

    images = shapes(6, resolution=16)
    write_assets_record(tmp_path / "assets.json", weights)
    evaluation = typed_spec(EvaluationSpec, batch_size=3, channels_last=True)
    parts = []
    for name, chunk in (("whole", images), ("0", images[:4]), ("1", images[4:])):
        write_npz(tmp_path / f"{name}.npz", images=chunk)
        sample_feature_shard(
            images=tmp_path / f"{name}.npz",
            assets=tmp_path / "assets.json",
            evaluation=evaluation,
            device="cpu",
            out_features=tmp_path / f"{name}-features.npz",
        )
        parts.append(tmp_path / f"{name}-features.npz")
    assert sample_features(parts[1:], tmp_path / "merged.npz") == {
        "num_images": 6,
        "shards": 2,
        "nonfinite_excluded": 0,
    }
    with np.load(parts[0]) as whole, np.load(tmp_path / "merged.npz") as merged:
        assert_rows_close(merged["features"], whole["features"])
        a, b = Moments.from_npz(merged).statistics(), Moments.from_npz(whole).statistics()
        assert int(merged["count"]) == 6
        # sigma is quadratic in the features: twice their relative bound, in norm (see assert_rows_close)
        assert np.linalg.norm(a["sigma"] - b["sigma"]) <= 2e-3 * np.linalg.norm(b["sigma"])
        # Merging is exact arithmetic on the shards' own sums (up to float64 addition order).
        direct = Moments.of(merged["features"].astype(np.float64))
        np.testing.assert_allclose(Moments.from_npz(merged).outer, direct.outer, rtol=1e-5)


def test_images_that_were_nan_never_enter_the_metrics(weights, tmp_path):
    from diffbench.io import write_npz
    from diffbench.stages.distribution import distribution_metrics
    from diffbench.stages.evaluate import sample_feature_shard

    images = shapes(6, resolution=16)
    finite = np.array([True, False, True, True, False, True])
    images[~finite] = 0  # what sampling stores for a NaN image
    write_assets_record(tmp_path / "assets.json", weights)
    evaluation = typed_spec(
        EvaluationSpec, channels_last=False, batch_size=3, interval_groups=0, fid_infinity_fractions=[],
        pr_neighborhood=2,
    )  # fmt: skip
    write_npz(tmp_path / "samples.npz", images=images, seeds=np.arange(6), finite=finite)
    write_npz(tmp_path / "only-finite.npz", images=images[finite])
    for name in ("samples", "only-finite"):
        sample_feature_shard(
            images=tmp_path / f"{name}.npz",
            assets=tmp_path / "assets.json",
            evaluation=evaluation,
            device="cpu",
            out_features=tmp_path / f"{name}-features.npz",
        )
    with np.load(tmp_path / "samples-features.npz") as a, np.load(tmp_path / "only-finite-features.npz") as b:
        assert int(a["nonfinite_excluded"]) == 2 and int(a["count"]) == 4
        assert_rows_close(a["features"], b["features"])
    record = distribution_metrics(
        sample_features=tmp_path / "samples-features.npz",
        reference_features=tmp_path / "only-finite-features.npz",
        run=RUN,
        evaluation=evaluation,
        out_record=tmp_path / "d.json",
    )
    assert record["n_generated"] == 4 and record["n_nonfinite_excluded"] == 2
    assert any("2 generated images had NaN/inf values" in w for w in record["warnings"])


def test_the_recorded_fid_is_the_features_distance_that_the_interval_is_centred_on(tmp_path):
    """distribution_metrics takes FID from the features (an n x m problem below 2048 images), not
    the d x d moments: it must still be the Fréchet distance torch-fidelity computes from the
    moments, to the round-off bound of test_metrics (singular products at n < dim), and the centre
    of the jackknife interval, which is computed the same way."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    from diffbench.io import write_npz
    from diffbench.metrics.frechet import Moments
    from diffbench.stages.distribution import distribution_metrics

    rng = np.random.default_rng(0)
    generated, reference = rng.normal(size=(40, 64)), rng.normal(0.3, 1.2, size=(30, 64))
    for name, x in (("gen", generated), ("ref", reference)):
        write_npz(tmp_path / f"{name}.npz", features=x, nonfinite_excluded=np.int64(0), **Moments.of(x).to_npz())
    evaluation = typed_spec(EvaluationSpec, interval_groups=5, fid_infinity_fractions=[], pr_neighborhood=2)
    record = distribution_metrics(
        sample_features=tmp_path / "gen.npz", reference_features=tmp_path / "ref.npz", run=RUN,
        evaluation=evaluation, out_record=tmp_path / "d.json",
    )  # fmt: skip
    sa, sb = Moments.of(generated).statistics(), Moments.of(reference).statistics()
    theirs = fid_statistics_to_metric(sa, sb, verbose=False)["frechet_inception_distance"]
    bound = 2 * 64 * np.sqrt(np.finfo(float).eps * np.linalg.norm(sa["sigma"] @ sb["sigma"], 2))
    assert abs(record["fid"] - theirs) <= bound
    assert record["fid"] == pytest.approx((record["fid_ci_low"] + record["fid_ci_high"]) / 2, rel=1e-12)
    assert record["fid_sqrt_discarded"] == 0.0 and not any("square root" in w for w in record["warnings"])
