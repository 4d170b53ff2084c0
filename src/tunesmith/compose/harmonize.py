"""Harmonize a melody: chords from the learned chord model, then a band (or a choir) around the tune.

``tunesmith harmonize MELODY.(mid|musicxml|mxl|abc) [--style pop|jazz|chorale|…] [--chords-only] -o OUT.mid``

1. The tune is the melody track of the file (a track named or marked as the melody,
   else the highest-sounding pitched track); its tempo and metre are kept, its key found
   from its notes (Krumhansl–Schmuckler) unless given.
2. The chord model (``tunesmith.models.chord``) reads the melody around every beat and a
   beam search picks the most likely chord per beat over the whole tune; repeated beats
   merge into chord spans. For jazz, triads become the diatonic sevenths they stand for.
3. The style's parts are played around the unchanged melody (``compose.song.arrange_parts``);
   ``--chords-only`` keeps just the melody, the chord symbols and one block-chord part.

Writes ``OUT.mid``, ``OUT.musicxml`` (lead sheet with chord symbols) and a recipe beside each.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.atomic import check_not_input
from tunesmith.compose.harmony import Slot
from tunesmith.compose.song import arrange_parts, structure_for_bars
from tunesmith.compose.style import get_style
from tunesmith.errors import InputFileError, UsageError
from tunesmith.score.theory import Chord, Key, detect_key
from tunesmith.score.types import ChordSymbol, KeyChange, Note, Score, Section, TimeSignature, Track

#: Beam-search settings chosen on the validation slice of POP909's training split
#: (``benchmarks/models_eval.py``): a chord change *earns* 0.5 nats (the network alone holds
#: chords too long), and the melody's log-likelihood under each chord counts once.
CHANGE_PENALTY = -0.5
MELODY_WEIGHT = 1.0
_MELODY_WORDS = ("melody", "lead", "vocal", "voice", "tune", "soprano", "sing")


@dataclass
class Harmonization:
    """A harmonized melody and how it was made."""

    score: Score
    key: Key
    style: str
    chords: list[ChordSymbol]
    melody_track: str
    models: list[dict[str, str]] = field(default_factory=list)
    seed: int = 0
    chords_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "key": self.key.name(),
            "style": self.style,
            "melody_track": self.melody_track,
            "chords": [
                {
                    "start_beat": round(c.start, 3),
                    "beats": round(c.duration, 3),
                    "chord": c.chord.symbol() if c.chord else "N",
                }
                for c in self.chords
            ],
            "tracks": [{"name": t.name, "role": t.role, "notes": len(t.notes)} for t in self.score.tracks],
            "models": self.models,
            "seed": self.seed,
        }


def melody_track(score: Score, path: str | os.PathLike[str]) -> Track:
    """The tune of a file: a track named/marked as melody, else the pitched track that sounds highest."""
    pitched = [t for t in score.tracks if not t.is_drum and t.notes]
    if not pitched:
        raise InputFileError("has no pitched notes to harmonize", path)
    for t in pitched:
        if t.role == "melody" or any(w in t.name.lower() for w in _MELODY_WORDS):
            return t
    return max(pitched, key=lambda t: float(np.median([n.pitch for n in t.notes])))


def _monophonic(notes: tuple[Note, ...]) -> list[Note]:
    """The top line: where notes overlap, the highest one sounding (chords in the melody track reduce to it)."""
    out: list[Note] = []
    for n in sorted(notes, key=lambda n: (n.start, -n.pitch)):
        if out and n.start < out[-1].start + 1e-6:
            continue  # same onset, lower note
        if out and n.start < out[-1].end - 1e-6:
            prev = out[-1]
            out[-1] = Note(prev.start, n.start - prev.start, prev.pitch, prev.velocity)
        out.append(n)
    return out


def _seventh(chord: Chord, key: Key) -> Chord:
    """The diatonic seventh chord a triad stands for in jazz (V → V7, ii → ii7, vii° → viiø7…)."""
    degree = (chord.root - key.tonic) % 12
    if chord.quality == "maj":
        # Major triads on the tonic and subdominant (and bIII, bVI in minor) are maj7; the others dominant.
        dominant = degree not in (0, 5, 8, 3)
        return Chord(chord.root, "7" if dominant else "maj7")
    return Chord(chord.root, {"min": "min7", "dim": "hdim7"}.get(chord.quality, chord.quality))


def chord_spans(tokens: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[ChordSymbol]:
    """Merge runs of equal beat tokens into chord symbols."""
    from tunesmith.models.chord import token_chord

    out: list[ChordSymbol] = []
    i = 0
    while i < len(tokens):
        j = i
        while j + 1 < len(tokens) and tokens[j + 1] == tokens[i]:
            j += 1
        out.append(ChordSymbol(float(starts[i]), float(ends[j] - starts[i]), token_chord(int(tokens[i]))))
        i = j + 1
    return out


def harmonize(
    path: str | os.PathLike[str],
    style: str = "pop",
    chords_only: bool = False,
    key: str | None = None,
    seed: int = 0,
) -> Harmonization:
    """Harmonize the melody in ``path`` (see the module docstring).

    Raises
    ------
    InputFileError
        Unreadable file, or no pitched notes.
    UsageError
        Unknown style or key.
    """
    from tunesmith.score.notation import read_score

    return harmonize_score(read_score(path), path, style, chords_only, key, seed)


def harmonize_score(
    source: Score,
    path: str | os.PathLike[str],
    style: str = "pop",
    chords_only: bool = False,
    key: str | None = None,
    seed: int = 0,
) -> Harmonization:
    """:func:`harmonize` for a score already in memory; ``path`` names it in messages and the title.

    ``tunesmith hum`` calls it with the transcribed tune.
    """
    from tunesmith.models.chord import (
        HARMONIZE,
        BeatGrid,
        beat_features,
        melody_histograms,
        model_for_style,
        style_model_ids,
    )

    track = melody_track(source, path)
    tune = _monophonic(track.notes)
    sty = get_style(style)
    metre = source.time_signatures[0]
    bar = metre.bar_beats
    beats_per_bar = max(1, round(bar))
    end = max(n.end for n in tune)
    bars = max(1, math.ceil(end / bar - 1e-6))
    total = bars * bar
    grid = BeatGrid.regular(total, beats_per_bar)
    hist = melody_histograms(tune, grid)
    if key:
        try:
            the_key = Key.parse(key)
        except ValueError as exc:
            raise UsageError(f"--key: {exc}") from None
    else:
        weights = np.zeros(12)
        for n in tune:
            weights[n.pitch % 12] += n.duration
        the_key, _ = detect_key(weights)
    model = model_for_style(sty)  # a learned style's chord adapter, when it has one
    features = beat_features(hist, grid.in_bar, HARMONIZE)
    tokens = model.decode(features, beam=8, change_penalty=CHANGE_PENALTY, melody_weight=MELODY_WEIGHT)
    spans = chord_spans(tokens, grid.starts, grid.ends)
    if sty.harmony_source == "jazz":
        spans = [ChordSymbol(c.start, c.duration, _seventh(c.chord, the_key) if c.chord else None) for c in spans]
    rng = np.random.default_rng([seed, zlib.crc32(sty.name.encode())])
    slots = [Slot(c.start, c.duration, c.chord) for c in spans if c.chord is not None]
    if not slots:
        raise InputFileError("the chord model found no chords for this melody", path)
    # A "no chord" span (a long rest in the tune) keeps the chord before it, and the first chord
    # starts the song: the band's parts need a chord on every beat. Without such spans: unchanged.
    bounds = [0.0] + [s.start for s in slots[1:]] + [total]
    slots = [Slot(bounds[i], bounds[i + 1] - bounds[i], s.chord) for i, s in enumerate(slots)]
    # The last chord rings for one more bar, as in a composed song.
    slots.append(Slot(total, bar, slots[-1].chord))
    melody_out = tuple(tune)
    form = structure_for_bars(sty, bars, loop=False)
    sections, spans_form, start = [], [], 0
    for name, n in form:
        sections.append(Section(name, start, n))
        spans_form.append((name, start, n, sty.section(name).energy))
        start += n
    if chords_only:
        from tunesmith.compose.arrange import voice_chord

        block, previous = [], None
        for s in slots:
            voicing = voice_chord(s.chord, previous, 48, 72, "close")
            block += [Note(s.start, s.duration * 0.98, p, 70) for p in voicing]
            previous = voicing
        tracks = [
            Track(track.name or "melody", melody_out, track.program, False, "melody"),
            Track("chords", tuple(block), 0, False, "chords"),
        ]
    elif sty.name == "chorale":
        tracks = _chorale_tracks(sty, the_key, spans_form, slots, rng, total, melody_out, beats_per_bar, seed)
    else:
        tracks = arrange_parts(sty, the_key, spans_form, slots, rng, total, True, False, melody=list(melody_out))
    symbols = [ChordSymbol(s.start, s.duration, s.chord) for s in slots]
    score = Score(
        tracks=tuple(tracks),
        tempos=source.tempos,
        time_signatures=(TimeSignature(0.0, metre.numerator, metre.denominator),),
        keys=(KeyChange(0.0, the_key),),
        chords=tuple(symbols),
        sections=tuple(sections),
        title=f"{source.title or Path(path).stem} (harmonized, {sty.name})",
    )
    return Harmonization(score, the_key, sty.name, symbols, track.name, style_model_ids(sty), seed, chords_only)


def _chorale_tracks(
    sty: Any,
    key: Key,
    spans: list,
    slots: list[Slot],
    rng: np.random.Generator,
    total: float,
    melody: tuple[Note, ...],
    beats_per_bar: int,
    seed: int,
) -> list[Track]:
    """Four-part chorale: the learned chorale model when it is installed, else the style's rule-based voices."""
    try:
        from tunesmith.models.chorale import harmonize_soprano
    except ImportError:
        return arrange_parts(sty, key, spans, slots, rng, total, True, False, melody=list(melody))
    voices = harmonize_soprano(list(melody), key, beats_per_bar, seed=seed)
    programs = {p.name: p.program for p in sty.parts}
    tracks = [Track("soprano", melody, programs.get("soprano", 52), False, "melody")]
    for name in ("alto", "tenor", "bass"):
        tracks.append(Track(name, tuple(voices[name]), programs.get(name, 52), False, "chords"))
    return tracks


def write_harmonization(
    result: Harmonization, out: str | os.PathLike[str], source: str | os.PathLike[str], argv: list[str] | None = None
) -> dict[str, Path]:
    """Write ``OUT.mid`` and ``OUT.musicxml`` (chord symbols), each with a recipe; the input is never overwritten."""
    from tunesmith import __version__
    from tunesmith.provenance.recipe import write_recipe
    from tunesmith.score.midi import write_midi
    from tunesmith.score.notation import write_musicxml

    midi = Path(out)
    if midi.suffix.lower() not in (".mid", ".midi"):
        raise UsageError(f"-o {out}: the output must be a .mid file (a .musicxml is written beside it)")
    xml = midi.with_suffix(".musicxml")
    check_not_input(midi, [source])
    check_not_input(xml, [source])
    midi.parent.mkdir(parents=True, exist_ok=True)
    label = (
        f"AI-generated accompaniment: chords and parts by tunesmith {__version__} (style {result.style}) "
        f"around the melody of {Path(source).name}"
    )
    write_midi(result.score, midi, label=label)
    write_musicxml(result.score, xml)
    params = {
        "style": result.style,
        "key": result.key.short(),
        "chords_only": result.chords_only,
        "source": str(source),
    }
    # The seed is recorded (it may have been drawn at random) so `tunesmith reproduce` can replay it.
    recipes = [
        write_recipe(
            p,
            "harmonize",
            params,
            seed=result.seed,
            models=result.models,
            argv=argv,
            ai_generated=True,
            inputs=[source],
        )
        for p in (midi, xml)
    ]
    return {"midi": midi, "musicxml": xml, "recipes": recipes}
