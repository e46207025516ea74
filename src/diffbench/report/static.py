"""Static copies of the report's figures for papers (SVG/PNG/PDF through kaleido).

kaleido drives a Chrome or Chromium it finds on the machine. Where none can render, the
report still builds and says why the static figures are missing; nothing is silently dropped.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio


def write_static(figures: dict[str, go.Figure], formats: list[str], out_dir: str | Path) -> dict:
    """Write every figure in every format; returns {"formats", "written": [names], "error": str | None}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"formats": formats, "written": [], "error": None}
    if not formats or not figures:
        return result
    jobs = [(name, fmt) for name in figures for fmt in formats]
    try:
        # Rendered into a temporary folder, then renamed: a failed render leaves no partial file.
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".static.") as tmp:
            paths = [Path(tmp) / f"{name}.{fmt}" for name, fmt in jobs]
            # One call renders all figures with one browser: far faster than one call per figure.
            pio.write_images(
                [figures[name] for name, _ in jobs],
                paths,
                format=[fmt for _, fmt in jobs],
                width=900,
                height=500,
                scale=2,
            )
            for path in paths:
                os.replace(path, out_dir / path.name)
                result["written"].append(path.name)
    except Exception as err:  # kaleido raises its own types when no browser can start
        result["error"] = (
            f"kaleido could not render static figures ({type(err).__name__}: {err}). Install Chrome "
            "or Chromium (e.g. `apt-get install chromium`, or `plotly_get_chrome`), or set "
            "'report.static_formats: []' to skip them."
        )
    return result
