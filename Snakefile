# diffbench: at a given compute budget, how do latent diffusion models compare with
# pixel-space ones in sample quality? See README.md.
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The workflow's logic is the diffbench package in src/; make it importable here and in every
# job, whatever environment runs it (venv, conda env per rule, cluster node).
_src = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _src)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_src, os.getenv("PYTHONPATH")) if p))


# The default experiment, unless --configfile names another one: an experiment file is complete
# on its own, not merged into the default (--config KEY=VALUE still overrides single keys).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/assets.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/distribution.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/reconstruction.smk"
include: "workflow/rules/human_eval.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
