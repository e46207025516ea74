"""Answer files of a rating study: read, checked against the study, one rater each.

A file is left out, with a message naming it, when it is not an answer file, belongs to another
study, carries a trial list other than the study's (edited, or saved from another version of the
page), answers trials the study lacks or not all of them, or comes from a rater already counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from diffbench.errors import AnswerFileError
from diffbench.humaneval.trials import ANSWER_FORMAT, GENERATED, REAL, REAL_OR_GENERATED, trials_sha256

VALID_RESPONSES = {REAL_OR_GENERATED: (REAL, GENERATED)}  # which_is_better: 0 or 1, the image chosen


def answer_files(ratings_dir: str, study: str) -> list[str]:
    """The answer files raters dropped for `study` (human_eval.ratings_dir/<study>/*.json), sorted."""
    return sorted(str(p) for p in (Path(ratings_dir) / study).glob("*.json"))


@dataclass(frozen=True)
class RaterAnswers:
    file: str
    rater: str
    responses: dict[str, str | int]  # trial id -> response
    rt_ms: dict[str, float]  # trial id -> time on screen


def read_answer_file(path: str | Path, study: str, sha256: str, trials: list[dict]) -> RaterAnswers:
    """The answers of one file, or AnswerFileError naming the file and what is wrong with it."""

    def bad(reason: str) -> AnswerFileError:
        return AnswerFileError(f"{path}: {reason}; left out.")

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad(f"not a readable JSON file ({error})") from None
    if not isinstance(data, dict) or data.get("format") != ANSWER_FORMAT:
        raise bad(f"not a rating page's answer file (format should be {ANSWER_FORMAT!r})")
    if data.get("study") != study:
        raise bad(f"its answers are for study {data.get('study')!r}, not {study!r}")
    if (
        data.get("trials_sha256") != sha256
        or not isinstance(data.get("trials"), list)
        or (trials_sha256(data["trials"]) != sha256)
    ):
        raise bad("its trial list is not this study's (edited, or saved from another version of the page)")
    rater = data.get("rater")
    if not isinstance(rater, str) or not rater.strip():
        raise bad("it names no rater")
    kinds = {t["id"]: t["kind"] for t in trials}
    answers = data.get("answers")
    if not isinstance(answers, list):
        raise bad("it has no list of answers")
    responses, times = {}, {}
    for number, answer in enumerate(answers):
        trial = answer.get("trial") if isinstance(answer, dict) else None
        if trial not in kinds:
            raise bad(f"answer {number} is for trial {trial!r}, which the study does not have")
        if trial in responses:
            raise bad(f"trial {trial} is answered twice")
        response = answer.get("response")
        valid = VALID_RESPONSES.get(kinds[trial], (0, 1))
        if isinstance(response, bool) or response not in valid:
            raise bad(f"answer {number} (trial {trial}) is {response!r}, not one of {list(valid)}")
        responses[trial] = response
        rt = answer.get("rt_ms")
        times[trial] = float(rt) if isinstance(rt, int | float) and not isinstance(rt, bool) else float("nan")
    if len(responses) < len(kinds):
        raise bad(f"it is incomplete ({len(responses)} of {len(kinds)} trials answered)")
    return RaterAnswers(str(path), rater.strip(), responses, times)


def read_answer_files(
    paths: list[str | Path], study: str, sha256: str, trials: list[dict]
) -> tuple[list[RaterAnswers], list[dict]]:
    """Every countable file (in path order; a rater's first file counts, rater ids compared without
    case) and the rejected ones as {"file", "reason"}."""
    accepted, rejected, seen = [], [], {}
    for path in sorted(map(str, paths)):
        try:
            answers = read_answer_file(path, study, sha256, trials)
        except AnswerFileError as error:
            rejected.append({"file": path, "reason": str(error)})
            continue
        rater = answers.rater.casefold()  # "Alice" and "alice" are one rater
        if rater in seen:
            reason = f"{path}: rater {answers.rater!r} is already counted from {seen[rater]}; left out."
            rejected.append({"file": path, "reason": reason})
            continue
        seen[rater] = path
        accepted.append(answers)
    return accepted, rejected
