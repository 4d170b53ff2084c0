"""Regenerate one section or one track of a composed song with a new seed, keeping the rest.

An edited song is its composition options plus a list of edits, each replayed in order, so it
can always be made again exactly (the recipe records both):

* **Section** ``i`` with seed ``s``: the song is composed again with the same style, key, tempo,
  form and chords option but seed ``s``; the new song's chords and notes of every track that
  start inside section ``i`` replace the old ones there. Notes of the other sections are kept as
  they were, except that a note held across the section's start is cut where the section
  begins, and a new note held past its end is cut there, so nothing overlaps. The last section
  also takes the new held final chord.
* **Track** ``name`` with seed ``s``: the band is arranged again over the song's own form and
  chords (``arrange_parts``) with a generator seeded by ``s``, and only that track's notes are
  taken; every other track and the chords stay identical. The parts are arranged around the
  song's existing melody, so a regenerated chorale voice follows the tune that is there. A
  style fixes each section's comping and bass pattern, which would make a chord or bass part
  come out nearly the same whatever the seed; for the new take, the part draws each kind of
  section's pattern (seeded) from the patterns the style gives that part.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from typing import Any

import numpy as np

from tunesmith.compose import ComposeOptions, Composition, compose
from tunesmith.compose.harmony import Slot
from tunesmith.compose.song import arrange_parts
from tunesmith.compose.style import Style
from tunesmith.errors import UsageError
from tunesmith.score.types import ChordSymbol, Note, Track

MAX_EDITS = 50


def form_of(comp: Composition) -> str:
    """The song's form as a ``--structure`` string (``"intro:4 verse:8 …"``)."""
    return " ".join(f"{s.name}:{s.bars}" for s in comp.sections)


def _cut(note: Note, end: float) -> Note:
    return note if note.end <= end + 1e-9 else Note(note.start, end - note.start, note.pitch, note.velocity)


def _cut_chord(chord: ChordSymbol, end: float) -> ChordSymbol:
    return chord if chord.end <= end + 1e-9 else ChordSymbol(chord.start, end - chord.start, chord.chord)


def _splice(old: list[Any], new: list[Any], lo: float, hi: float, cut: Any) -> list[Any]:
    """``old`` outside ``[lo, hi)`` (cut at ``lo`` where they cross it) and ``new`` inside it (cut at ``hi``)."""
    before = [cut(x, lo) for x in old if x.start < lo - 1e-9]
    inside = [cut(x, hi) if math.isfinite(hi) else x for x in new if lo - 1e-9 <= x.start < hi - 1e-9]
    after = [x for x in old if x.start >= hi - 1e-9]
    return sorted(before + inside + after, key=lambda x: (x.start, getattr(x, "pitch", 0)))


def regenerate_section(comp: Composition, index: int, seed: int) -> Composition:
    """``comp`` with section ``index`` (0-based, in song order) written anew from ``seed``.

    Raises
    ------
    UsageError
        No such section, or a seed out of range.
    """
    if not 0 <= index < len(comp.sections):
        raise UsageError(f"no section {index}: the song has {len(comp.sections)} (0..{len(comp.sections) - 1})")
    _check_seed(seed)
    fixed = replace(comp.options, key=comp.key.short(), tempo=comp.tempo, bars=None, structure=form_of(comp), seed=seed)
    fresh = compose(fixed)
    section = comp.sections[index]
    score = comp.score
    lo = score.bar_start(section.start_bar)
    last = index == len(comp.sections) - 1
    hi = math.inf if last else score.bar_start(section.start_bar + section.bars)
    tracks = []
    for old, new in zip(score.tracks, fresh.score.tracks, strict=True):
        if old.name != new.name:  # the same style always has the same parts; guard the assumption
            raise UsageError(f"cannot regenerate: part {old.name!r} became {new.name!r}")
        notes = _splice(list(old.notes), list(new.notes), lo, hi, _cut)
        tracks.append(replace(old, notes=tuple(notes)))
    chords = _splice(list(score.chords), list(fresh.score.chords), lo, hi, _cut_chord)
    new_score = replace(score, tracks=tuple(tracks), chords=tuple(chords))
    return replace(comp, score=new_score)


def _new_take(style: Style, part_name: str, rng: np.random.Generator) -> Style:
    """``style`` with the comping or bass pattern of ``part_name`` re-drawn per kind of section."""
    part = style.part(part_name)
    choices = part.comping if part.role in ("chords", "pad") else part.bass if part.role == "bass" else ()
    if not choices:
        return style
    sections = {}
    for name, sec in style.sections.items():
        pick = choices[int(rng.integers(len(choices)))]
        if part.role == "bass":
            sections[name] = replace(sec, bass=pick)
        else:
            sections[name] = replace(sec, comping={**sec.comping, part.name: pick})
    return replace(style, sections=sections)


def regenerate_track(comp: Composition, name: str, seed: int) -> Composition:
    """``comp`` with the track called ``name`` arranged anew from ``seed`` over the same chords.

    Raises
    ------
    UsageError
        No such track, or a seed out of range.
    """
    names = [t.name for t in comp.score.tracks]
    if name not in names:
        raise UsageError(f"no track {name!r}: the song has {', '.join(names)}")
    _check_seed(seed)
    style = comp.style
    score = comp.score
    spans = [(s.name, s.start_bar, s.bars, style.section(s.name).energy) for s in comp.sections]
    slots = [Slot(c.start, c.duration, c.chord) for c in score.chords]
    total_beats = sum(s.bars for s in comp.sections) * style.bar_beats
    target = score.tracks[names.index(name)]
    melody_track = next((t for t in score.tracks if t.role == "melody" and not t.is_drum), None)
    given = None if melody_track is None or melody_track is target else list(melody_track.notes)
    # Same seeding scheme as compose(): the style's name mixed in, so one seed differs across styles.
    rng = np.random.default_rng([seed, zlib.crc32(style.name.encode())])
    found: dict[str, Any] = {}
    fresh = arrange_parts(
        _new_take(style, name, np.random.default_rng([seed, zlib.crc32(name.encode())])),
        comp.key,
        spans,
        slots,
        rng,
        total_beats,
        not comp.options.loop,
        comp.options.loop,
        melody=given,
        melody_writer=comp.options.melody,
        originality=found,
    )
    new_track: Track = next(t for t in fresh if t.name == name)
    tracks = tuple(replace(t, notes=new_track.notes) if t.name == name else t for t in score.tracks)
    originality = comp.originality
    if target.role == "melody" and found:
        originality = found
    return replace(comp, score=replace(score, tracks=tracks), originality=originality)


def _check_seed(seed: int) -> None:
    if not 0 <= seed < 2**32:
        raise UsageError(f"seed must be 0..{2**32 - 1}, got {seed}")


def rebuild(options: ComposeOptions, edits: list[dict[str, Any]]) -> Composition:
    """Compose ``options`` and replay ``edits`` in order.

    Parameters
    ----------
    options : ComposeOptions
        The song as first composed.
    edits : list of dict
        ``{"section": index, "seed": s}`` or ``{"track": name, "seed": s}``.

    Raises
    ------
    UsageError
        A bad edit (unknown section or track, bad seed, more than 50 edits).
    """
    if len(edits) > MAX_EDITS:
        raise UsageError(f"at most {MAX_EDITS} regenerations per song; compose a new one")
    comp = compose(options)
    for edit in edits:
        seed = int(edit.get("seed", 0))
        if "section" in edit:
            comp = regenerate_section(comp, int(edit["section"]), seed)
        elif "track" in edit:
            comp = regenerate_track(comp, str(edit["track"]), seed)
        else:
            raise UsageError(f"an edit names a section or a track, got {edit!r}")
    return comp
