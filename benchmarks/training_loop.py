"""Training steps per second of diffbench's loop against a bare loop and the loop it replaced.

The bare loop is the same arithmetic with nothing else: the same UNet, AdamW with the same
warm-up schedule, batch, noise and EMA, written as the eight lines a user would write, no loss
record, budget checks, FLOP counting, progress bar or checkpointing; ours over it is the loop's
overhead (target: at most 5 %).

The reference is how the loop ran before (issue 12): the loss read back with `.item()` every step
(the host waits for the device after each step), training noise drawn on the CPU and copied to
the device, and diffusers' EMA updating parameter by parameter in Python. Ours: losses read back
every `log_every` steps, noise drawn on the device, EMA with foreach. Both run the real
`diffbench.training.loop.fit` on the default experiment's UNets (config/config.yaml): the pixel
model on 16x16x3 images and the latent models on 8x8x4 (f = 2) and 4x4x4 (f = 4) latents.

    .venv/bin/python benchmarks/training_loop.py [--device cuda] [--steps 300] [--repeats 2]

Prints steps/s of both and their ratio per model; record the output in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import diffusers
import torch
import torch.nn.functional as F
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel

from diffbench.config import load_config
from diffbench.models.build import build_noise_scheduler, build_unet
from diffbench.runtime import allow_tf32, synchronize
from diffbench.specs import ModelSpec
from diffbench.training.loop import FUSED_ADAMW_DEVICES, fit

SHAPES = {"pixel": (3, 16), "latent_kl_f2": (4, 8)}  # the default experiment's models


def steps_per_second(
    model_spec: ModelSpec, shape: tuple[int, int], device: torch.device, steps: int, ours: bool
) -> float:
    channels, side = shape
    torch.manual_seed(0)
    unet = build_unet(model_spec.unet, channels, side).to(device).train()
    scheduler = build_noise_scheduler(model_spec.diffusion, None)  # the x0 clamp is for sampling only
    data = torch.randn(2048, channels, side, side, device=device)

    def loss_fn(indices, generator, step):
        x0 = data[indices.to(device)]
        if ours:  # noise drawn where it is used
            noise = torch.randn(x0.shape, generator=generator, device=generator.device)
            t = torch.randint(0, 1000, (len(x0),), generator=generator, device=generator.device)
        else:  # the reference: drawn on the CPU, then copied
            cpu = torch.Generator("cpu").manual_seed(len(indices))
            noise = torch.randn(x0.shape, generator=cpu).to(device)
            t = torch.randint(0, 1000, (len(x0),), generator=cpu).to(device)
        return F.mse_loss(unet(scheduler.add_noise(x0, noise, t), t).sample, noise), {}

    ema = EMAModel(unet.parameters(), decay=0.999, use_ema_warmup=True, power=3 / 4, foreach=ours)
    # Ours reads losses back as the config says (training.log_every); the reference every step.
    log_every = model_spec.training.log_every if ours else 1
    spec = replace(model_spec.training, max_steps=steps, max_seconds=None, max_gflops=None, log_every=log_every)
    kwargs = dict(
        parameters=list(unet.parameters()),
        loss_fn=loss_fn,
        num_images=len(data),
        device=device,
        precision="fp32",
        description="benchmark",
        after_step=lambda: ema.step(unet.parameters()),
    )
    fit(spec=replace(spec, max_steps=10), **kwargs)  # warm-up: allocator, kernels, autotuning
    start = time.perf_counter()
    fit(spec=spec, **kwargs)
    return steps / (time.perf_counter() - start)


def bare_steps_per_second(model_spec: ModelSpec, shape: tuple[int, int], device: torch.device, steps: int) -> float:
    channels, side = shape
    torch.manual_seed(0)
    unet = build_unet(model_spec.unet, channels, side).to(device).train()
    scheduler = build_noise_scheduler(model_spec.diffusion, None)  # the x0 clamp is for sampling only
    data = torch.randn(2048, channels, side, side, device=device)
    training = model_spec.training
    fused = device.type in FUSED_ADAMW_DEVICES or None  # as the loop's: the same arithmetic
    optimizer = torch.optim.AdamW(unet.parameters(), lr=training.learning_rate, fused=fused)
    schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=training.warmup_steps)
    ema = EMAModel(unet.parameters(), decay=0.999, use_ema_warmup=True, power=3 / 4, foreach=True)
    noise_generator = torch.Generator(device).manual_seed(0)
    batch = training.batch_size

    def run(n: int) -> None:
        for _ in range(n):
            x0 = data[torch.randint(0, len(data), (batch,), device=device)]
            noise = torch.randn(x0.shape, generator=noise_generator, device=device)
            t = torch.randint(0, 1000, (batch,), generator=noise_generator, device=device)
            optimizer.zero_grad(set_to_none=True)
            F.mse_loss(unet(scheduler.add_noise(x0, noise, t), t).sample, noise).backward()
            optimizer.step()
            schedule.step()
            ema.step(unet.parameters())
        synchronize(device)

    run(10)  # warm-up, as for the others
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each loop per model; the best counts")
    args = parser.parse_args()
    device = torch.device(args.device)
    allow_tf32(False)  # strict float32 for both loops, as precision fp32 trains in the workflow
    config = load_config(args.config)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    batch = config["models"]["pixel"]["training"]["batch_size"]
    print(
        f"device {device.type} ({name}), {torch.get_num_threads()} CPU threads; torch {torch.__version__}, "
        f"diffusers {diffusers.__version__}; {args.steps} steps of batch {batch}"
    )
    print(f"{'model':<14} {'bare steps/s':>13} {'replaced steps/s':>17} {'ours steps/s':>13} "
          f"{'ours / bare':>12} {'ours / replaced':>16}")  # fmt: skip
    for model, shape in SHAPES.items():
        spec = ModelSpec.of(config["models"][model])
        # Alternate the three so that slow drift of the machine affects them alike.
        bare, replaced, ours = [], [], []
        for _ in range(args.repeats):
            bare.append(bare_steps_per_second(spec, shape, device, args.steps))
            replaced.append(steps_per_second(spec, shape, device, args.steps, ours=False))
            ours.append(steps_per_second(spec, shape, device, args.steps, ours=True))
        b, ref, new = max(bare), max(replaced), max(ours)
        print(f"{model:<14} {b:>13.1f} {ref:>17.1f} {new:>13.1f} {new / b:>12.2f} {new / ref:>16.2f}")


if __name__ == "__main__":
    main()
