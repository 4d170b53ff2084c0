"""A score as the piano-roll JSON the Compose page draws: notes, chord symbols, sections, bars."""

from __future__ import annotations

from typing import Any

from tunesmith.score.types import Score


def score_view(score: Score) -> dict[str, Any]:
    """Everything the piano roll needs, in beats (quarter notes) and MIDI pitches.

    Returns
    -------
    dict
        ``tracks`` (name, role, program, drums, notes as ``[start, duration, pitch, velocity]``),
        ``chords`` (``[start, duration, symbol]``), ``sections`` (name, start and end beat,
        bars), ``bar_beats``, ``end_beats``, ``tempo_bpm``, ``metre``, ``key``, ``duration_s``.
    """
    metre = score.time_signatures[0] if score.time_signatures else None
    bar_beats = metre.bar_beats if metre is not None else 4.0
    key = score.keys[0].key if score.keys else None
    # Chords are spelled as the key spells its notes (Bb in F major, A# in B major).
    flats = key is not None and key.tonic in ((1, 3, 5, 8, 10) if key.mode == "major" else (0, 2, 5, 7, 10))
    sections = []
    for s in score.sections:
        start = score.bar_start(s.start_bar)
        sections.append({"name": s.name, "start": start, "end": score.bar_start(s.start_bar + s.bars), "bars": s.bars})
    return {
        "title": score.title,
        "tracks": [
            {
                "name": t.name,
                "role": t.role,
                "program": t.program,
                "drums": t.is_drum,
                "notes": [[round(n.start, 4), round(n.duration, 4), n.pitch, n.velocity] for n in t.notes],
            }
            for t in score.tracks
        ],
        "chords": [[round(c.start, 4), round(c.duration, 4), c.chord.symbol(flats=flats)] for c in score.chords],
        "sections": sections,
        "bar_beats": bar_beats,
        "end_beats": round(score.end, 4),
        "tempo_bpm": score.tempos[0].bpm if score.tempos else 120.0,
        "metre": f"{metre.numerator}/{metre.denominator}" if metre is not None else "4/4",
        "key": key.name() if key is not None else None,
        "duration_s": round(score.duration_s, 3),
    }
