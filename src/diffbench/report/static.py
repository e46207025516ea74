"""Static copies of the report's figures for papers (SVG/PNG/PDF through kaleido).

kaleido drives a Chrome or Chromium it finds on the machine. Where none can render, or a figure
fails to render, the report still builds and says why the static figures are missing; nothing is
silently dropped.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import kaleido
import plotly.graph_objects as go
import plotly.io as pio
from kaleido.errors import ChromeNotFoundError

# kaleido's default gives up on a figure after 90 s; on a loaded 2-core machine one render can take
# longer. Ten minutes still ends a hung browser.
RENDER_TIMEOUT_S = 600.0


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
            # kaleido is called directly, not through plotly.io.write_images, which drops the
            # errors kaleido returns (a timed-out figure would just be missing).
            errors = kaleido.write_fig_from_object_sync(
                [_spec(figures[name], path, fmt) for (name, fmt), path in zip(jobs, paths, strict=True)],
                kopts=_kaleido_options(),
            )
            if errors:
                raise errors[0]
            missing = [path.name for path in paths if not path.exists()]
            if missing:
                raise RuntimeError(f"no file was written for {', '.join(missing)}")
            for path in paths:
                os.replace(path, out_dir / path.name)
                result["written"].append(path.name)
    except ChromeNotFoundError as err:
        result["error"] = (
            f"kaleido could not render static figures ({type(err).__name__}: {err}). Install Chrome "
            "or Chromium (e.g. `apt-get install chromium`, or `plotly_get_chrome`), or set "
            "'report.static_formats: []' to skip them."
        )
    except Exception as err:  # kaleido's own types: a browser that failed, a figure that timed out
        result["error"] = (
            f"kaleido could not render static figures ({type(err).__name__}: {err}); building the "
            "report again retries them, and 'report.static_formats: []' skips them."
        )
    return result


def _spec(figure: go.Figure, path: Path, fmt: str) -> dict:
    """kaleido's description of one render, with plotly.io's defaults where it has them."""
    options = {"format": fmt, "width": 900, "height": 500, "scale": 2}
    return {"fig": figure.to_dict(), "path": path, "opts": options, "topojson": pio.defaults.topojson}


def _kaleido_options() -> dict:
    options = {"timeout": RENDER_TIMEOUT_S}
    for key in ("plotlyjs", "mathjax"):
        if getattr(pio.defaults, key, None):
            options[key] = getattr(pio.defaults, key)
    return options
