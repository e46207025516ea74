"""Images per second of diffbench's sampler against diffusers' own pipelines, in one process.

The reference is what a user would call: DDIMPipeline and DDPMPipeline for the pixel model, and
LDMPipeline (diffusers' denoise-then-decode loop) for the latent model, each given one CPU
generator per image (diffusers' way to seed images independently of the batch). Ours is
`diffbench.sampling.sampler.generate` with the same UNet, schedule, steps, batch and seeds. Both
sample the default experiment's models (config/config.yaml; random weights: the cost does not
depend on them), and the images are compared: DDIM is deterministic after the initial noise, so
the two must agree exactly. DDPM runs twice: with `step_noise: cpu` its per-step noise comes from
the same per-image CPU generators in the same order as the pipeline's, so the images must agree;
with `step_noise: device` (the default) it is drawn by per-image generators on the device, which
on a GPU saves the pipeline's host-to-device copy per step and gives other (equally seeded)
images; on a CPU the two settings are the same arithmetic. On a GPU ours also skips the
read-back of the timestep that diffusers' DDPM and DDIM steps make at every step
(sampling/host_schedule.py: the same arithmetic on the same values).
Both run the same modules, as the workflow samples with them (every sampling.speedups option
off, so attention layers on diffusers' classic kernel, not the fused one diffusers picks by
default: --speedups fused_attention times that one). In bf16/fp16 the images differ: the
pipelines draw the noise in the UNet's dtype and keep the sampler's state there, ours draws in
float32 and keeps the state in float32; LDMPipeline cannot run a reduced-precision UNet at all
(it feeds it float32 latents), so that case has no reference.

    .venv/bin/python benchmarks/sampling.py [--device cuda] [--precision bf16] [--images 64]
                                            [--speedups channels_last,compile,fused_attention,cuda_graphs]

Prints images/s of both and their ratio per case; record the output in benchmarks/RESULTS.md.
With --speedups, ours is also timed with those sampling.speedups on (after an untimed warm-up
that compiles), against ours without them, and says whether the images stay identical: the test
an option must pass before it becomes a default.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import platform
import time
from functools import partial

import diffusers
import numpy as np
import torch
from diffusers import DDIMPipeline, DDIMScheduler, DDPMPipeline, DDPMScheduler, LDMPipeline

from diffbench.config import filled, load_config
from diffbench.models.autoencoders import AUTOENCODERS
from diffbench.models.build import build_noise_scheduler, build_unet, unet_input
from diffbench.models.diffusion_model import DiffusionModel
from diffbench.runtime import DTYPES, use_precision
from diffbench.sampling.sampler import generate
from diffbench.sampling.schedulers import Sampler
from diffbench.sampling.speedups import apply_speedups, speedups_label
from diffbench.specs import SCHEMA_SECTIONS, DatasetSpec, ModelSpec, SamplerSpec, SpeedupsSpec


def build(config: dict, name: str) -> DiffusionModel:
    spec = ModelSpec.of(config["models"][name])
    dataset = DatasetSpec.of(config["datasets"][spec.dataset])
    torch.manual_seed(0)
    channels, side = unet_input(spec, dataset)
    autoencoder = None
    if spec.latent:
        autoencoder = AUTOENCODERS[spec.autoencoder.type].build(spec.autoencoder, dataset.channels, dataset.resolution)
        autoencoder.register_to_config(scaling_factor=0.5)
    return DiffusionModel(
        build_unet(spec.unet, channels, side),
        # a random first stage has no training latents to take a range from: its x0 is left unclamped
        build_noise_scheduler(spec.diffusion, None if spec.latent else 1.0),
        autoencoder,
    )


def reference_pipeline(model: DiffusionModel, sampler: dict, template):
    """diffusers' pipeline for the case, on diffusers' own scheduler class with our settings."""
    if sampler.type == "ddpm":
        return DDPMPipeline(unet=model.unet, scheduler=DDPMScheduler.from_config(template.config)), {}
    scheduler = DDIMScheduler.from_config(template.config)
    if model.autoencoder is None:
        return DDIMPipeline(unet=model.unet, scheduler=scheduler), {"eta": sampler.eta}
    return LDMPipeline(vqvae=model.autoencoder, unet=model.unet, scheduler=scheduler), {"eta": sampler.eta}


def run_reference(pipeline, kwargs, steps, seeds, batch, device) -> np.ndarray:
    out = []
    for start in range(0, len(seeds), batch):
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds[start : start + batch]]
        images = pipeline(batch_size=len(generators), generator=generators, num_inference_steps=steps,
                          output_type="pt", **kwargs).images  # fmt: skip
        if isinstance(images, torch.Tensor):  # "pt": numpy has no bfloat16, so convert here
            images = images.float().cpu().permute(0, 2, 3, 1).numpy()
        out.append((images * 255).round().astype(np.uint8))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return np.concatenate(out)


def agreement(a: np.ndarray, b: np.ndarray) -> str:
    return "identical" if np.array_equal(a, b) else f"differ: max {np.abs(a.astype(int) - b).max()} levels"


def timed(fn, repeats: int) -> tuple[float, object]:
    """The best of `repeats` wall times (the least disturbed run) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--speedups", default="", help="comma-separated sampling.speedups to time, e.g. compile")
    args = parser.parse_args()
    chosen = {name: True for name in args.speedups.split(",") if name}
    speedups = SpeedupsSpec.of(filled(SCHEMA_SECTIONS[SpeedupsSpec], chosen))  # an unknown name: ConfigError
    label = speedups_label(speedups)
    diffusers.utils.logging.set_verbosity_error()  # not the cast warnings of .to(dtype), once per model
    device = torch.device(args.device)
    dtype = use_precision(args.precision, device)  # fp32 strict (no TF32), as in the workflow's jobs
    config = load_config(args.config)
    batch = config["sampling"]["batch_size"]
    seeds = list(range(args.images))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device.type} ({name}), {torch.get_num_threads()} CPU threads, {args.precision}; torch "
          f"{torch.__version__}, diffusers {diffusers.__version__}; {args.images} images, batch {batch}")  # fmt: skip
    header = f"{'case':<32}{'reference img/s':>16}{'ours img/s':>12}{'ours / ref':>12}  {'images':<24}"
    print(header + (f"{'+' + label + ' img/s':>24}{'gain':>8}  images" if chosen else ""))
    ddim = SamplerSpec.of(filled(SCHEMA_SECTIONS[SamplerSpec], {"type": "ddim", "timestep_spacing": "trailing"}))
    ddpm = dataclasses.replace(ddim, type="ddpm")
    cases = [  # model, label, sampler, steps, step_noise
        ("pixel", "ddim 10", ddim, 10, "device"),
        ("pixel", "ddpm 50 noise:cpu", ddpm, 50, "cpu"),
        ("pixel", "ddpm 50 noise:dev", ddpm, 50, "device"),
        ("latent_kl_f2", "ddim 10", ddim, 10, "device"),
    ]
    none_on = SpeedupsSpec.of(filled(SCHEMA_SECTIONS[SpeedupsSpec], {}))
    for model_name, case, sampler, steps, step_noise in cases:
        model = build(config, model_name).to(device, dtype)
        apply_speedups(model, none_on)  # as the workflow samples (every speedup off), for both: the same UNet
        on_model = Sampler.of(sampler, model.scheduler, step_noise)
        pipeline, kwargs = reference_pipeline(model, sampler, on_model.scheduler)
        pipeline.set_progress_bar_config(disable=True)
        ours_fn = partial(generate, model, on_model, steps, seeds, batch, device, dtype)
        ours_fn()  # warm-up: allocator, kernels
        ours_s, (our_images, _) = timed(ours_fn, args.repeats)
        row = f"{model_name + ' ' + case:<32}"
        if model.autoencoder is not None and dtype != torch.float32:
            # LDMPipeline feeds float32 latents to the UNet and returns numpy: fp32 only.
            row += f"{'n/a':>16}{len(seeds) / ours_s:>12.1f}{'n/a':>12}  {'LDMPipeline: fp32 only':<24}"
        else:
            ref_fn = partial(run_reference, pipeline, kwargs, steps, seeds, batch, device)
            ref_fn()  # warm-up
            ref_s, ref_images = timed(ref_fn, args.repeats)
            row += (f"{len(seeds) / ref_s:>16.1f}{len(seeds) / ours_s:>12.1f}{ref_s / ours_s:>12.2f}  "
                    f"{agreement(ref_images, our_images):<24}")  # fmt: skip
        if chosen:
            fast = copy.deepcopy(model)
            apply_speedups(fast, speedups)
            fast_fn = partial(generate, fast, on_model, steps, seeds, batch, device, dtype)
            fast_fn()  # warm-up: compilation
            fast_s, (fast_images, _) = timed(fast_fn, args.repeats)
            row += f"{len(seeds) / fast_s:>24.1f}{ours_s / fast_s:>8.2f}  {agreement(our_images, fast_images)}"
        print(row)


if __name__ == "__main__":
    main()
