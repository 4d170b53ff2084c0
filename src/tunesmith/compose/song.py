"""Compose a whole song: form, harmony, melody and the band, from a style, a key, a tempo and a seed.

``compose`` is a pure function of its options: the same options and seed give the
same :class:`~tunesmith.score.types.Score` note for note, and ``write_song`` writes
it as ``song.mid``, a MusicXML lead sheet and a recipe sidecar. Every random choice
draws from one ``numpy`` generator seeded by ``--seed``, in a fixed order.
"""

from __future__ import annotations

import os
import re
import zlib
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.compose import arrange
from tunesmith.compose.harmony import (
    Slot,
    key_of_chords,
    model_id,
    numerals_of,
    parse_chord_list,
    section_progression,
)
from tunesmith.compose.melody import write_melody
from tunesmith.compose.style import Part, Style, choose_metre, get_style
from tunesmith.errors import UsageError
from tunesmith.models.melody import MelodyReport, SamplingOptions, write_melody_model
from tunesmith.models.melody import model_id as melody_model_id
from tunesmith.models.originality import (
    COPY_NOTES,
    CombinedIndex,
    OriginalityIndex,
    break_copies,
    guard_melody,
    index_for_style,
)
from tunesmith.models.originality import index_id as originality_index_id
from tunesmith.score.theory import Key, instrument_range, parse_roman
from tunesmith.score.types import (
    ChordSymbol,
    KeyChange,
    Note,
    Score,
    Section,
    TempoChange,
    TimeSignature,
    Track,
)

MAX_BARS = 1000
TEMPO_RANGE = (30.0, 300.0)
_STRUCTURE_TOKEN = re.compile(r"^([a-z][a-z0-9_]*):(\d+)$")


@dataclass(frozen=True)
class ComposeOptions:
    """What to compose (the CLI's options).

    Attributes
    ----------
    style : str
        Style name (``tunesmith styles list``) or path to a style ``.toml``.
    key : str, optional
        ``C``, ``Am``, ``F#m``…; chosen from the style's keys (or the ``chords``) when absent.
    tempo : float, optional
        BPM, 30–300; the style's default when absent.
    bars : int, optional
        Song length in bars (a form is laid out to fit); exclusive with ``structure``.
    structure : str, optional
        ``"intro:4 verse:8 chorus:8 …"``.
    chords : str, optional
        ``"C G Am F"``: the harmony to use, cycled through the song.
    seed : int
        Random seed; the same seed and options give the same song.
    loop : bool
        A seamless loop (``bars`` or the style's loop length) instead of a song.
    melody : str
        Who writes the tune: ``"model"`` (the learned melody model, the default) or ``"rules"``
        (the motif-based writer of :mod:`tunesmith.compose.melody`). Either way the originality
        guard redraws any phrase that copies eight or more notes of a training tune, judged as
        written, and moves a note of any copy left, so no written melody holds one.
    """

    style: str = "pop"
    key: str | None = None
    tempo: float | None = None
    bars: int | None = None
    structure: str | None = None
    chords: str | None = None
    seed: int = 0
    loop: bool = False
    melody: str = "model"


MELODY_WRITERS = ("model", "rules")
# Song melodies sit on the harmony more firmly than the model's validation-chosen default (0.5 nats,
# tuned to resemble POP909's own melodies, 73 % chord tones on strong beats): at 2.5 nats, over
# 11 styles x 12 seeds, 98 % of strong-beat notes are chord tones, and no song falls below 91 %
# (at 1.5: 93 % on average, single songs down to 82 %).
COMPOSE_SAMPLING = SamplingOptions(chord_bias=2.5)
#: Styles learned by ``tunesmith learn`` (with a melody adapter) sample with the model's validated defaults.
LEARNED_SAMPLING = SamplingOptions()


@dataclass
class Composition:
    """A composed song and how it was made."""

    score: Score
    style: Style
    key: Key
    tempo: float
    seed: int
    options: ComposeOptions
    sections: list[Section] = field(default_factory=list)
    numerals: dict[str, list[str]] = field(default_factory=dict)
    models: list[dict[str, str]] = field(default_factory=list)
    originality: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the ``--json`` report)."""
        return {
            "style": self.style.name,
            "key": self.key.name(),
            "tempo_bpm": self.tempo,
            "metre": f"{self.style.numerator}/{self.style.denominator}",
            "seed": self.seed,
            "loop": self.options.loop,
            "bars": sum(s.bars for s in self.sections),
            "duration_s": round(self.score.duration_s, 3),
            "sections": [{"name": s.name, "start_bar": s.start_bar, "bars": s.bars} for s in self.sections],
            "progressions": self.numerals,
            "tracks": [
                {"name": t.name, "role": t.role, "program": t.program, "drums": t.is_drum, "notes": len(t.notes)}
                for t in self.score.tracks
            ],
            "options": asdict(self.options),
            "originality": self.originality,
        }


def parse_structure(text: str) -> list[tuple[str, int]]:
    """Read ``"intro:4 verse:8 …"`` into (name, bars) pairs.

    Raises
    ------
    UsageError
        For a malformed token, a section of 0 bars or a song over 1,000 bars.
    """
    out = []
    for token in text.replace(",", " ").split():
        m = _STRUCTURE_TOKEN.match(token.strip().lower())
        if not m:
            raise UsageError(f"--structure: {token!r} is not section:bars (e.g. verse:8)")
        bars = int(m.group(2))
        if bars < 1:
            raise UsageError(f"--structure: section {token!r} needs at least 1 bar")
        out.append((m.group(1), bars))
    if not out:
        raise UsageError("--structure is empty")
    total = sum(b for _, b in out)
    if total > MAX_BARS:
        raise UsageError(f"--structure is {total} bars long; the most is {MAX_BARS}")
    return out


def structure_for_bars(style: Style, bars: int, loop: bool) -> list[tuple[str, int]]:
    """A form of exactly ``bars`` bars from the style's own sections.

    The body alternates the style's main sections (those of its default structure other
    than intro and outro: verse/chorus for pop, the 12-bar ``a`` chorus for blues) in
    their usual length, with an intro and outro when there is room for them.
    """
    if loop:
        return [("loop", bars)]
    default = parse_structure(style.structure)
    body = [(n, b) for n, b in default if n not in ("intro", "outro")] or [("verse", 8)]
    names = list(dict.fromkeys(n for n, _ in body))
    chunk = body[0][1]
    has_intro = any(n == "intro" for n, _ in default)
    has_outro = any(n == "outro" for n, _ in default)
    frame = (4 if has_intro else 0) + (4 if has_outro else 0)
    if bars < 2 * chunk + frame:
        frame = 0
    out = [("intro", 4)] if frame and has_intro else []
    left, i = bars - frame, 0
    while left > 0:
        n = left if left < 2 * chunk and left - chunk < max(2, chunk // 2) else min(chunk, left)
        out.append((names[i % len(names)], n))
        left -= n
        i += 1
    if frame and has_outro:
        out.append(("outro", 4))
    return out


def _choose_key(options: ComposeOptions, style: Style, rng: np.random.Generator, user_chords: list | None) -> Key:
    if options.key:
        try:
            return Key.parse(options.key)
        except ValueError as exc:
            raise UsageError(f"--key: {exc}") from None
    if user_chords:
        return key_of_chords(user_chords)
    return Key.parse(style.keys[int(rng.integers(len(style.keys)))])


def _fit(notes: list[Note], lo: int, hi: int) -> list[Note]:
    """Move any note outside ``lo..hi`` by octaves until it fits."""
    out = []
    for n in notes:
        p = n.pitch
        while p < lo:
            p += 12
        while p > hi:
            p -= 12
        out.append(n if p == n.pitch else Note(n.start, n.duration, p, n.velocity))
    return out


def part_range(part: Part) -> tuple[int, int]:
    """The range a part plays in: its style range inside its instrument's practical range."""
    ilo, ihi = instrument_range(part.program)
    lo, hi = max(part.range[0], ilo), min(part.range[1], ihi)
    return (lo, hi) if hi - lo >= 12 else (ilo, ihi)


def compose(options: ComposeOptions) -> Composition:
    """Compose a song (or loop) from ``options``.

    Returns
    -------
    Composition
        The score (tracks, chords, sections, key, tempo, metre) and a summary.

    Raises
    ------
    UsageError
        Unknown style, bad key, chord, tempo, bars or structure (one line, naming the option).

    Examples
    --------
    >>> song = compose(ComposeOptions(style="pop", key="G", bars=16, seed=1))
    >>> song.key.name(), round(song.tempo)
    ('G major', 104)
    """
    style = get_style(options.style)
    if options.melody not in MELODY_WRITERS:
        raise UsageError(f"--melody must be one of {', '.join(MELODY_WRITERS)}, got {options.melody!r}")
    if options.bars is not None and options.structure:
        raise UsageError("give --bars or --structure, not both")
    if options.bars is not None and not 1 <= options.bars <= MAX_BARS:
        raise UsageError(f"--bars must be 1..{MAX_BARS}, got {options.bars}")
    tempo = float(options.tempo) if options.tempo is not None else style.tempo_default
    if not TEMPO_RANGE[0] <= tempo <= TEMPO_RANGE[1]:
        raise UsageError(f"--tempo must be {TEMPO_RANGE[0]:.0f}..{TEMPO_RANGE[1]:.0f} BPM, got {tempo:g}")
    # The style's name is mixed into the seed so one seed gives unrelated songs in different styles.
    rng = np.random.default_rng([options.seed, zlib.crc32(style.name.encode())])
    style = choose_metre(style, rng)  # a style learned from pieces in several metres writes each in its share
    bar = style.bar_beats
    user_chords = parse_chord_list(options.chords, bar) if options.chords else None
    if options.structure:
        form = parse_structure(options.structure)
    elif options.bars is not None:
        form = structure_for_bars(style, options.bars, options.loop)
    else:
        form = parse_structure(style.loop_structure if options.loop else style.structure)
    key = _choose_key(options, style, rng, user_chords)

    # Form and harmony.
    sections: list[Section] = []
    spans: list[tuple[str, int, int, float]] = []
    slots: list[Slot] = []
    numerals: dict[str, list[str]] = {}
    memory: dict[str, list] = {}
    start_bar = 0
    cycle = 0
    for name, bars in form:
        sections.append(Section(name, start_bar, bars))
        spans.append((name, start_bar, bars, style.section(name).energy))
        t = start_bar * bar
        end = (start_bar + bars) * bar
        if user_chords:
            while t < end - 1e-9:
                chord, beats = user_chords[cycle % len(user_chords)]
                slots.append(Slot(t, min(beats, end - t), chord))
                t += beats
                cycle += 1
        else:
            prog = section_progression(style, key, name, bars, rng, memory)
            if options.loop and name == form[-1][0] and style.cadence:
                # The loop's last chord leads back to its first: the dominant of the key.
                chord_v = parse_roman("V7" if style.harmony_source in ("jazz", "blues") else "V", key)
                prog[-1] = (chord_v, prog[-1][1])
            for chord, beats in prog:
                slots.append(Slot(t, beats, chord))
                t += beats
            numerals.setdefault(name, numerals_of(prog, key))
        start_bar += bars
    total_beats = start_bar * bar
    ending = not options.loop
    if ending:  # the last chord rings for one more bar: the home chord
        home = parse_roman("i" if key.mode == "minor" else "I", key) if not user_chords else slots[-1].chord
        slots.append(Slot(total_beats, bar, home))

    originality: dict[str, Any] = {}
    tracks = arrange_parts(
        style,
        key,
        spans,
        slots,
        rng,
        total_beats,
        ending,
        options.loop,
        melody_writer=options.melody,
        originality=originality,
    )

    chords = tuple(ChordSymbol(s.start, s.duration, s.chord) for s in slots)
    title = f"{style.name.replace('_', ' ').title()} in {key.name()} (seed {options.seed})"
    score = Score(
        tracks=tuple(tracks),
        tempos=(TempoChange(0.0, tempo),),
        time_signatures=(TimeSignature(0.0, style.numerator, style.denominator),),
        keys=(KeyChange(0.0, key),),
        chords=chords,
        sections=tuple(sections),
        title=title,
    )
    models = [model_id()] if style.harmony_source == "learned" and not user_chords else []
    if originality:
        models += [melody_model_id()] if options.melody == "model" else []
        models.append(originality_index_id())
        models += learned_style_ids(style, adapter=options.melody == "model")
    return Composition(score, style, key, tempo, options.seed, options, sections, numerals, models, originality)


def learned_style_ids(style: Style, adapter: bool = True) -> list[dict[str, str]]:
    """Recipe identities of a learned style's own files that shaped a song's melody (none for other
    styles): its melody adapter (when the model wrote the tune) and its originality index."""
    import hashlib

    kinds = ("melody_adapter", "originality_index") if adapter else ("originality_index",)
    return [
        {"id": f"style-{kind.replace('_', '-')}:{style.name}", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        for kind in kinds
        if (path := style.learned.get(kind)) is not None
    ]


def arrange_parts(
    style: Style,
    key: Key,
    spans: list[tuple[str, int, int, float]],
    slots: list[Slot],
    rng: np.random.Generator,
    total_beats: float,
    ending: bool,
    loop: bool,
    melody: list[Note] | None = None,
    melody_writer: str = "rules",
    originality: dict[str, Any] | None = None,
) -> list[Track]:
    """Play every part of ``style`` over the form ``spans`` and the chords ``slots``.

    Parameters
    ----------
    spans : list of tuple
        ``(section name, first bar, bars, energy)`` per section.
    slots : list of Slot
        The chords, in order (with the held home chord last when ``ending``).
    total_beats : float
        Length of the form, beats (the held last chord comes after it).
    ending : bool
        Add the held last chord (a song); False for a loop.
    melody : list of Note, optional
        A given tune (``tunesmith harmonize``): played as it is, in every section, by the
        style's melody part, instead of one the style writes.
    melody_writer : str
        ``"model"`` or ``"rules"``: who writes the melody part when none is given.
    originality : dict, optional
        Filled in with what the originality guard found for the written melody (see
        :func:`write_lead`), with ``max_overlap`` measured on the melody as written to the file
        and ``notes_altered``: notes moved to break a copy that no redraw removed (usually 0).
    """
    tracks: list[Track] = []
    melody_notes: list[Note] = []
    chorale_cache: dict = {}
    # Drums first: the bass locks to the kick (unless the style says the bass answers it instead).
    drum_notes: dict[str, list[Note]] = {}
    for part in style.parts:
        if part.is_drum:
            playing = [part.name in style.section(name).parts for name, _, _, _ in spans]
            drum_notes[part.name] = arrange.play_drums(style, spans, rng, playing, ending and playing[-1])
    kicks = [n.start for notes in drum_notes.values() for n in notes if n.pitch in (35, 36)] if style.bass_lock else []
    for part in style.parts:
        given = melody is not None and part.role == "melody"
        playing = [given or part.name in style.section(name).parts for name, _, _, _ in spans]
        my_spans = [s for s, p in zip(spans, playing, strict=True) if p]
        lo, hi = (35, 81) if part.is_drum else part_range(part)
        if given:
            tracks.append(Track(part.name, tuple(melody), part.program, False, "melody"))
            melody_notes = list(melody)
            continue
        written = partial(
            _as_written,
            part=part,
            key=key,
            slots=slots,
            span=(lo, hi),
            total_beats=total_beats,
            ending=ending and playing[-1],
            loop=loop,
            energy=spans[-1][3],
            swing=(style.swing, style.swing_unit),
        )
        if part.role == "melody":
            notes, found = write_lead(style, key, my_spans, slots, rng, (lo, hi), melody_writer, written)
            melody_notes = notes
            if originality is not None:
                originality.update(found)
        elif part.role in ("chords", "pad"):
            notes = arrange.play_comping(style, replace(part, range=(lo, hi)), my_spans, slots, rng)
        elif part.role == "bass":
            notes = arrange.play_bass(style, replace(part, range=(lo, hi)), key, my_spans, slots, rng, kicks)
        elif part.role == "voice":
            notes = arrange.play_chorale_voice(style, part, melody_notes, slots, my_spans, chorale_cache)
        elif part.is_drum:
            notes = drum_notes[part.name]
        else:
            notes = write_melody(style, key, my_spans, slots, rng, (lo, hi))
        notes = written(notes)
        if part.role == "melody":
            # The guarantee is on the melody as written to the file (after swing, the ending and
            # range fitting, which change runs): a copy that outlasted every redraw, or that only
            # the written form holds, loses one inner note to a neighbouring chord or scale tone.
            index = index_for_style(style)
            by_index, moved = _overlaps(index, notes), 0
            if max(by_index.values()) >= COPY_NOTES:
                unbroken = notes
                notes, moved = break_copies(notes, index, _neighbour_pitches(key, slots, lo, hi))
                melody_notes = _carry_moves(melody_notes, unbroken, notes)
                by_index = _overlaps(index, notes)
            if originality is not None:
                originality["max_overlap"] = max(by_index.values())
                originality["notes_altered"] = moved
                if isinstance(index, CombinedIndex):
                    originality["max_overlap_by_index"] = by_index
        tracks.append(
            Track(part.name, tuple(notes), part.program, part.is_drum, "chords" if part.role == "voice" else part.role)
        )
    return tracks


def _as_written(
    notes: list[Note],
    part: Part,
    key: Key,
    slots: list[Slot],
    span: tuple[int, int],
    total_beats: float,
    ending: bool,
    loop: bool,
    energy: float,
    swing: tuple[float, float],
) -> list[Note]:
    """A part's notes as written to the file: the held last chord (a song), cut at the loop point
    (a loop), swung, and moved by octaves into ``span`` (MIDI; not drums)."""
    if ending and not part.is_drum and part.role != "voice":
        notes = [n for n in notes if n.start < total_beats - 1e-9]
        notes += _final_chord(part, slots[-1], key, span, notes, energy)
    if loop:  # nothing may ring past the loop point in the score itself
        notes = [
            Note(n.start, min(n.duration, total_beats - n.start), n.pitch, n.velocity)
            for n in notes
            if n.start < total_beats - 1e-9
        ]
    notes = arrange.apply_swing(notes, *swing)
    return notes if part.is_drum else _fit(notes, *span)


def _overlaps(index: OriginalityIndex | CombinedIndex, notes: list[Note]) -> dict[str, int]:
    """Longest run of ``notes`` shared with a tune of each index, by name (``training`` alone for the
    packaged index)."""
    if isinstance(index, CombinedIndex):
        return index.overlaps(notes)
    return {"training": index.longest_overlap(notes)}


def _neighbour_pitches(key: Key, slots: list[Slot], lo: int, hi: int) -> Callable[[Note], list[int]]:
    """For :func:`~tunesmith.models.originality.break_copies`: the pitches a melody note may move to,
    best first — tones of the chord under it up to a major third away, then the scale tones a step
    away, then (a last resort) any semitone or whole tone — all inside ``lo..hi`` (MIDI)."""
    starts = [s.start for s in slots]

    def candidates(note: Note) -> list[int]:
        at = bisect_right(starts, note.start + 1e-9) - 1
        chord = slots[at].chord.pitch_classes if at >= 0 and note.start < slots[at].end - 1e-9 else ()
        near = [p for p in range(note.pitch - 4, note.pitch + 5) if p != note.pitch and lo <= p <= hi]

        def rank(p: int) -> tuple[int, int, int]:
            step = abs(p - note.pitch)
            kind = 0 if p % 12 in chord else 1 if step <= 2 and key.contains(p) else 2 if step <= 2 else 3
            return kind, step, p

        return [p for p in sorted(near, key=rank) if rank(p)[0] < 3]

    return candidates


def _carry_moves(raw: list[Note], before: list[Note], after: list[Note]) -> list[Note]:
    """``raw`` (a melody as its writer gave it) with the pitch moves that turned the written
    ``before`` into ``after``; the written form keeps the writer's notes in order, first."""
    out = list(raw)
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        if a.pitch != b.pitch and i < len(out):
            out[i] = replace(out[i], pitch=out[i].pitch + a.pitch - b.pitch)
    return out


def write_lead(
    style: Style,
    key: Key,
    spans: list[tuple[str, int, int, float]],
    slots: list[Slot],
    rng: np.random.Generator,
    span: tuple[int, int],
    writer: str = "model",
    written: Callable[[list[Note]], list[Note]] | None = None,
) -> tuple[list[Note], dict[str, Any]]:
    """The song's melody, guarded against copying the training tunes.

    Parameters
    ----------
    spans : list of (name, start_bar, bars, energy)
        The sections the melody plays in.
    span : (int, int)
        The melody instrument's range, MIDI.
    writer : str
        ``"model"``: the learned melody model, which redraws a copying phrase while sampling it;
        ``"rules"``: the motif-based writer. Either way
        :func:`~tunesmith.models.originality.guard_melody` then judges the melody as written and
        redraws a phrase that still copies.
    written : callable, optional
        The melody as it will be written to the file from the melody as written here (see
        :func:`_as_written`); the guard judges that form.

    Returns
    -------
    (list of Note, dict)
        The melody (before ``written``), and for the recipe: ``writer``, ``max_overlap``
        (longest run of consecutive notes of the written melody shared with a training tune;
        the caller breaks any run of 8 left), ``phrases`` and ``phrases_redrawn`` (by the
        writer's guard), for the model ``phrases_redrawn_as_written`` (phrases its sampling
        guard passed that the written form showed to copy, drawn again), and without ``written``
        in a learned style ``max_overlap_by_index``.
    """
    # A learned style is guarded against the musician's own pieces too (its index beside style.toml).
    index = index_for_style(style)
    if writer == "model":
        # A learned style's adapter already knows how its musician treats the chords: sample it as the
        # model was validated (LEARNED_SAMPLING), not with the extra pull of the built-in styles.
        options = LEARNED_SAMPLING if "melody_adapter" in style.learned else COMPOSE_SAMPLING
        if style.repeat_penalty:
            options = replace(options, repeat_penalty=style.repeat_penalty)
        if style.duration_bias:
            options = replace(options, duration_bias=_duration_bias(style.duration_bias))
        if style.interval_bias:
            bias = tuple(style.interval_bias.get(step, 0.0) for step in range(-12, 13))
            options = replace(options, interval_bias=bias)
        if "melody_adapter" in style.learned and "x" in style.cadence_rhythm:
            # A learned style ends its phrases as its musician does: the last note where their cadence bars have it.
            options = replace(options, cadence_at=style.cadence_rhythm.rfind("x") / len(style.cadence_rhythm))
        reports: list[MelodyReport] = []

        def model_writer(sections: list[tuple[str, int, int, float]], r: np.random.Generator) -> list[Note]:
            # The model judges its phrases while sampling them (at full length, without what comes
            # after); the guard around it judges them again as written. A redrawn phrase is one
            # more call here.
            reports.append(MelodyReport())
            return write_melody_model(style, key, sections, slots, r, span, options=options, report=reports[-1])

        notes, guard = guard_melody(model_writer, spans, rng, style.bar_beats, index=index, written=written)
        first = reports[0]
        found = {
            "max_overlap": guard.max_overlap,
            "phrases": first.phrases,
            "phrases_redrawn": first.resampled,
            "phrases_redrawn_as_written": guard.copied_phrases,
        }
    else:
        notes, guard = guard_melody(
            lambda sections, r: write_melody(style, key, sections, slots, r, span),
            spans,
            rng,
            style.bar_beats,
            index=index,
            written=written,
        )
        phrases = sum(-(-bars // 4) for _, _, bars, _ in spans)
        found = {"max_overlap": guard.max_overlap, "phrases": phrases, "phrases_redrawn": guard.copied_phrases}
    if isinstance(index, CombinedIndex) and written is None:
        # The longest run shared with the training tunes and with the style's own sources, each
        # (with ``written``, the caller measures the melody as written instead).
        found["max_overlap_by_index"] = index.overlaps(notes)
    return notes, {"writer": writer, "copy_threshold": COPY_NOTES} | found


def _duration_bias(table: dict[int, float]) -> tuple[float, ...]:
    """A style's ``duration_bias`` (nats by note length, ticks) as one value per melody-model duration token."""
    from tunesmith.models.melody import N_DUR

    bias = [0.0] * N_DUR
    for ticks, nats in table.items():
        if 1 <= ticks <= N_DUR:
            bias[ticks - 1] = nats
    return tuple(bias)


def _final_chord(
    part: Part, slot: Slot, key: Key, span: tuple[int, int], notes: list[Note], energy: float
) -> list[Note]:
    """The held last chord of a song: the part's last voicing (or root, or tonic) for a bar."""
    lo, hi = span
    vel = int(60 + 40 * energy)
    chord = slot.chord
    if part.role == "bass":
        pitches = [min((p for p in range(lo, hi + 1) if p % 12 == chord.root), key=lambda p: abs(p - (lo + 7)))]
    elif part.role == "melody":
        last = notes[-1].pitch if notes else (lo + hi) // 2
        options = [p for p in range(lo, hi + 1) if p % 12 in (key.tonic, chord.root)]
        pitches = [min(options, key=lambda p: abs(p - last))] if options else []
    else:
        previous = None
        if notes:
            last_start = max(n.start for n in notes)
            previous = tuple(sorted(n.pitch for n in notes if n.start == last_start))
        pitches = list(arrange.voice_chord(chord, previous, lo, hi, part.voicing))
    return [Note(slot.start, slot.duration * 0.98, p, vel) for p in pitches]


def write_song(
    comp: Composition, out_dir: str | os.PathLike[str], argv: list[str] | None = None, leadsheet: bool = True
) -> dict[str, Path]:
    """Write ``song.mid``, ``leadsheet.musicxml`` and their recipes into ``out_dir`` (atomically).

    Parameters
    ----------
    leadsheet : bool
        Also write the MusicXML lead sheet (``produce`` writes it on a side process instead).

    Returns
    -------
    dict
        ``{"midi": path, "recipe": path}`` and ``"leadsheet": path`` when written.
    """
    from tunesmith.score.midi import write_midi

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    midi = out / "song.mid"
    write_midi(comp.score, midi, label=ai_label(comp))
    paths = {"midi": midi, "recipe": write_song_recipe(comp, midi, argv)}
    if leadsheet:
        paths["leadsheet"] = write_leadsheet(comp, out / "leadsheet.musicxml", argv)
    return paths


def ai_label(comp: Composition) -> str:
    """The plain-words label written into generated files: AI-generated, by what, how to make it again."""
    from tunesmith import __version__

    return (
        f"AI-generated music: composed by tunesmith {__version__} (style {comp.style.name}, seed {comp.seed}); "
        "no human composer"
    )


def write_leadsheet(comp: Composition, path: str | os.PathLike[str], argv: list[str] | None = None) -> Path:
    """Write the MusicXML lead sheet (melody, chord symbols, key, metre, tempo) and its recipe."""
    from tunesmith.score.notation import write_musicxml

    write_musicxml(comp.score, path)
    write_song_recipe(comp, path, argv)
    return Path(path)


def write_song_recipe(comp: Composition, path: str | os.PathLike[str], argv: list[str] | None = None) -> Path:
    """The recipe of a composed file: options, key, tempo, seed, style file and model hashes."""
    from tunesmith.provenance.recipe import write_recipe

    params = asdict(comp.options) | {
        "key": comp.key.short(),
        "tempo": comp.tempo,
        "style_file": comp.style.path.name,
        # The originality guard's finding: the longest run of consecutive notes the melody shares
        # with a training tune (a phrase sharing 8 or more was redrawn).
        "originality": comp.originality,
    }
    return write_recipe(path, "compose", params, seed=comp.seed, models=comp.models, argv=argv, ai_generated=True)
