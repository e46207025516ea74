"""Glue for Snakemake rule scripts: send a job's output to its log and size its thread pool."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diffbench.errors import UserError


@contextmanager
def job(log_path: str | Path, threads: int) -> Iterator[None]:
    """Redirect stdout/stderr (file descriptors too, so library warnings land there) to the log."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    threads = max(1, int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for torch if it is imported later
    if "torch" in sys.modules:  # merge jobs never import torch; do not pay its import here
        sys.modules["torch"].set_num_threads(threads)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("w") as log:
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
