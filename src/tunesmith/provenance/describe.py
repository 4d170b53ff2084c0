"""What a file *is*, in the IPTC vocabulary and in plain words, worked out from its recipe.

IPTC digital source types (the values C2PA uses in ``digitalSourceType``):

- ``trainedAlgorithmicMedia``: the music was generated (compose, produce, and anything made only
  from tunesmith's own generated files — mastering a tunesmith song stays generated music);
- ``compositeWithTrainedAlgorithmicMedia``: human material and tunesmith's work together — a
  human recording mixed or mastered by tunesmith, or generated parts (harmonize, accompany)
  around a human's melody;
- ``digitalCreation``: a human-written score rendered by tunesmith's synthesizer (nothing generated).

An input counts as generated when its own ``.recipe.json`` says tunesmith generated it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = "trainedAlgorithmicMedia"
COMPOSITE = "compositeWithTrainedAlgorithmicMedia"
DIGITAL_CREATION = "digitalCreation"
RENDER_COMMANDS = {"render", "render-mix"}

# What each processing command did to human material, for the label and the C2PA "edited" action.
PROCESSING = {
    "master": "mastered (tonal EQ, stereo width, glue compression, loudness and true-peak limiting)",
    "master-preview": "cut into a loudness-matched before/after preview of a master",
    "master-report": "described in a mastering report",
    "mix": "mixed (levels, pan, EQ, compression, reverb, bus processing)",
    "render": "rendered through a SoundFont synthesizer",
    "render-mix": "rendered through a SoundFont synthesizer and summed",
    "analyze": "analysed (loudness, spectrum, tempo, key)",
}
# Parameters worth naming in a one-line description, in this order, with how to print them.
_DETAIL_KEYS = (
    ("style", "style {}"),
    ("key", "key {}"),
    ("tempo", "{:g} BPM"),
    ("tempo_bpm", "{:g} BPM"),
    ("bars", "{} bars"),
    ("genre", "genre {}"),
    ("target", "target {}"),
)


def source_type(recipe: Mapping[str, Any]) -> str:
    """The IPTC digital source type (short name) of the file a recipe describes."""
    inputs = list(recipe.get("inputs") or [])
    generated = [bool((i.get("tunesmith") or {}).get("ai_generated")) for i in inputs]
    human_inputs = [i for i, g in zip(inputs, generated, strict=True) if not g]
    if recipe.get("ai_generated"):
        return COMPOSITE if human_inputs else TRAINED
    if inputs and not human_inputs:
        return TRAINED
    if recipe.get("command") in RENDER_COMMANDS:
        return DIGITAL_CREATION
    return COMPOSITE


def detail(recipe: Mapping[str, Any]) -> str:
    """``style pop, key A, 104 BPM, seed 3`` — the parameters that identify how a file was made."""
    params = recipe.get("parameters") or {}
    parts = []
    for key, fmt in _DETAIL_KEYS:
        value = params.get(key)
        if isinstance(value, dict):  # e.g. a resolved mastering target: name it
            value = value.get("name")
        if value not in (None, "", [], {}):
            try:
                parts.append(fmt.format(value))
            except (TypeError, ValueError):
                parts.append(f"{key} {value}")
    if recipe.get("seed") is not None:
        parts.append(f"seed {recipe['seed']}")
    return ", ".join(dict.fromkeys(parts))


def plain_label(recipe: Mapping[str, Any], output_name: str | None = None) -> str:
    """The plain-words label written into files that cannot carry C2PA (and into C2PA as a description).

    Examples
    --------
    ``AI-generated music: made by tunesmith 0.1.0 (tunesmith produce: style pop, key A, 104 BPM,
    seed 3) with the models pop909-progressions, melody-gru-pop909-folk; no human composer or
    performer. IPTC digital source type: trainedAlgorithmicMedia. Recipe: master.wav.recipe.json.``
    """
    version = recipe.get("tunesmith_version", "?")
    command = recipe.get("command", "?")
    how = detail(recipe)
    tool = f"tunesmith {version} (tunesmith {command}{': ' + how if how else ''})"
    kind = source_type(recipe)
    models = [str(m.get("id")) for m in recipe.get("models") or [] if m.get("id")]
    with_models = f" with the models {', '.join(models)}" if models else ""
    human = [Path(str(i.get("path", "?"))).name for i in recipe.get("inputs") or [] if not _generated(i)]
    if kind == TRAINED:
        text = f"AI-generated music: made by {tool}{with_models}; no human composer or performer."
    elif kind == DIGITAL_CREATION:
        text = f"A human-written score {PROCESSING.get(command, 'processed')} by {tool}; no generated music."
    elif recipe.get("ai_generated"):
        text = (
            f"Partly AI-generated: {tool} generated parts{with_models} around human-made material "
            f"({', '.join(human) or 'the input'})."
        )
    else:
        done = PROCESSING.get(command, "processed")
        text = (
            f"Human-made material ({', '.join(human) or 'the input'}) {done} by {tool}; "
            "the processing decisions were made automatically by software."
        )
    text += f" IPTC digital source type: {kind}."
    if output_name:
        text += f" Recipe: {output_name}.recipe.json."
    return text


def _generated(item: Mapping[str, Any]) -> bool:
    return bool((item.get("tunesmith") or {}).get("ai_generated"))
