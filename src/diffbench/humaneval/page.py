"""The rating page: one self-contained HTML file (images inlined, no network request) that a rater
opens from disk, works through with the keyboard and that saves the answers as a JSON file."""

from __future__ import annotations

import base64
import io
import json

import jinja2
import numpy as np
from PIL import Image

from diffbench.humaneval.trials import ANSWER_FORMAT, REAL_OR_GENERATED, WHICH_IS_BETTER, Study

# Small images are shown enlarged with crisp pixels (CSS image-rendering: pixelated).
DISPLAY_PX = 256


def png_data_uri(image: np.ndarray) -> str:
    pil = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def render_page(study: Study) -> str:
    data = {
        "format": ANSWER_FORMAT,
        "study": study.study,
        "trials_sha256": study.sha256,
        "trials": study.trials,
        "images": {image_id: png_data_uri(image) for image_id, image in study.images.items()},
    }
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("diffbench.humaneval", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    kinds = {t["kind"] for t in study.trials}
    return env.get_template("rating.html.j2").render(
        study=study.study,
        n_trials=len(study.trials),
        has_real_or_generated=REAL_OR_GENERATED in kinds,
        has_which_is_better=WHICH_IS_BETTER in kinds,
        display_px=DISPLAY_PX,
        # inside <script>: no "</" may end the element early
        data_json=json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
    )
