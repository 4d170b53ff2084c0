"""The originality guard holds on the melody as written: no run of COPY_NOTES shared notes survives.

The writers are replaced by stubs (a tune that copies on every draw, or random scale tones) and the
index by a tiny one built from a known tune, so each case is forced rather than waited for; the real
guard, the real finishing of the melody (the song's last note, swing, range) and the real recipe
fields are what is tested.
"""

from __future__ import annotations

import numpy as np
import pytest

import tunesmith.compose.song as song
from tunesmith.compose.song import ComposeOptions, Composition, compose
from tunesmith.models.originality import COPY_NOTES, OriginalityIndex, break_copies, guard_melody, melody_line
from tunesmith.score.theory import Key
from tunesmith.score.types import Note

# A four-bar tune (quarter notes, semitones above the tonic) played round and round by the copying stub.
TUNE = (0, 2, 4, 5, 7, 5, 4, 2, 0, 4, 7, 12, 9, 7, 4, 2)
C_MAJOR = Key.parse("C")


def _as_array(notes: list[Note]) -> np.ndarray:
    return np.array([[n.start, n.duration, n.pitch] for n in notes], dtype=float)


def _tune_index(length: int = 24) -> OriginalityIndex:
    """A one-tune index: TUNE repeated to ``length`` quarter notes, from middle C."""
    notes = np.array([[float(i), 1.0, 60 + TUNE[i % len(TUNE)]] for i in range(length)])
    return OriginalityIndex.build([("known", notes)])


def _tonic_near(span: tuple[int, int]) -> int:
    middle = (span[0] + span[1]) // 2
    return middle - middle % 12  # a C (the tests compose in C)


def _copying_writer(*args: object, **_: object) -> list[Note]:
    """A melody writer (rules or model signature) that plays TUNE on every draw, whatever its generator."""
    _, _, sections, _, _, span = args[:6]
    base = _tonic_near(span)
    out = []
    for _, start, bars, _ in sections:
        for beat in range(4 * start, 4 * (start + bars)):
            out.append(Note(float(beat), 1.0, base + TUNE[beat % len(TUNE)], 90))
    return out


def _random_writer(*args: object, **_: object) -> list[Note]:
    """A melody writer playing random C-major scale tones in quarter notes from its generator."""
    _, _, sections, _, r, span = args[:6]
    base = _tonic_near(span)
    steps = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    out = []
    for _, start, bars, _ in sections:
        for beat in range(4 * start, 4 * (start + bars)):
            out.append(Note(float(beat), 1.0, int(base + steps[r.integers(len(steps))]), 90))
    return out


def _stub(monkeypatch: pytest.MonkeyPatch, writer: str, stub: object, index: OriginalityIndex) -> None:
    monkeypatch.setattr(song, "write_melody_model" if writer == "model" else "write_melody", stub)
    monkeypatch.setattr(song, "index_for_style", lambda style: index)


def _melody(writer: str) -> tuple[list[Note], dict, Composition]:
    comp = compose(ComposeOptions(style="pop", key="C", bars=8, seed=3, melody=writer))
    return list(comp.score.track("melody").notes), comp.originality, comp


# ------------------------------------------------------------------------------------------ break_copies
def test_break_copies_moves_inner_notes_until_no_copy_is_left() -> None:
    index = _tune_index()
    copied = [Note(float(i), 1.0, 60 + TUNE[i % len(TUNE)]) for i in range(24)]
    assert index.longest_overlap(copied) == 24
    out, moved = break_copies(copied, index)
    assert index.longest_overlap(out) < COPY_NOTES
    assert index.find_copies(out) == []
    # 24 shared notes need at least three moves (a move leaves at most seven notes either side).
    assert 3 <= moved <= 5
    changed = [i for i, (a, b) in enumerate(zip(copied, out, strict=True)) if a != b]
    assert len(changed) == moved
    assert 0 not in changed and 23 not in changed  # only inner notes of a run move
    for i in changed:  # only the pitch, by a semitone or a tone
        assert (out[i].start, out[i].duration) == (copied[i].start, copied[i].duration)
        assert 1 <= abs(out[i].pitch - copied[i].pitch) <= 2


def test_break_copies_leaves_a_clean_melody_alone_and_uses_the_given_pitches() -> None:
    index = _tune_index()
    clean = [Note(float(i), 1.0, 60 + (0, 7, 3, 10, 1)[i % 5]) for i in range(20)]
    assert index.longest_overlap(clean) < COPY_NOTES
    assert break_copies(clean, index) == (clean, 0)
    copied = [Note(float(i), 1.0, 62 + TUNE[i % len(TUNE)]) for i in range(12)]  # in D: steps are what count
    only_up_a_third = lambda n: [n.pitch + 4]  # noqa: E731
    out, moved = break_copies(copied, index, only_up_a_third)
    assert moved == 1 and index.longest_overlap(out) < COPY_NOTES
    (i,) = [i for i, (a, b) in enumerate(zip(copied, out, strict=True)) if a != b]
    assert out[i].pitch == copied[i].pitch + 4


# ------------------------------------------------------------------------------- guard on the written form
def test_guard_judges_the_melody_as_written() -> None:
    """A run that only the written form holds (a note added after the writer) is redrawn."""
    index = _tune_index()
    calls = []

    def write(sections: list, r: np.random.Generator) -> list[Note]:
        calls.append(sections)
        if len(calls) == 1:  # the first draw: seven notes of the known tune
            return [Note(float(i), 1.0, 60 + TUNE[i]) for i in range(7)]
        return [Note(float(i), 1.0, 60 + int(r.integers(0, 12))) for i in range(7)]

    def add_last(notes: list[Note]) -> list[Note]:  # the finishing adds a note: the tune's eighth
        return [*notes, Note(7.0, 1.0, notes[-1].pitch + TUNE[7] - TUNE[6])]

    plain, report = guard_melody(write, [("verse", 0, 2, 0.5)], np.random.default_rng(0), 4.0, index=index)
    assert report.redraws == 0 and report.max_overlap == 7  # judged as the writer gave it: no copy seen…
    assert index.longest_overlap(add_last(plain)) == COPY_NOTES  # …but the written form holds one
    calls.clear()
    notes, report = guard_melody(
        write, [("verse", 0, 2, 0.5)], np.random.default_rng(0), 4.0, index=index, written=add_last
    )
    assert report.copied_phrases == 1 and report.redraws >= 1 and report.copies_left == 0
    assert report.max_overlap == index.longest_overlap(add_last(notes)) < COPY_NOTES


# ---------------------------------------------------------------------------------------------- compose
def _nothing_index() -> OriginalityIndex:
    """An index holding one three-note tune: no melody here shares eight notes with it."""
    return OriginalityIndex.build([("other", np.array([[0.0, 1.0, 60], [1.0, 1.0, 61], [2.0, 1.0, 70]]))])


@pytest.mark.parametrize("writer", ["rules", "model"])
def test_compose_never_writes_a_copy_even_when_every_redraw_copies(
    writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same stub with an index that holds nothing like it: the melody as it would be unguarded.
    _stub(monkeypatch, writer, _copying_writer, _nothing_index())
    free, found_free, _ = _melody(writer)
    assert found_free["notes_altered"] == 0
    index = _tune_index()
    assert index.longest_overlap(free) >= 2 * COPY_NOTES  # the stub's tune is a copy throughout

    _stub(monkeypatch, writer, _copying_writer, index)
    notes, found, comp = _melody(writer)
    # The written melody, measured again here, is below a copy, and the recipe says so honestly.
    assert index.longest_overlap(notes) < COPY_NOTES
    assert found["max_overlap"] == index.longest_overlap(notes)
    moved = [(a, b) for a, b in zip(free, notes, strict=True) if a != b]
    assert found["notes_altered"] == len(moved) >= 3
    # Only pitches moved, each to a neighbouring tone of the key or of the chord under it.
    for a, b in moved:
        assert (a.start, a.duration, a.velocity) == (b.start, b.duration, b.velocity)
        chord = next(c.chord for c in comp.score.chords if c.start <= b.start < c.start + c.duration)
        assert 1 <= abs(a.pitch - b.pitch) <= 4
        assert C_MAJOR.contains(b.pitch) or b.pitch % 12 in chord.pitch_classes
    # Every redraw was tried first (both phrases copy), and the result is the same every time.
    redrawn = found["phrases_redrawn"] if writer == "rules" else found["phrases_redrawn_as_written"]
    assert redrawn == 2
    again, found_again, _ = _melody(writer)
    assert again == notes and found_again == found


@pytest.mark.parametrize("writer", ["rules", "model"])
@pytest.mark.parametrize("where", ["phrase boundary", "song's last note"])
def test_a_copy_across_a_boundary_is_redrawn(writer: str, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run shared across two phrases, or running into the held last note the song adds after the
    melody is written, is caught and a phrase it touches drawn again."""
    _stub(monkeypatch, writer, _random_writer, _nothing_index())
    first, _, _ = _melody(writer)
    line = melody_line(first)[3]
    assert len(line) == 33  # 32 quarter notes and the song's last note
    # Four notes either side of bar 4 (beat 16), or the last seven notes and the added last one.
    run = [first[i] for i in (line[12:20] if where == "phrase boundary" else line[-8:])]
    index = OriginalityIndex.build([("known", _as_array(run))])
    assert index.longest_overlap(first) == COPY_NOTES

    _stub(monkeypatch, writer, _random_writer, index)
    notes, found, _ = _melody(writer)
    assert index.longest_overlap(notes) == found["max_overlap"] < COPY_NOTES
    assert found["notes_altered"] == 0  # a redraw was enough
    redrawn = found["phrases_redrawn"] if writer == "rules" else found["phrases_redrawn_as_written"]
    assert redrawn == 1
    # One phrase was written again, the other kept: for the last note's run, the last phrase.
    assert notes[:16] == first[:16] or (where == "phrase boundary" and notes[16:32] == first[16:32])
    assert notes != first


def test_the_chorale_voices_sing_under_the_moved_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lower voices are set under the melody: a note moved to break a copy is the one they hear."""
    heard: list[list[Note]] = []
    voice = song.arrange.play_chorale_voice

    def listening(style: object, part: object, melody: list[Note], *rest: object) -> list[Note]:
        heard.append(list(melody))
        return voice(style, part, melody, *rest)

    monkeypatch.setattr(song.arrange, "play_chorale_voice", listening)
    _stub(monkeypatch, "rules", _copying_writer, _tune_index())
    comp = compose(ComposeOptions(style="chorale", key="C", bars=8, seed=3, melody="rules"))
    written = list(comp.score.track("melody").notes)
    assert comp.originality["notes_altered"] >= 3
    assert _tune_index().longest_overlap(written) < COPY_NOTES
    assert heard and all(h == heard[0] for h in heard)
    # What the voices heard is the written melody but for the held last note (and octave fitting).
    sung = heard[0]
    assert len(sung) == len(written) - 1
    assert all(a.start == b.start and (a.pitch - b.pitch) % 12 == 0 for a, b in zip(sung, written, strict=False))
