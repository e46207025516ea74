"""The rule scripts' job wrapper: its log, the size of its thread pools and the process's end."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from diffbench.errors import ConfigError
from diffbench.jobs import end_process, job


def blas_threads() -> list[int]:
    """The thread counts of the BLAS libraries loaded in this process (numpy's among them)."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_a_job_sizes_the_loaded_blas_pools_to_its_threads_and_restores_them(tmp_path, monkeypatch):
    """numpy is loaded before the job starts (the scripts import their stage first), so the
    environment variables alone would come too late for its BLAS pool."""
    for pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(pool, raising=False)
    np.linalg.svd(np.eye(4))  # numpy's BLAS is loaded
    with threadpool_limits(limits=2):  # a pool of 2 on any machine, as a 2-core job's default
        assert blas_threads() and set(blas_threads()) == {2}
        with job(tmp_path / "job.log", threads=1):
            inside = blas_threads()
            environment = {pool: os.environ[pool] for pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        assert set(blas_threads()) == {2}  # restored for whatever runs after the job
    assert set(inside) == {1}
    assert environment == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def test_a_job_logs_its_output_and_a_user_error_as_its_last_line(tmp_path, capsys):
    log = tmp_path / "logs" / "job.log"
    # pytest's capture off: the job redirects the process's stdout and stderr, as in a rule's script
    with capsys.disabled(), pytest.raises(ConfigError), job(log, threads=1):
        print("working")
        raise ConfigError("config key 'x' is wrong.")
    assert log.read_text().splitlines()[-2:] == ["working", "error: config key 'x' is wrong."]


def test_end_process_flushes_what_the_job_wrote_and_skips_the_teardown(tmp_path):
    """A rule script's last call: its output reaches the log and the pipe (block-buffered), and the
    exit status is 0, while an atexit hook, part of the interpreter's teardown, does not run."""
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(f"""
            import atexit, logging, sys
            from diffbench.jobs import {end_process.__name__}, job
            atexit.register(print, "teardown ran")
            with job(sys.argv[1], threads=1):
                print("in the log")
                logging.getLogger("stage").info("logged")
            print("after the job", end="")
            {end_process.__name__}()
            print("never")
        """)
    )
    log = tmp_path / "job.log"
    done = subprocess.run([sys.executable, str(script), str(log)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "after the job", "")
    assert log.read_text().splitlines() == ["in the log", "INFO:stage:logged"]
