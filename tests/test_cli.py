import json
import subprocess
import sys

import yaml

from helpers import TINY_CONFIG


def diffbench(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "diffbench.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True
    )


def test_validate_prints_the_filled_config(tmp_path):
    result = diffbench("validate", TINY_CONFIG, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["models"]["kl"]["autoencoder"]["kl_weight"] == 1e-6


def test_bad_config_exits_2_naming_the_key(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["sampling"]["samplers"]["ddim"]["type"] = "plms"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = diffbench("runs", "-c", tmp_path / "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "config key 'sampling.samplers.ddim.type': 'plms' is not one of" in result.stderr


def test_stages_by_hand(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"] = {"pix": config["models"]["pix"]}
    config["sampling"].update(num_samples=3, images_per_shard=None, steps=[2])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    for args in (
        ["prepare-data", "tiny"],
        ["train", "pix"],
        ["sample", "pix", "heun", 2],
        ["merge-samples", "pix", "heun", 2],
    ):
        result = diffbench(*args, "-c", "c.yaml", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "results/samples/pix/heun/2/sampling.json").read_text())
    assert record["num_images"] == 3 and record["nfe_per_image"] == 3
    runs = diffbench("runs", "-c", "c.yaml", cwd=tmp_path).stdout.splitlines()
    assert runs == ["pix\tddim\t2\t1 shard(s)", "pix\theun\t2\t1 shard(s)"]
