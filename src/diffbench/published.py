"""Published numbers (config/published/*.yaml) and how a run's protocol differs from theirs.

A file holds one paper's reported values, each with the protocol it was measured with. A run
matches an entry when its model is the entry's public checkpoint (`pretrained.id`); of the entries
for that checkpoint it is put beside the one whose protocol differs from its own in the fewest
items, and every differing item is listed, so a mismatch is never hidden.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from diffbench.errors import ConfigError

# Default equivalence margin of a published file (its schema's default).
DEFAULT_MARGIN = 0.1


@dataclass(frozen=True)
class ProtocolItem:
    label: str  # as the report names it
    entry_key: str  # the key of a published entry ("sampler.eta": inside `sampler`)
    run_key: str  # the key of a run's protocol (run_protocol)


# References that are a seeded draw from the source (evaluation.reference), so never the images a
# paper drew; `full` is every image of the source, the same images wherever the source is the same.
DRAWN_REFERENCES = ("heldout", "train")

# The protocol items compared, in the order the report lists differences.
PROTOCOL = (
    ProtocolItem("N", "num_samples", "num_samples"),
    ProtocolItem("reference", "reference", "reference"),
    ProtocolItem("reference images", "reference_images", "reference_images"),
    ProtocolItem("sampler", "sampler.type", "sampler_type"),
    ProtocolItem("steps", "steps", "steps"),
    ProtocolItem("spacing", "sampler.timestep_spacing", "timestep_spacing"),
    ProtocolItem("steps offset", "sampler.steps_offset", "steps_offset"),
    ProtocolItem("eta", "sampler.eta", "eta"),
    ProtocolItem("x0 clipping", "sampler.clip_sample", "clip_sample"),
    ProtocolItem("variance", "sampler.variance_type", "variance_type"),
    ProtocolItem("precision", "precision", "precision"),
    ProtocolItem("resize", "resize", "resize"),
    ProtocolItem("features", "feature_extractor", "feature_extractor"),
)


@dataclass(frozen=True)
class Published:
    paper: str
    link: str
    source: str  # the file it was read from
    entry: dict
    margin: float = DEFAULT_MARGIN  # equivalence_margin of its file, a share of the value

    def value_of(self, key: str):
        """An entry key, "sampler.eta" style; None when the paper does not state it."""
        node = self.entry
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node


def difference_interval(estimate: float, low: float, high: float, published: float) -> tuple[float, float]:
    """The interval of ours - published from ours, [low, high] around `estimate`: sqrt(2) times as wide,
    because the published value, measured with the same protocol (a verdict needs every stated item
    equal, N and the reference included), carries the same sampling noise as ours, though the paper
    gives no interval for it. Taking it as exact called a reproduction whose true value sits at the
    margin "reproduced" 5-8 % of the time at nominal 2.5 % (benchmarks/reproduction_truth.py). It
    assumes one draw: a published mean over several sample sets has less noise (this is then wide).
    Both references must be the same images (`full`: every image of the source); a drawn reference
    (heldout, train) is a protocol difference (`differences`), so its missing noise never decides."""
    widen = math.sqrt(2)
    return estimate - published - widen * (estimate - low), estimate - published + widen * (high - estimate)


def reproduction(estimate: float, low: float, high: float, published: float, margin: float) -> str | None:
    """Equivalence test (two one-sided tests, each at (1 - level) / 2) of ours against a published
    value: "reproduced" when the interval of ours - published (difference_interval) lies within
    +-margin x published, "not reproduced" when it lies wholly outside that band, else
    "inconclusive"; None without an interval."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return None
    band = margin * abs(published)
    lower, upper = difference_interval(estimate, low, high, published)
    if -band <= lower and upper <= band:
        return "reproduced"
    if upper < -band or lower > band:
        return "not reproduced"
    return "inconclusive"


def _schema() -> dict:
    return yaml.safe_load(resources.files("diffbench").joinpath("schemas/published.schema.yaml").read_text())


def published_files(setting: Sequence[str] | None, workflow_dir: str | Path) -> list[str]:
    """report.published: the files given, or (null) every file under the workflow's config/published/."""
    if setting is not None:
        return [str(p) for p in setting]
    return sorted(str(p) for p in (Path(workflow_dir) / "config" / "published").glob("*.yaml"))


def load_published(paths: list[str | Path]) -> list[Published]:
    """Every entry of the files, validated; a bad file is a ConfigError naming it and the key."""
    validator = jsonschema.Draft202012Validator(_schema())
    entries = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"published numbers file {path} does not exist (config key 'report.published').")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"published numbers file {path} is not valid YAML: {err}") from err
        errors = sorted(validator.iter_errors(data), key=lambda e: -len(e.absolute_path))
        if errors:
            key = ".".join(str(p) for p in errors[0].absolute_path) or "<top level>"
            raise ConfigError(f"published numbers file {path}, key '{key}': {errors[0].message}.")
        margin = float(data.get("equivalence_margin", DEFAULT_MARGIN))
        entries += [Published(data["paper"], data["link"], str(path), entry, margin) for entry in data["entries"]]
    return entries


def differences(published: Published, protocol: dict) -> list[str]:
    """'item: ours X vs paper Y' for every protocol item the paper states and the run does otherwise."""
    found = []
    for item in PROTOCOL:
        theirs = published.value_of(item.entry_key)
        ours = protocol.get(item.run_key)
        if theirs is not None and not _same(ours, theirs):
            found.append(f"{item.label}: ours {_show(ours)} vs paper {_show(theirs)}")
    if published.value_of("reference") in DRAWN_REFERENCES and protocol.get("reference") in DRAWN_REFERENCES:
        # Equal names and counts, yet not the same images: ours are a seeded draw from the source, the
        # paper's its own. Each draw moves FID by its own reference noise, which our interval (the
        # generated set's, against our reference) does not hold: no verdict rests on it.
        found.append(
            f"reference images: ours a seeded {protocol['reference']} split of the source, the paper's its own"
        )
    return found


def closest(entries: list[Published], protocol: dict) -> tuple[Published, list[str]] | None:
    """The entry for the run's checkpoint with the fewest protocol differences (the first of a tie),
    and those differences; None when no entry is for this checkpoint."""
    candidates = [e for e in entries if protocol.get("model_id") and e.entry["model_id"] == protocol["model_id"]]
    if not candidates:
        return None
    scored = [(len(diff), i, e, diff) for i, e in enumerate(candidates) for diff in [differences(e, protocol)]]
    _, _, entry, diff = min(scored, key=lambda s: (s[0], s[1]))
    return entry, diff


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _same(ours, theirs) -> bool:
    if _number(ours) and _number(theirs):
        return abs(float(ours) - float(theirs)) <= 1e-9 * max(1.0, abs(float(theirs)))
    return type(ours) is type(theirs) and ours == theirs


def _show(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return str(value)
