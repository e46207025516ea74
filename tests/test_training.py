import copy
import dataclasses
import itertools
import time
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from diffbench.data.images import load_images
from diffbench.data.tensors import to_model_range
from diffbench.errors import NonFiniteLoss
from diffbench.experiment import milestone_name
from diffbench.io import read_json
from diffbench.models.autoencoders import AUTOENCODERS
from diffbench.runtime import peak_memory
from diffbench.sampling.pipeline_io import load_model
from diffbench.specs import TrainingSpec
from diffbench.stages.train import milestone_snapshot, train_diffusion
from diffbench.training import loop as training_loop
from diffbench.training.budget import Budget
from diffbench.training.latents import latent_std
from diffbench.training.loop import Batches, fit
from helpers import typed_spec


def test_records_and_loss_curves(trained):
    layout, config = trained["layout"], trained["config"]
    for name, model in config["models"].items():
        record = read_json(layout.training_record(name))
        steps, batch = model["training"]["max_steps"], model["training"]["batch_size"]
        assert record["steps"] == steps and record["images_seen"] == steps * batch
        assert record["stop_reason"] == "max_steps" and record["family"] == model["family"]
        assert record["parameters"] > 0 and record["wall_time_s"] > 0 and record["images_per_s"] > 0
        assert record["device"] == "cpu" and record["peak_host_rss_mb"] > 0 and record["precision"] == "fp32"
        assert record["device_setting"] == "cpu" and record["cpu_fallback"] is False
        loss = pd.read_csv(layout.training_loss(name))
        assert list(loss["step"]) == list(range(1, steps + 1))
        assert {"loss", "learning_rate", "images_seen", "elapsed_s"} <= set(loss.columns)
        assert load_model(layout.pipeline_dir(name)).family == model["family"]


def test_latent_scaling_gives_unit_variance(trained):
    layout, config = trained["layout"], trained["config"]
    for name in ("kl", "vq"):
        kind = AUTOENCODERS[config["models"][name]["autoencoder"]["type"]]
        record = read_json(layout.autoencoder_record(name))
        model = load_model(layout.pipeline_dir(name))
        assert model.scaling_factor == pytest.approx(record["scaling_factor"])
        images = to_model_range(load_images(layout.train_images("tiny")))
        with torch.no_grad():
            mean, std = kind.encode(model.autoencoder, images)
        noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(0))  # seeded: no chance
        z = (mean + std * noise) * model.scaling_factor
        assert 0.8 < z.std().item() < 1.25


def test_latent_std_is_the_std_of_every_latent_drawn():
    class Halves:  # a stand-in first stage: q(z|x) = N(x / 2, 0.1^2)
        @staticmethod
        def encode(_, x):
            return x / 2, torch.full_like(x, 0.1)

    images = torch.randn(10, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    got = latent_std(None, Halves, images, torch.Generator().manual_seed(0), batch_size=4)
    noise = torch.Generator().manual_seed(0)
    z = torch.cat([(x / 2 + 0.1 * torch.randn(x.shape, generator=noise)).double() for x in images.split(4)])
    # E[z^2] - E[z]^2 against the two-pass std, both in float64 over 320 values of O(1): ~1e-15 apart.
    assert got == pytest.approx(z.std(unbiased=False).item(), rel=1e-9)


def retrain(tmp_path, trained, name, precision="fp32", scope="total", **training):
    """Train model `name` of the tiny experiment again into tmp_path, with some training keys changed."""
    config, layout = trained["config"], trained["layout"]
    spec = copy.deepcopy(config["models"][name])
    spec["training"]["milestones"] = None  # the tiny config's milestones are in its own budget's unit
    spec["training"].update(training)
    spec["budget_scope"] = scope
    latent = spec["family"] == "latent"
    return train_diffusion(
        name=name,
        model_spec=spec,
        dataset_spec=config["datasets"]["tiny"],
        train_images=layout.train_images("tiny"),
        autoencoder_dir=layout.autoencoder_dir(name) if latent else None,
        autoencoder_record=layout.autoencoder_record(name) if latent else None,
        device="cpu",
        precision=precision,
        out_dir=tmp_path / "m",
        out_record=tmp_path / "r.json",
        out_loss=tmp_path / "l.csv",
        out_states=tmp_path / "states",
    )


def snapshot(tmp_path, trained, name, milestone, scope="total", **training):
    """Model `name` at `milestone`, trained from the kept states of `retrain`'s run in tmp_path
    (its spec as there: the same keys changed)."""
    config, layout = trained["config"], trained["layout"]
    spec = copy.deepcopy(config["models"][name])
    spec["training"].update(milestones=None, **training)
    spec["budget_scope"] = scope
    latent = spec["family"] == "latent"
    out = tmp_path / "milestones" / milestone_name(milestone)
    return milestone_snapshot(
        name=name,
        model_spec=spec,
        dataset_spec=config["datasets"]["tiny"],
        milestone=milestone,
        train_images=layout.train_images("tiny"),
        autoencoder_dir=layout.autoencoder_dir(name) if latent else None,
        autoencoder_record=layout.autoencoder_record(name) if latent else None,
        states_dir=tmp_path / "states",
        training_record=tmp_path / "r.json",
        training_loss=tmp_path / "l.csv",
        device="cpu",
        precision="fp32",
        out_dir=out / "pipeline",
        out_record=out / "milestone.json",
    )


def train_pixel(tmp_path, trained, **training):
    return retrain(tmp_path, trained, "pix", **training)


def test_training_is_deterministic(tmp_path, trained):
    train_pixel(tmp_path / "a", trained, ema_decay=0.9)
    train_pixel(tmp_path / "b", trained, ema_decay=0.9)
    a, b = load_model(tmp_path / "a" / "m").unet, load_model(tmp_path / "b" / "m").unet
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    assert pd.read_csv(tmp_path / "a" / "l.csv")["loss"].equals(pd.read_csv(tmp_path / "b" / "l.csv")["loss"])


def test_wall_clock_budget(tmp_path, trained, monkeypatch):
    # The loop's own clock reads 0.25 s later at every reading: what is tested is the budget's logic,
    # not how fast this machine takes a first step (under load it took > 1.5 s: one step only).
    readings = itertools.count()
    monkeypatch.setattr(training_loop, "time", SimpleNamespace(perf_counter=lambda: 0.25 * next(readings)))
    record = train_pixel(tmp_path, trained, max_steps=None, max_seconds=1.5)
    assert record["stop_reason"] == "max_seconds" and record["wall_time_s"] >= 1.5 and record["steps"] > 1, record


def test_budget_and_batches():
    assert Budget(3, None).exhausted(3, 0.0) == "max_steps"
    assert Budget(None, 2.0).exhausted(100, 2.5) == "max_seconds"
    assert Budget(10, 2.0).exhausted(5, 1.0) is None
    batches = Batches(10, 4, torch.Generator().manual_seed(0))
    epoch = torch.cat([next(batches), next(batches)])
    assert len(set(epoch.tolist())) == 8  # no repeats within an epoch


def toy_spec(**overrides) -> TrainingSpec:
    """A training spec as the schema fills it, for fit on toy models."""
    return typed_spec(TrainingSpec, **{"learning_rate": 1e-3, "max_steps": 10, "batch_size": 1, **overrides})


def test_nonfinite_loss_stops_with_the_step():
    weight = torch.nn.Parameter(torch.ones(1))
    spec = toy_spec(log_every=4)  # read back at step 4: the error still names step 3
    calls = []

    def loss_fn(indices, generator, step):
        calls.append(1)
        return weight.sum() * (float("nan") if len(calls) == 3 else 1.0), {}

    with pytest.raises(NonFiniteLoss, match="at step 3"):
        fit(
            parameters=[weight],
            loss_fn=loss_fn,
            num_images=4,
            spec=spec,
            device=torch.device("cpu"),
            precision="fp32",
            description="toy",
        )


def test_nonfinite_loss_keeps_the_last_good_checkpoint(tmp_path):
    from diffbench.training.checkpoint import Checkpointing

    module = torch.nn.Linear(1, 1)
    spec = toy_spec(log_every=10)  # losses are read back before each checkpoint: step 6's is never written
    calls = []

    def loss_fn(indices, generator, step):
        calls.append(1)
        return module.weight.sum() * (float("nan") if len(calls) == 5 else 1.0), {}

    checkpointing = Checkpointing(path=tmp_path / "toy.pt", every=2, fingerprint="toy", modules={"m": module})
    with pytest.raises(NonFiniteLoss, match=r"at step 5;.*last good checkpoint \(step 4\) is kept at .*toy.pt"):
        fit(
            parameters=list(module.parameters()),
            loss_fn=loss_fn,
            num_images=4,
            spec=spec,
            device=torch.device("cpu"),
            precision="fp32",
            description="toy",
            checkpointing=checkpointing,
        )
    assert torch.load(tmp_path / "toy.pt", weights_only=True)["step"] == 4
    # Other settings (another fingerprint) never resume from it.
    other = Checkpointing(path=tmp_path / "toy.pt", every=2, fingerprint="other", modules={"m": module})
    assert other.load() is None


def test_the_loss_curve_does_not_depend_on_how_often_it_is_read_back():
    def run(log_every):
        torch.manual_seed(0)
        module = torch.nn.Linear(3, 1)
        data = torch.randn(16, 3)

        def loss_fn(indices, generator, step):
            noise = torch.randn(len(indices), 1, generator=generator, device=generator.device)
            error = (module(data[indices]) - noise).square()
            return error.mean(), {"max": error.max().detach()}

        spec = toy_spec(learning_rate=1e-2, max_steps=23, batch_size=4, log_every=log_every)
        table, summary = fit(parameters=list(module.parameters()), loss_fn=loss_fn, num_images=16, spec=spec,
                             device=torch.device("cpu"), precision="fp32", description="toy")  # fmt: skip
        return table.drop(columns="elapsed_s"), module.weight.detach().clone()

    every_step, every_step_weight = run(1)
    batched, batched_weight = run(10)  # 23 steps: two full windows and a last partial one
    assert every_step["step"].tolist() == list(range(1, 24)) and list(every_step.columns[:3]) == ["step", "loss", "max"]
    pd.testing.assert_frame_equal(every_step, batched)
    assert torch.equal(every_step_weight, batched_weight)


def test_the_progress_bar_redraws_at_its_interval_not_at_every_loss_read_back(capsys):
    """Reading the loss back updates the bar's figures without drawing it: on a GPU at hundreds of
    steps a second a draw per read-back would fill the rule's log (and cost the host each time)."""
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 1)
    data = torch.randn(16, 3)

    def loss_fn(indices, generator, step):
        return (module(data[indices]) - 1).square().mean(), {}

    spec = toy_spec(learning_rate=1e-2, max_steps=200, batch_size=4, log_every=1)
    start = time.perf_counter()
    fit(parameters=list(module.parameters()), loss_fn=loss_fn, num_images=16, spec=spec,
        device=torch.device("cpu"), precision="fp32", description="toy")  # fmt: skip
    elapsed = time.perf_counter() - start
    draws = capsys.readouterr().err.count("toy:")
    # the first draw, one per mininterval (2 s) at most, the last; 200 read-backs drew 200 times
    assert 1 <= draws <= 3 + elapsed / 2, (draws, elapsed)


def test_bf16_autocast_training_on_cpu(tmp_path, trained):
    config = trained["config"]
    record = retrain(tmp_path, trained, "pix", precision="bf16")
    assert record["precision"] == "bf16" and record["steps"] == config["models"]["pix"]["training"]["max_steps"]
    assert all(p.dtype == torch.float32 for p in load_model(tmp_path / "m").unet.parameters())  # fp32 master weights


def test_device_auto_falls_back_to_the_cpu_and_says_so(monkeypatch, caplog):
    from diffbench.errors import ConfigError
    from diffbench.runtime import device_info, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    device = resolve_device("auto")
    assert device.type == "cpu" and "running on the CPU" in caplog.text
    assert device_info(device, "auto")["cpu_fallback"] is True
    assert device_info(device, "cpu")["cpu_fallback"] is False
    with pytest.raises(ConfigError, match=r"config key 'device' is cuda.*CUDA_VISIBLE_DEVICES=;.*device: auto or cpu"):
        resolve_device("cuda")


def test_an_autoencoder_of_the_other_kind_is_named(tmp_path, trained):
    from diffbench.errors import ModelError

    config, layout = trained["config"], trained["layout"]
    with pytest.raises(ModelError, match=r"models.kl: .* holds a VQModel, but 'models.kl.autoencoder.type' is kl"):
        train_diffusion(
            name="kl",
            model_spec=config["models"]["kl"],
            dataset_spec=config["datasets"]["tiny"],
            train_images=layout.train_images("tiny"),
            autoencoder_dir=layout.autoencoder_dir("vq"),
            device="cpu",
            precision="fp32",
            out_dir=tmp_path / "m",
            out_record=tmp_path / "r.json",
            out_loss=tmp_path / "l.csv",
        )
    assert not (tmp_path / "r.json").exists()


def test_the_training_cost_of_every_stage_adds_up(trained):
    layout = trained["layout"]
    latent, first_stage = read_json(layout.training_record("kl")), read_json(layout.autoencoder_record("kl"))
    assert list(latent["stage_seconds"]) == ["autoencoder", "scaling_factor", "encoding", "denoiser"]
    assert list(latent["stage_gflops"]) == list(latent["stage_seconds"])
    assert latent["stage_seconds"]["autoencoder"] == first_stage["wall_time_s"]
    assert latent["stage_seconds"]["scaling_factor"] == first_stage["scaling_s"]
    assert latent["stage_gflops"]["autoencoder"] == first_stage["train_gflops"] > 0
    assert latent["stage_gflops"]["denoiser"] == latent["steps"] * latent["gflops_per_step"] > 0
    assert all(v > 0 for v in [*latent["stage_seconds"].values(), *latent["stage_gflops"].values()])
    assert latent["total_train_s"] == pytest.approx(sum(latent["stage_seconds"].values()), rel=1e-12)
    assert latent["total_train_gflops"] == pytest.approx(sum(latent["stage_gflops"].values()), rel=1e-12)
    pixel = read_json(layout.training_record("pix"))
    assert list(pixel["stage_seconds"]) == ["denoiser"] and pixel["total_train_s"] == pixel["wall_time_s"]
    assert pixel["budget_scope"] == latent["budget_scope"] == "total"


def train_latent(tmp_path, trained, scope, **training):
    return retrain(tmp_path / scope, trained, "kl", scope=scope, **training)


def test_a_total_budget_stops_the_denoiser_when_all_stages_reach_it(tmp_path, trained):
    # FLOP budgets are exact: the same counts on every run and machine.
    done = read_json(trained["layout"].training_record("kl"))
    per_step = done["gflops_per_step"]
    first_stage = sum(v for k, v in done["stage_gflops"].items() if k != "denoiser")
    total = train_latent(tmp_path, trained, "total", max_steps=None, max_gflops=first_stage + 2.5 * per_step)
    assert total["stop_reason"] == "max_gflops" and total["steps"] == 3  # 2 steps leave budget, 3 reach it
    assert total["total_train_gflops"] == pytest.approx(first_stage + 3 * per_step, rel=1e-9)
    # The denoiser-only scope gives the denoiser the whole budget; the first stage is still counted.
    amortised = train_latent(tmp_path, trained, "denoiser", max_steps=None, max_gflops=2.5 * per_step)
    assert amortised["steps"] == 3 and amortised["budget_scope"] == "denoiser"
    assert amortised["total_train_gflops"] == pytest.approx(first_stage + 3 * per_step, rel=1e-9)


def test_a_first_stage_that_spends_the_whole_budget_is_an_error(tmp_path, trained):
    from diffbench.errors import ModelError

    done = read_json(trained["layout"].training_record("kl"))
    first_stage = sum(v for k, v in done["stage_gflops"].items() if k != "denoiser")
    with pytest.raises(ModelError, match=r"models.kl: its first stage already used .*budget_scope: denoiser"):
        train_latent(tmp_path, trained, "total", max_steps=None, max_gflops=first_stage / 2)


def test_peak_memory_on_cuda_records_allocated_and_reserved(monkeypatch):
    # The CUDA branch, with torch's counters stood in for (what they return is torch's to test).
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device: 5 * 2**20)
    out = peak_memory(torch.device("cuda", 0))
    assert (out["peak_gpu_memory_mb"], out["peak_gpu_reserved_mb"]) == (3.0, 5.0) and out["peak_host_rss_mb"] > 0
    assert set(peak_memory(torch.device("cpu"))) == {"peak_host_rss_mb"}


@pytest.fixture
def tf32_flags():
    """torch's TF32 switches, restored after the test (they are process-wide)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield lambda: (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_fp32_is_strict_and_only_tf32_allows_tensor_cores(tf32_flags, tmp_path):
    from diffbench.errors import ConfigError
    from diffbench.jobs import job
    from diffbench.runtime import autocast, use_precision

    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")  # the CUDA branch needs no GPU: flags only
    torch.backends.cudnn.allow_tf32 = True  # torch's own default
    with job(tmp_path / "job.log", 1):  # every job starts strict, whatever its stage
        assert tf32_flags() == (False, False)
    assert use_precision("tf32", cuda) == torch.float32 and tf32_flags() == (True, True)
    assert use_precision("fp32", cuda) == torch.float32 and tf32_flags() == (False, False)
    assert use_precision("bf16", cpu) == torch.bfloat16 and tf32_flags() == (False, False)
    for precision in ("tf32", "fp16"):
        with pytest.raises(ConfigError, match=rf"'precision' is {precision}, which needs a CUDA device"):
            use_precision(precision, cpu)
    assert isinstance(autocast(cuda, "tf32"), type(autocast(cuda, "fp32")))  # no autocast: float32 weights


def fake_clock(seconds_per_reading: float) -> SimpleNamespace:
    """A stand-in for the loop's `time` whose clock advances by a fixed step at every reading."""
    readings = itertools.count()
    return SimpleNamespace(perf_counter=lambda: seconds_per_reading * next(readings))


def test_a_slow_first_stage_under_a_seconds_budget_trains_less_instead_of_failing(tmp_path, trained, monkeypatch):
    """budget_share: the first stage gets its share of the model's seconds, so on a machine where it
    runs 8x slower (a fake clock) it takes fewer steps and the denoiser still gets the rest; with
    fixed autoencoder steps that machine's first stage used up the total and the model failed."""
    from diffbench.stages.train import train_autoencoder

    config, layout = trained["config"], trained["layout"]
    spec = copy.deepcopy(config["models"]["kl"])
    spec["training"].update(max_steps=None, max_seconds=20.0)
    spec["autoencoder"]["training"].update(max_steps=None, budget_share=0.25)
    first_stage_steps = {}
    for speed, seconds_per_reading in (("fast", 0.25), ("slow", 2.0)):
        monkeypatch.setattr(training_loop, "time", fake_clock(seconds_per_reading))
        out = tmp_path / speed
        common = dict(name="kl", model_spec=spec, dataset_spec=config["datasets"]["tiny"],
                      train_images=layout.train_images("tiny"), device="cpu", precision="fp32")  # fmt: skip
        first = train_autoencoder(**common, out_dir=out / "ae", out_record=out / "ae.json", out_loss=out / "ae.csv")
        assert first["stop_reason"] == "max_seconds" and first["budget"]["limits"]["max_seconds"] == 5.0, first
        # the denoiser at the fast machine's pace: what is left for it is what counts
        monkeypatch.setattr(training_loop, "time", fake_clock(0.25))
        model = train_diffusion(**common, autoencoder_dir=out / "ae", autoencoder_record=out / "ae.json",
                                out_dir=out / "m", out_record=out / "m.json", out_loss=out / "m.csv")  # fmt: skip
        assert model["stop_reason"] == "max_seconds" and model["steps"] > 1, model
        # the record's budget is the one the loop ran under: the model's 20 s less the earlier stages'
        spent_before = model["budget"]["spent_before"]["seconds"]
        assert spent_before == sum(v for k, v in model["stage_seconds"].items() if k != "denoiser")
        assert model["budget"]["left"]["max_seconds"] == 20.0 - spent_before
        assert model["stage_seconds"]["autoencoder"] == first["wall_time_s"] < 5.0 + 2 * seconds_per_reading * 2
        first_stage_steps[speed] = first["steps"]
    assert first_stage_steps["slow"] < first_stage_steps["fast"]


def test_one_budget_says_what_the_denoiser_has_left():
    """The stage's pre-check and the loop read the same Budget: in total scope the first stage's
    seconds and GFLOPs come out of the model's limits, in denoiser scope they do not."""
    training = typed_spec(TrainingSpec, max_steps=None, max_seconds=100.0, max_gflops=50.0)
    total = Budget.for_denoiser(training, "total", earlier_seconds=30.0, earlier_gflops=20.0)
    assert total.left() == {"max_steps": None, "max_seconds": 70.0, "max_gflops": 30.0}
    assert total.nothing_left() is None
    assert total.exhausted(5, 69.0, 29.0) is None and total.exhausted(5, 10.0, 30.0) == "max_gflops"
    amortised = Budget.for_denoiser(training, "denoiser", earlier_seconds=30.0, earlier_gflops=20.0)
    assert amortised.left()["max_gflops"] == 50.0 and amortised.exhausted(5, 10.0, 30.0) is None
    spent = Budget.for_denoiser(training, "total", earlier_seconds=100.0, earlier_gflops=0.0)
    assert spent.nothing_left() == "max_seconds"
    assert spent.describe() == {
        "scope": "total",
        "limits": {"max_steps": None, "max_seconds": 100.0, "max_gflops": 50.0},
        "spent_before": {"seconds": 100.0, "gflops": 0.0},
        "left": {"max_steps": None, "max_seconds": 0.0, "max_gflops": 50.0},
        "unit": "GFLOPs",
    }
    # the kept states' ladder: 50 / sqrt(2)^k GFLOPs, k = 4 .. 1, those past the first stage's 20
    assert spent.points == pytest.approx((12.5, 50 / 8**0.5, 25.0, 50 / 2**0.5), rel=1e-12)
    assert total.points == pytest.approx((25.0, 50 / 2**0.5), rel=1e-12)
    assert total.stopping_at(30.0).max_gflops == 30.0 and total.stopping_at(30.0).points == ()


def test_denoiser_data_and_loss_targets():
    """Pixels learn in [-1, 1] (x0 range 1); latents from fresh posterior samples, scaled, with the
    range of the scaled means; the loss's target is what the prediction type names."""
    from diffusers import DDPMScheduler

    from diffbench.training.diffusion_loss import DenoiserData, DiffusionLoss
    from diffbench.training.noise_levels import TimestepSampler

    images = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)
    pixels = DenoiserData(images)
    assert pixels.x0_range == 1.0 and len(pixels) == 4
    batch = pixels.clean_batch(torch.tensor([1, 3]), torch.Generator().manual_seed(0))
    torch.testing.assert_close(batch, to_model_range(images[[1, 3]]), atol=0, rtol=0)
    mean, std = torch.randn(4, 2, 4, 4), torch.full((4, 2, 4, 4), 1e-3)
    latents = DenoiserData(images, mean, std, scale=0.5)
    assert latents.x0_range == pytest.approx(float(mean.abs().max()) * 0.5)
    a, b = (latents.clean_batch(torch.tensor([0]), torch.Generator().manual_seed(s)) for s in (0, 1))
    assert not torch.equal(a, b)  # a fresh posterior sample each call
    torch.testing.assert_close(a, mean[:1] * 0.5, atol=0.01, rtol=0)  # noise sd 0.5e-3: 0.01 is 20 sd

    scheduler = DDPMScheduler(num_train_timesteps=10)
    x0, noise, t = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8), torch.tensor([2, 7])
    uniform = TimestepSampler(filled_diffusion(), scheduler)
    loss = {
        kind: DiffusionLoss(None, scheduler, pixels, kind, uniform) for kind in ("epsilon", "v_prediction", "sample")
    }
    assert torch.equal(loss["epsilon"].target(x0, noise, t), noise)
    assert torch.equal(loss["v_prediction"].target(x0, noise, t), scheduler.get_velocity(x0, noise, t))
    assert torch.equal(loss["sample"].target(x0, noise, t), x0)


def filled_diffusion(**keys):
    from diffbench.config import filled
    from diffbench.specs import DiffusionSpec

    return DiffusionSpec.of(filled("$defs/diffusion", keys))


def test_uniform_timesteps_are_the_draw_of_ddpms_loss():
    """The default draw is torch.randint from the loop's generator, as before the key existed, so
    models trained with it (and tests/golden) do not change."""
    from diffusers import DDPMScheduler

    from diffbench.training.noise_levels import TimestepSampler

    draw = TimestepSampler(filled_diffusion(), DDPMScheduler(num_train_timesteps=1000))
    expected = torch.randint(0, 1000, (64,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(draw(64, torch.Generator().manual_seed(3)), expected)
    assert draw.describe() == "uniform timesteps"


def test_lognormal_timesteps_are_edms_noise_levels_rounded_to_the_schedule():
    """Each timestep's probability is the N(mean, std^2) mass of the ln(sigma) values nearest to its
    own: checked against continuous draws rounded to the nearest timestep, and the draws' ln(sigma)
    has the stated mean and spread."""
    from diffusers import DDPMScheduler

    from diffbench.training.noise_levels import TimestepSampler, log_sigmas

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    draw = TimestepSampler(filled_diffusion(timestep_sampling="lognormal", log_sigma_mean=-1.2), scheduler)
    assert draw.describe() == "ln sigma ~ N(-1.2, 1.2^2)"
    p = draw.probabilities.double()
    assert (p >= 0).all() and float(p.sum()) == pytest.approx(1, abs=1e-6)

    levels = log_sigmas(scheduler)
    continuous = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.2 - 1.2
    nearest = torch.searchsorted((levels[1:] + levels[:-1]) / 2, continuous)  # levels increase with t
    counts = torch.bincount(nearest, minlength=1000).double()
    # 6 binomial sd per timestep: a miss anywhere among 1000 has probability ~2e-6 (and the seed is fixed)
    sd = (400_000 * p * (1 - p)).sqrt()
    assert ((counts - 400_000 * p).abs() <= 6 * sd + 1).all()

    # the rounded distribution keeps the stated mean and spread: the cosine grid is coarse (up to
    # 0.4 in ln sigma) only below -4.3, 2.6 sd out, where the mass is 0.5 %
    mean = float((p * levels).sum())
    assert mean == pytest.approx(-1.2, abs=0.01)
    assert float((p * (levels - mean) ** 2).sum().sqrt()) == pytest.approx(1.2, abs=0.01)
    drawn = levels[draw(200_000, torch.Generator().manual_seed(1))]
    assert float(drawn.mean()) == pytest.approx(mean, abs=5 * 1.2 / 200_000**0.5)  # 5 sd of the sample mean


def unet_weights(path) -> dict:
    return load_model(path).unet.state_dict()


def assert_same_unet(a, b):
    for x, y in zip(unet_weights(a).values(), unet_weights(b).values(), strict=True):
        assert torch.equal(x, y)


def test_a_milestone_is_the_model_of_a_run_stopped_there(tmp_path, trained):
    """A latent model whose first stage is amortised (budget 6 denoiser steps' GFLOPs): its run keeps
    states at 6p / sqrt(2)^k (1.5p, 2.1p, 3p, 4.2p: after steps 2, 3, 3 and 5). A milestone at 3.5p
    trains from the state at 3p one step on, and one at 3p not at all; each has the steps and the
    EMA weights of a run whose budget ends there (the first step that reaches it, as `exhausted`
    stops), and the final model is the one a run without kept states makes."""
    per_step = read_json(trained["layout"].training_record("kl"))["gflops_per_step"]
    keys = {"max_steps": None, "max_gflops": 6 * per_step, "ema_decay": 0.9}
    run = tmp_path / "run"
    record = train_latent(run, trained, "denoiser", **keys)
    assert [s["step"] for s in record["kept_states"]] == [2, 3, 3, 5]
    ladder = [1.5 * per_step, 6 / 8**0.5 * per_step, 3 * per_step, 6 / 2**0.5 * per_step]
    assert [s["point"] for s in record["kept_states"]] == pytest.approx(ladder, rel=1e-12)
    for milestone, replayed in ((3.5 * per_step, 1), (3 * per_step, 0)):
        entry = snapshot(run / "denoiser", trained, "kl", milestone, "denoiser", **keys)
        stopped = train_latent(
            tmp_path / f"stopped{replayed}", trained, "denoiser", **{**keys, "max_gflops": milestone}
        )
        assert entry["trained_from"] == pytest.approx(3 * per_step) and entry["replayed_steps"] == replayed
        assert entry["step"] == stopped["steps"] and entry["unit"] == "GFLOPs" and entry["milestone"] == milestone
        assert entry["total_train_gflops"] == pytest.approx(stopped["total_train_gflops"], rel=1e-12)
        assert entry["images_seen"] == stopped["images_seen"]
        # its seconds are the model's run's clock at that step, not this job's replay
        clock = pd.read_csv(run / "denoiser" / "l.csv").set_index("step")["elapsed_s"]
        assert entry["denoiser_s"] == clock[entry["step"]] and entry["replay_s"] != entry["denoiser_s"]
        pipeline = run / "denoiser" / "milestones" / milestone_name(milestone) / "pipeline"
        assert load_model(pipeline).family == "latent"  # a whole pipeline, autoencoder included
        assert_same_unet(pipeline, tmp_path / f"stopped{replayed}" / "denoiser" / "m")
    plain = train_latent(tmp_path / "plain", trained, "denoiser", **keys, kept_states=0)
    assert_same_unet(run / "denoiser" / "m", tmp_path / "plain" / "denoiser" / "m")
    assert record["steps"] == plain["steps"] and plain["kept_states"] == []
    assert not (tmp_path / "run" / "denoiser" / "states.staging").exists()  # staging removed once published


def test_a_milestone_without_a_state_below_it_trains_from_step_0(tmp_path, trained):
    """Total scope (the first stage charged) and no kept states: the milestone trains the whole way."""
    done = read_json(trained["layout"].training_record("kl"))
    per_step = done["gflops_per_step"]
    first_stage = sum(v for k, v in done["stage_gflops"].items() if k != "denoiser")
    keys = {"max_steps": None, "max_gflops": first_stage + 5.5 * per_step, "ema_decay": 0.9, "kept_states": 0}
    train_latent(tmp_path / "run", trained, "total", **keys)
    milestone = first_stage + 2.5 * per_step
    entry = snapshot(tmp_path / "run" / "total", trained, "kl", milestone, **keys)
    stopped = train_latent(tmp_path / "stopped", trained, "total", **{**keys, "max_gflops": milestone})
    assert entry["trained_from"] is None and entry["replayed_steps"] == entry["step"] == stopped["steps"] == 3
    assert entry["total_train_gflops"] == pytest.approx(stopped["total_train_gflops"], rel=1e-12)
    pipeline = tmp_path / "run" / "total" / "milestones" / milestone_name(milestone) / "pipeline"
    assert_same_unet(pipeline, tmp_path / "stopped" / "total" / "m")


def test_milestones_in_steps_stop_at_each_step_count(tmp_path, trained):
    record = train_pixel(tmp_path, trained, max_steps=6)
    assert [s["step"] for s in record["kept_states"]] == [2, 3, 3, 5]  # 6 / sqrt(2)^k, rounded up
    entries = [snapshot(tmp_path, trained, "pix", m, max_steps=6) for m in (2, 4)]
    assert [(m["milestone"], m["step"], m["unit"], m["trained_from"]) for m in entries] == [
        (2, 2, "steps", 1.5),
        (4, 4, "steps", 3.0),
    ]


def test_a_milestone_in_seconds_is_where_the_runs_clock_passed_it(tmp_path, trained, monkeypatch):
    """A 6 s budget on a clock that advances 0.25 s per reading: the milestone at 3.5 s is the step
    the run's clock passed 3.5 s, and the snapshot (from the state kept at 3 s) is that step's model
    with the run's seconds, even when the replay's machine is 8x slower (whose own clock would pass
    3.5 s steps earlier)."""
    monkeypatch.setattr(training_loop, "time", fake_clock(0.25))
    record = train_pixel(tmp_path, trained, max_steps=None, max_seconds=6.0)
    clock = pd.read_csv(tmp_path / "l.csv").set_index("step")["elapsed_s"]
    step = int(clock.index[clock >= 3.5][0])
    assert 1 < step < record["steps"], (step, record["steps"])
    monkeypatch.setattr(training_loop, "time", fake_clock(2.0))
    entry = snapshot(tmp_path, trained, "pix", 3.5, max_steps=None, max_seconds=6.0)
    assert (entry["step"], entry["unit"], entry["denoiser_s"]) == (step, "seconds", clock[step])
    assert entry["trained_from"] == 3.0 and entry["replayed_steps"] >= 1
    monkeypatch.setattr(training_loop, "time", fake_clock(0.25))
    train_pixel(tmp_path / "stopped", trained, max_steps=step)
    assert_same_unet(tmp_path / "milestones" / milestone_name(3.5) / "pipeline", tmp_path / "stopped" / "m")


def test_a_milestone_within_the_first_stage_is_refused_before_training(tmp_path, trained):
    from diffbench.errors import ModelError

    done = read_json(trained["layout"].training_record("kl"))
    first_stage = sum(v for k, v in done["stage_gflops"].items() if k != "denoiser")
    keys = {"max_steps": None, "max_gflops": 2 * first_stage, "kept_states": 0}
    train_latent(tmp_path, trained, "total", **keys)
    with pytest.raises(ModelError, match=r"models.kl: its first stage used .* past milestone .*training.milestones"):
        snapshot(tmp_path / "total", trained, "kl", first_stage / 2, **keys)


def test_the_loop_hands_each_point_over_once_after_the_step_that_reaches_it():
    """Points 3 and 3.5 in steps: 3 is reached by step 3, 3.5 by step 4 (a run limited to 3.5 steps
    would stop after its fourth); each is handed over once, in order, with the loop's state."""
    calls = []
    spec = toy_spec(max_steps=10)
    weight = torch.nn.Parameter(torch.ones(1))
    fit(
        parameters=[weight],
        loss_fn=lambda indices, generator, step: (((weight - 2) ** 2).sum(), {}),
        num_images=4,
        spec=spec,
        device=torch.device("cpu"),
        precision="fp32",
        description="toy",
        budget=dataclasses.replace(Budget.for_denoiser(spec, "stage", 0.0, 0.0), points=(3, 3.5, 7)),
        at_point=lambda k, state: calls.append((k, state["step"])),
    )
    assert calls == [(0, 3), (1, 4), (2, 7)]


def test_the_optimiser_is_torchs_fused_adamw_on_a_cpu():
    """Fused: the same AdamW update as the per-tensor loop, in one kernel per step (on a CPU that
    loop took ~10 % of a small denoiser's step)."""
    from diffbench.training.loop import _Run

    module = torch.nn.Linear(3, 1)
    run = _Run(list(module.parameters()), 16, toy_spec(), torch.device("cpu"), "fp32", "toy", None)
    assert isinstance(run.optimizer, torch.optim.AdamW) and run.optimizer.defaults["fused"] is True
