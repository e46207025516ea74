"""What a sampling config may ask for: the sampler types, the scheduler settings each type takes,
its step options, and what a speed-up needs.

Plain data with no imports, so that config validation (a lower layer, run when the Snakefile is
parsed) checks a sampler entry against the same facts the sampler registry (schedulers.py) is built
from. tests/test_sampling.py checks these against the diffusers schedulers' signatures and the
registry, and tests/test_config.py the schemas' enums against SAMPLER_TYPES.
"""

# Config `type` -> the diffusers scheduler it runs (schedulers.SAMPLERS holds the classes).
SAMPLER_TYPES = ("ddpm", "ddim", "dpm_solver_pp", "euler", "heun")

# Scheduler settings a sampler entry may set, and the sampler types whose scheduler has them.
SAMPLER_SETTING_TYPES = {
    "timestep_spacing": {"ddpm", "ddim", "dpm_solver_pp", "euler", "heun"},
    "steps_offset": {"ddpm", "ddim", "dpm_solver_pp", "euler", "heun"},
    "clip_sample": {"ddpm", "ddim", "dpm_solver_pp", "heun"},
    "set_alpha_to_one": {"ddim"},
    "variance_type": {"ddpm"},
    "solver_order": {"dpm_solver_pp"},
}

# Sampler entry keys passed to scheduler.step() rather than to the scheduler's config.
STEP_OPTIONS = {"ddim": ("eta",)}

# `sampling.step_noise`: where stochastic steps draw their noise (schedulers.Sampler.noise_on).
STEP_NOISE = ("cpu", "device")

CUDA_GRAPHS_NEED = "CUDA graphs need device: cuda (on a CPU, compile alone is the nearest option)"
