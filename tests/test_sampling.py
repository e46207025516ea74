import dataclasses
import inspect

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler, DiffusionPipeline, UNet2DModel

from diffbench.config import schema, validate_config
from diffbench.errors import ConfigError
from diffbench.io import read_json, write_json
from diffbench.models.diffusion_model import DiffusionModel
from diffbench.report.tables import DATA_RANGE_CLIP, x0_words
from diffbench.sampling.host_schedule import HostSchedule, step_timesteps
from diffbench.sampling.options import SAMPLER_SETTING_TYPES
from diffbench.sampling.pipeline_io import LatentDiffusionPipeline, load_model, save_model
from diffbench.sampling.sampler import batch_sizes_of, denoise, generate, warm_up
from diffbench.sampling.schedulers import (
    SAMPLERS,
    Sampler,
    make_scheduler,
    step_kwargs,
    timesteps_of,
    x0_treatment,
)
from diffbench.sampling.speedups import SPEEDUPS, apply_speedups, speedups_label, warm_up_calls
from diffbench.specs import SamplerSpec, ShardJob, SpeedupsSpec
from diffbench.stages.merge import merge_samples
from diffbench.stages.sample import sample_shard, sampling_throughput
from helpers import needs_cuda, tiny_unet, tiny_vq, typed_spec

CPU = torch.device("cpu")


def sampler_spec(**values) -> SamplerSpec:
    return typed_spec(SamplerSpec, **values)


def speedups_spec(**values) -> SpeedupsSpec:
    return typed_spec(SpeedupsSpec, **values)


def shard_job(sampler: str, steps: int, seeds: list[int], batch_size: int, **speedups) -> ShardJob:
    """What one sample_shard job draws (the rule builds the same from the config)."""
    return ShardJob(SAMPLER_SPECS[sampler], steps, tuple(seeds), batch_size, "device", speedups_spec(**speedups))


SAMPLER_SPECS = {
    "ddpm": sampler_spec(type="ddpm", eta=0.0),
    "ddim": sampler_spec(type="ddim", eta=0.0),
    "ddim_eta1": sampler_spec(type="ddim", eta=1.0),
    "dpm_solver_pp": sampler_spec(type="dpm_solver_pp", eta=0.0),
    "euler": sampler_spec(type="euler", eta=0.0),
    "heun": sampler_spec(type="heun", eta=0.0),
}


def random_model(family="pixel"):
    torch.manual_seed(0)
    scheduler = DDPMScheduler(num_train_timesteps=50, clip_sample=family == "pixel")
    if family == "pixel":
        return DiffusionModel(tiny_unet(), scheduler).to(CPU)
    vq = tiny_vq()
    vq.register_to_config(scaling_factor=0.7)
    return DiffusionModel(tiny_unet(2, 4), scheduler, vq).to(CPU)


def test_every_registered_sampler_is_tested():
    assert {s.type for s in SAMPLER_SPECS.values()} == set(SAMPLERS)


@pytest.mark.parametrize("name", sorted(SAMPLER_SPECS))
def test_image_k_does_not_depend_on_batch_size(name):
    spec, model = SAMPLER_SPECS[name], random_model()
    template, options = make_scheduler(spec, model.scheduler), step_kwargs(spec)
    seeds = [11, 12, 13, 14, 15]
    together, nfe = denoise(model, Sampler(template, options), 3, seeds, CPU, torch.float32)
    alone = torch.cat([denoise(model, Sampler(template, options), 3, [s], CPU, torch.float32)[0] for s in seeds])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(together[0], together[1])  # different seeds, different images
    assert nfe == (5 if spec.type == "heun" else 3)  # Heun evaluates the UNet twice per step but the last


@pytest.mark.parametrize("name", ["ddpm", "ddim_eta1", "euler"])
def test_both_step_noise_settings_give_the_same_images_on_a_cpu(name):
    # On a CPU the device generator is the image's CPU generator: the setting changes nothing there.
    spec, model = SAMPLER_SPECS[name], random_model()
    template, options = make_scheduler(spec, model.scheduler), step_kwargs(spec)
    cpu, _ = denoise(model, Sampler(template, options, step_noise="cpu"), 3, [4, 5], CPU, torch.float32)
    dev, _ = denoise(model, Sampler(template, options, step_noise="device"), 3, [4, 5], CPU, torch.float32)
    torch.testing.assert_close(cpu, dev, atol=0, rtol=0)


def test_step_noise_is_drawn_where_the_setting_says():
    template = make_scheduler(SAMPLER_SPECS["ddpm"], random_model().scheduler)
    on_device, on_host = Sampler(template), Sampler(template, step_noise="cpu")
    assert on_device.noise_on(torch.device("cuda", 0)) == "cuda" and on_host.noise_on(torch.device("cuda", 0)) == "cpu"
    assert on_device.noise_on(CPU) == "cpu"
    assert on_host.record(3, torch.device("cuda", 0))["step_noise_on"] == "cpu"  # the sampler records where
    with pytest.raises(ValueError, match="step_noise 'host'"):
        Sampler(template, step_noise="host")


@needs_cuda
def test_device_step_noise_on_cuda_is_batch_independent_and_differs_from_cpu_noise():
    spec, model = SAMPLER_SPECS["ddpm"], random_model().to("cuda")
    template, options = make_scheduler(spec, model.scheduler), step_kwargs(spec)
    cuda = torch.device("cuda")
    together, _ = denoise(model, Sampler(template, options, step_noise="device"), 3, [1, 2, 3], cuda, torch.float32)
    alone = torch.cat([denoise(model, Sampler(template, options), 3, [s], cuda, torch.float32)[0] for s in (1, 2, 3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
    host_noise = Sampler(template, options, step_noise="cpu")
    host, _ = denoise(model, host_noise, 3, [1, 2, 3], cuda, torch.float32)
    on_cpu, _ = denoise(random_model(), host_noise, 3, [1, 2, 3], CPU, torch.float32)
    torch.testing.assert_close(host.cpu(), on_cpu, atol=1e-3, rtol=1e-3)  # same noise, float differences only
    assert not torch.allclose(host, together)  # Philox draws other numbers than the CPU generator


def test_latent_sampling_is_batch_independent_and_decodes():
    model = random_model("latent")
    template = make_scheduler(SAMPLER_SPECS["ddim_eta1"], model.scheduler)
    a, stats = generate(model, Sampler(template, {"eta": 1.0}), 3, [1, 2, 3], batch_size=3, device=CPU)
    b, _ = generate(model, Sampler(template, {"eta": 1.0}), 3, [1, 2, 3], batch_size=1, device=CPU)
    assert a.shape == (3, 8, 8, 3) and a.dtype == np.uint8  # decoded from 4x4 latents to 8x8 pixels
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert stats["nfe_per_image"] == 3 and stats["decode_s"] > 0


def test_saved_model_reloads_and_gives_the_same_samples(tmp_path):
    for family in ("pixel", "latent"):
        model = random_model(family)
        save_model(model, tmp_path / family)
        reloaded = load_model(tmp_path / family).to(CPU)
        for a, b in zip(model.unet.state_dict().values(), reloaded.unet.state_dict().values(), strict=True):
            assert torch.equal(a, b)
        samples = [
            generate(m, Sampler.of(SAMPLER_SPECS["dpm_solver_pp"], m.scheduler), 4, [0, 1], 2, CPU)[0]
            for m in (reloaded, load_model(tmp_path / family).to(CPU))
        ]
        np.testing.assert_array_equal(*samples)
    # The pixel folder is a plain diffusers pipeline: loaded without diffbench, it samples the same.
    pipeline = DiffusionPipeline.from_pretrained(tmp_path / "pixel")
    plain = DiffusionModel(pipeline.unet, pipeline.scheduler).to(CPU)
    ours = load_model(tmp_path / "pixel").to(CPU)
    np.testing.assert_array_equal(
        *(generate(m, Sampler.of(SAMPLER_SPECS["ddim"], m.scheduler), 3, [5, 6], 2, CPU)[0] for m in (plain, ours))
    )


def test_latent_pipeline_call(tmp_path):
    save_model(random_model("latent"), tmp_path / "m")
    pipeline = LatentDiffusionPipeline.from_pretrained(tmp_path / "m")
    images = pipeline(seeds=[3, 4], num_inference_steps=2, batch_size=1)
    assert images.shape == (2, 8, 8, 3)


def test_shards_merge_to_the_single_job_result(tmp_path):
    save_model(random_model("pixel"), tmp_path / "m")
    common = dict(model_dir=tmp_path / "m", device="cpu", precision="fp32")
    shards = [[20, 21, 22, 23], [24, 25]]
    for k, seeds in enumerate(shards):
        job = shard_job("ddim_eta1", 3, seeds, 2)
        sample_shard(**common, job=job, out_images=tmp_path / f"{k}.npz", out_record=tmp_path / f"{k}.json")
    job = shard_job("ddim_eta1", 3, list(range(20, 26)), 2)
    sample_shard(**common, job=job, out_images=tmp_path / "all.npz", out_record=tmp_path / "all.json")
    run = {"model": "m", "sampler": "ddim_eta1", "steps": 3}
    for k, gpu in enumerate([(10.0, 20.0), (30.0, 25.0)]):  # as CUDA shards record them: the run keeps each peak
        shard = read_json(tmp_path / f"{k}.json")
        write_json(tmp_path / f"{k}.json", {**shard, "peak_gpu_memory_mb": gpu[0], "peak_gpu_reserved_mb": gpu[1]})
    record = merge_samples(
        shard_images=[tmp_path / "0.npz", tmp_path / "1.npz"],
        shard_records=[tmp_path / "0.json", tmp_path / "1.json"],
        expected_seeds=list(range(20, 26)),
        run=run,
        out_images=tmp_path / "merged.npz",
        out_png_dir=tmp_path / "png",
        out_record=tmp_path / "sampling.json",
    )
    merged, single = np.load(tmp_path / "merged.npz"), np.load(tmp_path / "all.npz")
    np.testing.assert_array_equal(merged["images"], single["images"])
    np.testing.assert_array_equal(merged["seeds"], np.arange(20, 26))
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [f"{s:06d}.png" for s in range(20, 26)]
    assert record["num_images"] == 6 and record["num_shards"] == 2 and record["nfe_per_image"] == 3
    assert record["seconds_per_image"] > 0 and 0 <= record["decode_share"] <= 1
    assert record["gflops_per_image"] == pytest.approx(3 * record["unet_gflops_per_nfe"])
    assert record["step_noise_on"] == "cpu"  # "device" on a CPU draws with the CPU generators
    assert record["speedups"] == "none" and record["warmup_s"] > 0
    assert (record["peak_gpu_memory_mb"], record["peak_gpu_reserved_mb"]) == (30.0, 25.0)
    assert read_json(tmp_path / "0.json")["device"] == "cpu"


def test_merge_refuses_missing_images(tmp_path):
    save_model(random_model("pixel"), tmp_path / "m")
    sample_shard(
        model_dir=tmp_path / "m",
        job=shard_job("ddim", 2, [0, 1], 2),
        device="cpu",
        precision="fp32",
        out_images=tmp_path / "0.npz",
        out_record=tmp_path / "0.json",
    )
    with pytest.raises(RuntimeError, match="expected 0..2"):
        merge_samples(
            shard_images=[tmp_path / "0.npz"],
            shard_records=[tmp_path / "0.json"],
            expected_seeds=[0, 1, 2],
            run={"model": "m"},
            out_images=tmp_path / "x.npz",
            out_png_dir=tmp_path / "png",
            out_record=tmp_path / "x.json",
        )
    assert not (tmp_path / "x.npz").exists()


def test_bf16_sampling_on_cpu(tmp_path):
    save_model(random_model("latent"), tmp_path / "m")
    record = sample_shard(
        model_dir=tmp_path / "m",
        job=shard_job("ddim", 2, [0, 1], 2),
        device="cpu",
        precision="bf16",
        out_images=tmp_path / "0.npz",
        out_record=tmp_path / "0.json",
    )
    assert record["precision"] == "bf16" and record["nonfinite_images"] == 0
    with pytest.raises(Exception, match="fp16, which needs a CUDA device"):
        sample_shard(
            model_dir=tmp_path / "m",
            job=shard_job("ddim", 2, [0], 1),
            device="cpu",
            precision="fp16",
            out_images=tmp_path / "1.npz",
            out_record=tmp_path / "1.json",
        )


def test_x0_is_clamped_to_each_models_data_range_in_every_sampler_that_can():
    pixel, unclamped = random_model("pixel"), random_model("latent")
    latent = random_model("latent")
    latent.scheduler.register_to_config(clip_sample=True, clip_sample_range=3.5)  # as train_diffusion saves it
    dpm = make_scheduler(SAMPLER_SPECS["dpm_solver_pp"], pixel.scheduler)
    assert dpm.config.thresholding and dpm.config.sample_max_value == 1.0
    assert dpm.config.algorithm_type == "dpmsolver++" and dpm.config.solver_order == 2
    assert make_scheduler(SAMPLER_SPECS["ddim"], pixel.scheduler).config.clip_sample
    for kind in ("ddim", "ddpm", "heun"):
        scheduler = make_scheduler(SAMPLER_SPECS[kind], latent.scheduler)
        assert scheduler.config.clip_sample and scheduler.config.clip_sample_range == 3.5, kind
        assert x0_treatment(scheduler) == {"kind": "clip", "limit": 3.5}, kind
        assert x0_words(x0_treatment(scheduler), 3.5) == (DATA_RANGE_CLIP, f"{DATA_RANGE_CLIP} (±3.5)")
    pixel_ddim = make_scheduler(SAMPLER_SPECS["ddim"], pixel.scheduler)
    assert x0_words(x0_treatment(pixel_ddim), 1.0)[0] == DATA_RANGE_CLIP
    assert x0_treatment(dpm) == {"kind": "clip", "limit": 1.0}  # thresholding at 1 is the static clip
    assert x0_words(x0_treatment(pixel_ddim), None) == ("clipped to ±1", "clipped to ±1")  # range unknown
    # dynamic thresholding cannot clip at 3.5: not clamped there, and said so; Euler never clips
    latent_dpm = make_scheduler(SAMPLER_SPECS["dpm_solver_pp"], latent.scheduler)
    assert not latent_dpm.config.thresholding and x0_treatment(latent_dpm)["kind"] == "none"
    assert x0_treatment(make_scheduler(SAMPLER_SPECS["euler"], pixel.scheduler))["kind"] == "none"
    threshold = make_scheduler(SAMPLER_SPECS["dpm_solver_pp"], pixel.scheduler)
    threshold.register_to_config(sample_max_value=2.0)
    assert x0_words(x0_treatment(threshold), 1.0)[0] == "dynamic thresholding (quantile 0.995, up to 2)"
    assert not make_scheduler(SAMPLER_SPECS["ddim"], unclamped.scheduler).config.clip_sample


def test_latent_sampling_stays_within_the_training_latents_range(trained):
    """A trained latent model's sampler clamps x0 to its scaled training latents' range: deterministic
    DDIM then ends within it (its last step returns the clamped x0)."""
    layout = trained["layout"]
    model = load_model(layout.pipeline_dir("kl")).to(CPU)
    limit = read_json(layout.training_record("kl"))["x0_range"]
    assert model.scheduler.config.clip_sample and model.scheduler.config.clip_sample_range == pytest.approx(limit)
    sampler = SAMPLER_SPECS["ddim"]
    x, _ = denoise(model, Sampler.of(sampler, model.scheduler), 3, list(range(16)), CPU,
                   torch.float32)  # fmt: skip
    assert x.abs().max() <= limit * (1 + 1e-6)
    # the same model unclamped leaves that range (the random-looking tiny model's x0 estimates overshoot)
    free = make_scheduler(dataclasses.replace(sampler, clip_sample=False), model.scheduler)
    assert (
        denoise(model, Sampler(free, step_kwargs(sampler)), 3, list(range(16)), CPU, torch.float32)[0].abs().max()
        > limit
    )


@pytest.mark.parametrize("kind", sorted(SAMPLERS))
def test_timestep_spacing_is_the_configured_one(kind):
    """null keeps the sampler's default (DDIM: leading, which starts 10 steps of 50 timesteps at
    t = 45); trailing starts at the last timestep, so the first step sees pure noise."""
    base = random_model().scheduler  # 50 training timesteps
    default = make_scheduler(sampler_spec(type=kind, eta=0.0, timestep_spacing=None), base)
    trailing = make_scheduler(sampler_spec(type=kind, eta=0.0, timestep_spacing="trailing"), base)
    assert trailing.config.timestep_spacing == "trailing"
    trailing.set_timesteps(10)
    assert int(trailing.timesteps[0]) == 49
    if kind in ("ddim", "ddpm"):
        assert default.config.timestep_spacing == "leading"
        default.set_timesteps(10)
        assert int(default.timesteps[0]) == 45


def test_ldm_uniform_ddim_timesteps_and_settings():
    """LDM's DDIM ('uniform': range(0, T, T // S) + 1, steps_offset 1) for 10 of 1000 steps, and the
    other settings reach the scheduler; clip_sample false turns a pixel model's clipping off."""
    base = DDPMScheduler(num_train_timesteps=1000, clip_sample=True)
    ldm = sampler_spec(
        type="ddim", timestep_spacing="leading", steps_offset=1, set_alpha_to_one=False, clip_sample=False
    )
    ddim = make_scheduler(ldm, base)
    assert timesteps_of(ddim, 10) == list(range(901, 0, -100))
    assert not ddim.config.clip_sample and not ddim.config.set_alpha_to_one
    ddpm = make_scheduler(sampler_spec(type="ddpm", eta=0.0, variance_type="fixed_large"), base)
    assert ddpm.config.variance_type == "fixed_large" and ddpm.config.clip_sample
    assert timesteps_of(ddpm, 1000) == list(range(999, -1, -1))
    dpm = make_scheduler(sampler_spec(type="dpm_solver_pp", eta=0.0, solver_order=3), base)
    assert dpm.config.solver_order == 3 and dpm.config.thresholding
    assert not make_scheduler(sampler_spec(type="dpm_solver_pp", eta=0.0, clip_sample=False), base).config.thresholding


@pytest.mark.parametrize("steps", [10, 20, 50, 100])
def test_ddim_quadratic_spacing_is_the_papers(steps):
    """DDIM paper, appendix D.2: tau_i = floor(c i^2), c = 0.8 T / (S - 1)^2, visited last to first
    (for these step counts the released code's float arithmetic gives exactly the formula)."""
    base = DDPMScheduler(num_train_timesteps=1000)
    ddim = make_scheduler(sampler_spec(type="ddim", eta=0.0, timestep_spacing="quadratic"), base)
    expected = [800 * i * i // (steps - 1) ** 2 for i in range(steps)][::-1]
    assert timesteps_of(ddim, steps) == expected
    if steps == 10:
        assert expected == [800, 632, 483, 355, 246, 158, 88, 39, 9, 0]


def _ddim_walk(scheduler, steps, seed=0, eta=0.0):
    """Every step of a schedule on fixed random model outputs; the samples after each step."""
    scheduler.set_timesteps(steps)
    torch.manual_seed(seed)
    x, out = torch.randn(2, 3, 4, 4), []
    for t in scheduler.timesteps:
        noise = torch.Generator().manual_seed(int(t))
        x = scheduler.step(torch.randn(2, 3, 4, 4), t, x, eta=eta, generator=noise).prev_sample
        out.append(x)
    return out


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_update_is_diffusers_on_uniform_strides(spacing, eta):
    """Where diffusers' t - T // S is the next timestep, our DDIM is its update operation for
    operation, so equal to the bit (with clipping and with eta's noise)."""
    from diffusers import DDIMScheduler

    base = DDPMScheduler(num_train_timesteps=50, clip_sample=True)
    ours = make_scheduler(sampler_spec(type="ddim", eta=eta, timestep_spacing=spacing), base)
    theirs = DDIMScheduler.from_config(ours.config)
    for a, b in zip(_ddim_walk(ours, 10, eta=eta), _ddim_walk(theirs, 10, eta=eta), strict=True):
        assert torch.equal(a, b)


def test_ddim_steps_to_the_next_timestep_it_visits():
    """linspace visits 999, 888, ...: given the true noise, deterministic DDIM must land on the
    forward process at t = 888 (diffusers' update aims at 899). float32 rounding of O(1) values over
    a few operations stays below 1e-5, while alpha_bar(888) and alpha_bar(899) give answers ~1e-3 apart."""
    base = DDPMScheduler(num_train_timesteps=1000)
    ddim = make_scheduler(sampler_spec(type="ddim", eta=0.0, timestep_spacing="linspace"), base)
    ddim.set_timesteps(10)
    assert ddim.timesteps[:2].tolist() == [999, 888]
    seeded = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(1, 3, 4, 4, generator=seeded) * 2 - 1, torch.randn(1, 3, 4, 4, generator=seeded)
    a = ddim.alphas_cumprod
    x_t = a[999].sqrt() * x0 + (1 - a[999]).sqrt() * eps
    landed = ddim.step(eps, 999, x_t).prev_sample
    torch.testing.assert_close(landed, a[888].sqrt() * x0 + (1 - a[888]).sqrt() * eps, rtol=0, atol=1e-5)
    assert (landed - (a[899].sqrt() * x0 + (1 - a[899]).sqrt() * eps)).abs().max() > 1e-3


def test_ddim_step_checks_its_timestep_by_address_or_value():
    base = DDPMScheduler(num_train_timesteps=50)
    ddim = make_scheduler(sampler_spec(type="ddim", eta=0.0, timestep_spacing="trailing"), base)
    ddim.set_timesteps(5)
    x = torch.randn(1, 3, 4, 4)
    first, second, third = list(ddim.timesteps[:3])  # elements: recognised without reading them
    x = ddim.step(x, first, x).prev_sample
    x = ddim.step(x, torch.tensor(int(second)), x).prev_sample  # another tensor: by value
    with pytest.raises(ValueError, match="step 2 of this schedule is not timestep 0"):
        ddim.step(x, 0, x)
    with pytest.raises(ValueError, match="step 2 of this schedule is not timestep"):
        ddim.step(x, second, x)  # the right value at the wrong step
    ddim.step(x, int(third), x)


@pytest.mark.parametrize("steps", [10, None])  # None: all 50 training timesteps (no inference schedule)
def test_ddpm_steps_are_diffusers_to_the_bit(steps):
    from diffusers import DDPMScheduler as Theirs

    base = DDPMScheduler(num_train_timesteps=50, clip_sample=True)
    ours = make_scheduler(sampler_spec(type="ddpm"), base)
    theirs = Theirs.from_config(ours.config)
    for scheduler in (ours, theirs):
        if steps:
            scheduler.set_timesteps(steps)
    walks = []
    for scheduler in (ours, theirs):
        x, walk, noise = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)), [], torch.Generator()
        for t in scheduler.timesteps:
            noise.manual_seed(int(t))
            x = scheduler.step(torch.tanh(x), t, x, generator=noise).prev_sample
            walk.append(x)
        walks.append(walk)
    assert len(walks[0]) == (steps or 50)
    for a, b in zip(*walks, strict=True):
        assert torch.equal(a, b)


@needs_cuda
def test_ddpm_and_ddim_steps_never_wait_for_the_gpu():
    cuda = torch.device("cuda")
    base = DDPMScheduler(num_train_timesteps=1000)
    for spec in (
        sampler_spec(type="ddim", eta=0.0, timestep_spacing="trailing"),
        sampler_spec(type="ddim", eta=1.0, timestep_spacing="quadratic"),
        sampler_spec(type="ddpm"),
    ):
        scheduler = make_scheduler(spec, base)
        scheduler.set_timesteps(20, device=cuda)
        x, noise = torch.randn(2, 3, 8, 8, device=cuda), [torch.Generator(cuda).manual_seed(s) for s in (0, 1)]
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any read-back (item, int, tolist, nonzero) raises
        try:
            for t in step_timesteps(scheduler):  # what the sampling loop passes
                x = scheduler.step(torch.tanh(x), t, x, generator=noise, **step_kwargs(spec)).prev_sample
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert torch.isfinite(x).all(), spec


@pytest.mark.parametrize(
    "sampler", [sampler_spec(type="ddim", eta=0.0), sampler_spec(type="ddpm"), sampler_spec(type="euler")]
)
def test_the_loop_gives_host_schedulers_their_host_timesteps(sampler, monkeypatch):
    """DDPM and DDIM steps get Python ints from the loop (so they never read the device back); other
    schedulers get the elements of their timesteps, as diffusers' own loops give them."""
    model = random_model()
    template = make_scheduler(sampler, model.scheduler)
    given, step = [], type(template).step

    def spy(self, model_output, timestep, *args, **kwargs):
        given.append(timestep)
        return step(self, model_output, timestep, *args, **kwargs)

    monkeypatch.setattr(type(template), "step", spy)
    denoise(model, Sampler(template, step_kwargs(sampler)), 4, [0, 1], CPU, torch.float32)
    host = isinstance(template, HostSchedule)
    assert host == (sampler.type != "euler") and len(given) == 4
    assert all(isinstance(t, int) if host else torch.is_tensor(t) and t.dim() == 0 for t in given)


def test_ddim_repeated_quadratic_timesteps_are_steps_in_place():
    """At 100 quadratic steps t = 0 comes four times (as in the DDIM code): three steps from 0 to 0
    leave the sample as it is (up to float32 rounding: a few operations on O(1) values, < 1e-5), the
    last goes to alpha_bar = 1; every one costs a network evaluation."""
    base = DDPMScheduler(num_train_timesteps=1000, clip_sample=False)  # the DDIM paper does not clip x0
    ddim = make_scheduler(sampler_spec(type="ddim", eta=1.0, timestep_spacing="quadratic"), base)
    walk = _ddim_walk(ddim, 100, eta=1.0)
    assert ddim.timesteps[-4:].tolist() == [0, 0, 0, 0]
    for in_place in walk[-4:-1]:  # walk[-5]: the sample on arriving at t = 0
        torch.testing.assert_close(in_place, walk[-5], rtol=0, atol=1e-5)
    assert (walk[-1] - walk[-2]).abs().max() > 1e-3
    model = random_model()
    quadratic = Sampler.of(sampler_spec(type="ddim", eta=0.0, timestep_spacing="quadratic"), model.scheduler)
    _, nfe = denoise(model, quadratic, 40, [0], CPU, torch.float32)
    assert nfe == 40


def test_quadratic_spacing_is_for_ddim_only(tiny_raw):
    tiny_raw["sampling"]["samplers"]["heun"]["timestep_spacing"] = "quadratic"
    with pytest.raises(ConfigError, match=r"'sampling.samplers.heun.timestep_spacing': quadratic .* type: ddim"):
        validate_config(tiny_raw)


@pytest.mark.parametrize("key", sorted(SAMPLER_SETTING_TYPES))
def test_sampler_setting_types_match_the_schedulers(key):
    """options.SAMPLER_SETTING_TYPES (what validation allows) against the schedulers' signatures:
    a type is allowed a setting exactly when its scheduler takes it (clip_sample: or thresholding)."""
    for kind, sampler in SAMPLERS.items():
        accepts = inspect.signature(sampler.scheduler_class.__init__).parameters
        takes = key in accepts or (key == "clip_sample" and "thresholding" in accepts)
        if key == "variance_type" and kind == "dpm_solver_pp":
            takes = False  # it accepts one, but only to read learned-variance models' outputs
        assert (kind in SAMPLER_SETTING_TYPES[key]) == takes, (key, kind)


def test_a_setting_on_the_wrong_sampler_type_is_a_config_error(tiny_raw):
    tiny_raw["sampling"]["samplers"]["heun"]["solver_order"] = 3
    with pytest.raises(ConfigError, match=r"'sampling.samplers.heun.solver_order' only applies to type: dpm_solver_pp"):
        validate_config(tiny_raw)


def test_nan_images_are_counted_and_marked():
    model = random_model()
    template = make_scheduler(SAMPLER_SPECS["ddim"], model.scheduler)
    with torch.no_grad():
        model.unet.conv_out.bias[0] = float("nan")  # every pixel of every image becomes NaN
    images, stats = generate(model, Sampler(template), 2, [1, 2, 3], batch_size=2, device=CPU)
    assert stats["nonfinite_images"] == 3 and stats["finite"].tolist() == [False, False, False]
    assert images.dtype == np.uint8  # stored as numbers, marked so that evaluation leaves them out


def test_the_schema_offers_exactly_the_speedups_there_are():
    offered = schema()["$defs"]["sampling"]["properties"]["speedups"]["properties"]
    assert set(offered) == set(SPEEDUPS) and all(not spec["default"] for spec in offered.values())
    assert speedups_label(speedups_spec()) == "none"
    assert speedups_label(speedups_spec(compile=True, channels_last=True)) == "channels_last+compile"
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['xformers'\]"):
        speedups_spec(xformers=True)


def test_channels_last_is_recorded_and_moves_images_by_rounding_at_most(tmp_path):
    save_model(random_model("latent"), tmp_path / "m")
    common = dict(model_dir=tmp_path / "m", device="cpu", precision="fp32")
    plain = sample_shard(
        **common, job=shard_job("ddim", 3, [0, 1, 2], 3), out_images=tmp_path / "a.npz", out_record=tmp_path / "a.json"
    )
    fast = sample_shard(**common, job=shard_job("ddim", 3, [0, 1, 2], 3, channels_last=True),
                        out_images=tmp_path / "b.npz", out_record=tmp_path / "b.json")  # fmt: skip
    assert (plain["speedups"], fast["speedups"]) == ("none", "channels_last")
    assert fast["unet_gflops_per_nfe"] == plain["unet_gflops_per_nfe"]
    # NHWC kernels sum in another order: float32 differences of ~1e-6 relative after three steps and
    # a decode can flip a pixel's rounding to uint8, never move it by more than one level.
    a, b = np.load(tmp_path / "a.npz")["images"].astype(int), np.load(tmp_path / "b.npz")["images"].astype(int)
    assert np.abs(a - b).max() <= 1
    out = sampling_throughput(model_dir=tmp_path / "m", model="m", family="latent", max_batch=2, configured_batch=3,
                              speedups=speedups_spec(channels_last=True), device="cpu", precision="fp32",
                              out_record=tmp_path / "t.json")  # fmt: skip
    assert out["speedups"] == "channels_last"


def test_compile_compiles_the_unet_and_keeps_its_images(monkeypatch):
    # Compiling costs a minute on a CPU; what is ours to test is that the UNet is the module
    # compiled and still gives its images (torch.compile's own results are torch's to test).
    compiled = []

    def fake_compile(fn, *args, **kwargs):
        compiled.append(fn.__self__)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = random_model("latent")
    template = make_scheduler(SAMPLER_SPECS["ddim"], model.scheduler)
    before, _ = generate(model, Sampler(template), 2, [0, 1], 2, CPU)
    assert apply_speedups(model, speedups_spec(compile=True)) == "compile"
    assert compiled == [model.unet]
    after, _ = generate(model, Sampler(template), 2, [0, 1], 2, CPU)
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("name", sorted(SAMPLER_SPECS))
def test_warm_up_calls_the_unet_as_sampling_will(name):
    # torch.compile compiles again for an input shape or timestep type it has not seen: the untimed
    # warm-up must have seen every one that the timed sampling passes (each batch size, 0-d timesteps
    # of the sampler's dtype), or compilation is counted as sampling time.
    model = random_model("latent")
    template = make_scheduler(SAMPLER_SPECS[name], model.scheduler)
    calls = []

    def record(_, args):
        x, t = args
        calls.append((tuple(x.shape), x.dtype, tuple(t.shape), t.dtype, t.device))

    model.unet.register_forward_pre_hook(record)
    seeds = list(range(5))
    warm_up(model, Sampler(template), 3, batch_sizes_of(len(seeds), 2), CPU, torch.float32)
    assert len(calls) == 2  # one call per batch size (2 and 1): nothing to record without CUDA graphs
    warmed = set(calls)
    calls.clear()
    generate(model, Sampler(template, step_kwargs(SAMPLER_SPECS[name])), 3, seeds, 2, CPU)
    assert {c[0][0] for c in calls} == {2, 1} and set(calls) <= warmed
    assert batch_sizes_of(4, 2) == {2} and batch_sizes_of(1, 8) == {1}
    # CUDA graphs: the second call per batch size records the graph
    assert warm_up_calls(speedups_spec()) == 1 and warm_up_calls(speedups_spec(compile=True, cuda_graphs=True)) == 2
    calls.clear()
    warm_up(model, Sampler(template), 3, {2}, CPU, torch.float32, unet_calls=2)
    assert len(calls) == 2


def test_channels_last_puts_every_convolution_in_nhwc():
    model = random_model("latent")
    assert apply_speedups(model, speedups_spec(channels_last=True)) == "channels_last"
    modules = [*model.unet.modules(), *model.autoencoder.modules()]
    weights = [m.weight for m in modules if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)


def test_attention_runs_the_classic_kernel_unless_fused_attention_is_on():
    from diffusers.models.attention_processor import AttnAddedKVProcessor, AttnProcessor, AttnProcessor2_0

    from diffbench.models.attention import set_attention

    def processors(model):
        modules = [*model.unet.modules(), *model.autoencoder.modules()]
        return [type(m.processor) for m in modules if hasattr(m, "set_processor")]

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=4, in_channels=2, out_channels=2, block_out_channels=(8, 8), layers_per_block=1,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"), norm_num_groups=4, attention_head_dim=4,
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"))  # fmt: skip
    model = DiffusionModel(unet, DDPMScheduler(num_train_timesteps=50), tiny_vq())
    model.autoencoder.register_to_config(scaling_factor=0.7)
    assert set(processors(model)) == {AttnProcessor2_0}  # diffusers' own default: fused
    template = make_scheduler(SAMPLER_SPECS["ddim"], model.scheduler)
    fused, _ = generate(model, Sampler(template), 3, [0, 1], 2, CPU)
    assert apply_speedups(model, speedups_spec()) == "none"
    assert len(processors(model)) >= 4 and set(processors(model)) == {AttnProcessor}  # UNet's and VQ's layers
    classic, _ = generate(model, Sampler(template), 3, [0, 1], 2, CPU)
    # Another summation order in float32 over three steps and a decode: a uint8 level at most.
    assert np.abs(fused.astype(int) - classic.astype(int)).max() <= 1
    assert apply_speedups(model, speedups_spec(fused_attention=True)) == "fused_attention"
    assert set(processors(model)) == {AttnProcessor2_0}
    model.unet.down_blocks[1].attentions[0].set_processor(AttnAddedKVProcessor())
    with pytest.raises(ValueError, match=r"UNet2DModel has attention processors \['AttnAddedKVProcessor'\]"):
        set_attention(model.unet, fused=False)


def test_cuda_graphs_clone_each_output_out_of_the_graph_and_start_a_step(monkeypatch):
    # Graph replays are torch's to test (the cuda-marked test below runs them); ours is the call
    # around them: reduce-overhead mode, a new step per call, outputs copied out of the static buffer.
    from diffusers.models.unets.unet_2d import UNet2DOutput

    from diffbench.sampling.speedups import _graph_unet

    static, modes, steps = torch.ones(2, 3, 8, 8), [], []

    def fake_compile(fn, mode=None):
        modes.append(mode)
        return lambda *args, return_dict=True, **kwargs: UNet2DOutput(sample=static) if return_dict else (static,)

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    unet = tiny_unet()
    _graph_unet(unet)
    out, (tupled,) = unet(torch.zeros(2, 3, 8, 8), 1).sample, unet(torch.zeros(2, 3, 8, 8), 1, return_dict=False)
    assert modes == ["reduce-overhead"] and len(steps) == 2
    for copy in (out, tupled):
        assert torch.equal(copy, static) and copy.data_ptr() != static.data_ptr()


def test_cuda_graphs_are_refused_off_cuda():
    with pytest.raises(ConfigError, match=r"'sampling.speedups.cuda_graphs' \(running on cpu\): CUDA graphs need"):
        apply_speedups(random_model(), speedups_spec(compile=True, cuda_graphs=True))


@needs_cuda
def test_cuda_graphs_replay_the_compiled_unets_images():
    from diffbench.runtime import allow_tf32

    cuda = torch.device("cuda")
    allow_tf32(False)  # strict float32, as the jobs run: the two differ by inductor's rounding only
    for name in ("ddim", "dpm_solver_pp"):  # DPM-Solver++ keeps earlier outputs across steps
        plain, graphed = (random_model("latent").to(cuda) for _ in range(2))
        apply_speedups(plain, speedups_spec())
        graphed_on = speedups_spec(cuda_graphs=True)
        apply_speedups(graphed, graphed_on)
        template = make_scheduler(SAMPLER_SPECS[name], plain.scheduler)
        seeds = [0, 1, 2]
        warm_up(
            graphed, Sampler(template), 4, batch_sizes_of(len(seeds), 2), cuda, torch.float32, warm_up_calls(graphed_on)
        )
        expected, _ = generate(plain, Sampler(template), 4, seeds, 2, cuda)
        first, _ = generate(graphed, Sampler(template), 4, seeds, 2, cuda)
        again, _ = generate(graphed, Sampler(template), 4, seeds, 2, cuda)
        np.testing.assert_array_equal(first, again)  # replays are deterministic
        assert np.abs(first.astype(int) - expected.astype(int)).max() <= 1  # inductor's kernels round differently
