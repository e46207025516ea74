"""The package's layering: stages over libraries over the base, no import circles.

Read from the source with ast (every import, module-level or inside a function), so a circle or an
upward import fails here before it fails anyone at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "src" / "diffbench"

# Lower numbers are lower layers. A module may import its own layer or lower ones, never higher.
LAYERS = {
    "errors": 0,
    "io": 0,
    "config": 1,
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
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


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
        "diffbench.models.pipelines": {"diffbench.sampling.sampler"},
        "diffbench.sampling.sampler": {"diffbench.models.pipelines"},
        "diffbench.metrics.x": {"diffbench.stages.evaluate"},
        "diffbench.stages.evaluate": set(),
    }
    assert cycles(graph) == [["diffbench.models.pipelines", "diffbench.sampling.sampler", "diffbench.models.pipelines"]]
    assert layer("diffbench.stages.evaluate") > layer("diffbench.metrics.x")


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
