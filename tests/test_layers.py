"""The package's layering: stages over libraries over the base, no import circles.

Read from the source with ast (every import, module-level or inside a function), so a circle or an
upward import fails here before it fails anyone at run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "src" / "diffbench"

# Lower numbers are lower layers. A module may import its own layer or lower ones, never higher.
LAYERS = {
    "errors": 0,
    "io": 0,
    "precisions": 0,
    "specs": 0,  # plain frozen dataclasses, built from the validated config
    "experiment": 0,  # the whole config as one spec, with its runs and comparisons
    "config": 1,
    "sampling.options": 1,  # plain data the config checks share with the sampler registry
    "paths": 1,
    "runtime": 1,
    "jobs": 1,
    "records": 1,
    "published": 1,
    "data": 2,
    "models": 2,
    "features": 2,
    "metrics": 2,
    "docs": 2,
    "humaneval": 2,
    "sampling": 3,
    "training": 3,
    "report": 3,
    "stages": 4,
    "cli": 5,
}


def module_name(path: Path) -> str:
    parts = ("diffbench", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "diffbench":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == "diffbench"}
        graph[name] = targets - {name}
    return graph


def layer(module: str) -> int | None:
    """The layer of the longest entry of LAYERS that `module` is or lies in (a package's or a module's)."""
    parts = module.split(".")[1:]
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYERS:
            return LAYERS[".".join(parts[:end])]
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first search (each reported from where it closes)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in import_graph() if m != "diffbench" and layer(m) is None)
    assert not unplaced, f"add these to LAYERS: {unplaced}"


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_no_upward_imports():
    upward = [
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if layer(source) is not None and layer(target) is not None and layer(target) > layer(source)
    ]
    assert not upward, upward


def test_the_checks_catch_what_they_are_for():
    # A circle through two libraries and a library importing a stage, as this project once had.
    graph = {
        "diffbench.models.diffusion_model": {"diffbench.sampling.sampler"},
        "diffbench.sampling.sampler": {"diffbench.models.diffusion_model"},
        "diffbench.metrics.x": {"diffbench.stages.evaluate"},
        "diffbench.stages.evaluate": set(),
    }
    assert cycles(graph) == [
        ["diffbench.models.diffusion_model", "diffbench.sampling.sampler", "diffbench.models.diffusion_model"]
    ]
    assert layer("diffbench.stages.evaluate") > layer("diffbench.metrics.x")
    # a module's own entry wins over its package's
    assert layer("diffbench.sampling.options") < layer("diffbench.config") + 1 <= layer("diffbench.sampling.sampler")


def test_rule_script_and_stage_function_share_a_name():
    """workflow/rules/<file>.smk rule R runs workflow/scripts/R.py, which calls diffbench.stages.<file>.R."""
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text()
        for chunk in text.split("\nrule ")[1:]:
            rule = chunk.split(":", 1)[0].strip()
            script_line = next(line for line in chunk.splitlines() if "../scripts/" in line)
            assert f'"../scripts/{rule}.py"' in script_line, (rules.name, rule, script_line)
            script = (REPO / "workflow" / "scripts" / f"{rule}.py").read_text()
            assert f"from diffbench.stages.{rules.stem} import" in script and f"{rule}(" in script, (rule, script)


def test_every_rule_script_ends_its_process_without_the_teardown():
    """Its last statement is diffbench.jobs.end_process() (~1 s less per job with torch loaded)."""
    for script in (REPO / "workflow" / "scripts").glob("*.py"):
        last = ast.parse(script.read_text()).body[-1]
        assert ast.unparse(last) == "end_process()", (script.name, ast.unparse(last))


def test_no_test_module_imports_another():
    tests = REPO / "tests"
    test_modules = {p.stem for p in tests.glob("test_*.py")}
    offenders = []
    for path in tests.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in getattr(node, "names", [])]
            if isinstance(node, (ast.Import, ast.ImportFrom)) and set(names) & (test_modules | {"conftest"}):
                offenders.append(f"{path.name}: {names}")
    assert not offenders, f"shared test code belongs in tests/helpers.py: {offenders}"


# What a module must not import, and why. Snakemake parses the Snakefile once per run and once in
# every SLURM job; a job that never runs a network should not pay seconds of import for one.
LIGHT = {
    "workflow/rules/*.smk": ({"torch", "torchvision", "diffusers"}, "the Snakefile is parsed in every SLURM job"),
    "diffbench.stages.merge": ({"torch", "scipy"}, "merge jobs only join arrays"),
    "diffbench.stages.compare": ({"torch"}, "a paired FID difference needs numpy and scipy"),
    "diffbench.stages.distribution": ({"diffusers"}, "metrics from stored features load no model"),
    "diffbench.stages.evaluate": ({"diffusers"}, "feature and LPIPS jobs load no diffusion model"),
    "diffbench.stages.report": ({"torch", "diffusers"}, "the report reads records; it runs last, alone"),
}


def snakefile_imports() -> list[str]:
    """The diffbench modules the rule files import (their `from diffbench.x import` lines)."""
    modules = set()
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for line in rules.read_text().splitlines():
            if line.startswith("from diffbench"):
                modules.add(line.split()[1])
    return sorted(modules)


def imported_by(modules: list[str], watched: set[str]) -> list[str]:
    """Which of `watched` a fresh interpreter holds after importing `modules`."""
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        f"print(*sorted({watched!r} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.parametrize("entry", sorted(LIGHT))
def test_light_entry_points_stay_light(entry):
    forbidden, why = LIGHT[entry]
    modules = snakefile_imports() if entry.endswith(".smk") else [entry]
    assert imported_by(modules, forbidden) == [], f"{entry} imports {forbidden}: {why}"


def test_the_import_check_sees_an_import():
    assert imported_by(["diffbench.stages.reconstruction"], {"diffusers", "no_such_module"}) == ["diffusers"]


def test_every_package_says_what_it_holds_and_contributing_maps_every_part():
    """A package's docstring names its modules' concerns; CONTRIBUTING's map names every part."""
    undocumented = [
        p.parent.name for p in PACKAGE.glob("*/__init__.py") if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not undocumented, f"packages without a docstring: {undocumented}"
    mapped = (REPO / "CONTRIBUTING.md").read_text().split("## Where a change goes")[1].split("## ")[0]
    spellings = {name: (f"{name}/", f"{name}.py", f"{name.replace('.', '/')}.py") for name in LAYERS}
    unmapped = [name for name, ways in spellings.items() if not any(way in mapped for way in ways)]
    assert not unmapped, f"CONTRIBUTING.md's layer map leaves out {unmapped}"
