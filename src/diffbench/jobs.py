"""Glue for Snakemake rule scripts: send a job's output to its log, size its thread pools, make float32
strict, end the process without the interpreter's teardown, and set the hub environment the workflow
gives its jobs (offline, except in the fetch rules)."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from threadpoolctl import threadpool_limits

from diffbench.errors import UserError

# The user's own HF_HUB_OFFLINE, kept while the workflow sets it to 1 for every job.
USER_HUB_OFFLINE = "DIFFBENCH_USER_HF_HUB_OFFLINE"


@contextmanager
def job(log_path: str | Path, threads: int) -> Iterator[None]:
    """Redirect stdout/stderr (file descriptors too, so library warnings land there) to the log."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    threads = max(1, int(threads))
    for pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[pool] = str(threads)  # for libraries loaded later (torch if it is imported later)
    if "torch" in sys.modules:  # merge jobs never import torch; do not pay its import here
        from diffbench.runtime import allow_tf32

        sys.modules["torch"].set_num_threads(threads)
        allow_tf32(False)  # float32 is strict unless a stage's precision is tf32 (runtime.use_precision)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    # The script imported numpy before this runs, and its BLAS sized its pool to every core. Jobs run
    # side by side, and a pool's threads then spin on cores another job holds: under two jobs on two
    # cores a 128 x 128 SVD took 0.5 s instead of 1 ms. threadpoolctl resizes the loaded pools.
    with log_path.open("w") as log, threadpool_limits(limits=threads):
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
        try:
            yield
        except UserError as err:  # the user's to fix: one clear line ends the log
            print(f"error: {err}", file=sys.stderr)
            raise
        except Exception:  # a bug: the whole traceback
            traceback.print_exc()
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def end_process() -> NoReturn:
    """End a rule script's process after its job has finished: flush, then exit without Python's
    teardown. Every rule script calls this last.

    With torch and diffusers loaded, the interpreter's teardown (clearing ~3,500 modules and ~400k
    objects) takes ~1 s, as long as the work of a small job; the default runs ~40 such jobs, half
    of them while the other core idles. Nothing is lost by skipping it: the stages close their files
    before they return and leave no thread or process of their own behind (kaleido's browser ends
    with its synchronous call). A failed job never gets here: its exception ends the script.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def hub_offline_for_jobs(environ: MutableMapping[str, str] = os.environ) -> None:
    """Make every job started from this process read the hub only from HF_HOME (the Snakefile calls
    this). The first call keeps the user's value, so a nested snakemake (a SLURM job) keeps it too."""
    environ.setdefault(USER_HUB_OFFLINE, environ.get("HF_HUB_OFFLINE", ""))
    environ["HF_HUB_OFFLINE"] = "1"


def hub_setting_for_fetch(environ: MutableMapping[str, str] = os.environ) -> None:
    """In a fetch job: the user's HF_HUB_OFFLINE again (1 there = only check the cache, never download).

    huggingface_hub reads the variable once, at import, so this runs before anything imports it.
    """
    assert environ is not os.environ or "huggingface_hub" not in sys.modules, "call before importing huggingface_hub"
    if USER_HUB_OFFLINE in environ:
        user = environ[USER_HUB_OFFLINE]
        if user:
            environ["HF_HUB_OFFLINE"] = user
        else:
            environ.pop("HF_HUB_OFFLINE", None)
