"""A MusicXML lead sheet written directly: melody, chord symbols, key, metre, tempo.

music21 takes about three seconds to notate and write a song (building its object
tree, ``makeNotation``); a lead sheet needs a small, well-understood subset of
MusicXML 4.0 — one part, measures, notes and rests in the sixteenth grid spelled
with ties and dots, ``<harmony>`` elements — which this module writes in
milliseconds, deterministically (same score, same bytes). MuseScore, Finale,
Dorico and music21 read it.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from tunesmith import __version__
from tunesmith.atomic import atomic_path
from tunesmith.score.theory import Chord
from tunesmith.score.types import Score, Track

DIVISIONS = 4  # per quarter note: the sixteenth grid
GRID = 1.0 / DIVISIONS

KINDS = {
    "maj": ("major", ""),
    "min": ("minor", "m"),
    "7": ("dominant", "7"),
    "maj7": ("major-seventh", "maj7"),
    "min7": ("minor-seventh", "m7"),
    "minmaj7": ("major-minor", "m(maj7)"),
    "hdim7": ("half-diminished", "m7b5"),
    "dim": ("diminished", "dim"),
    "dim7": ("diminished-seventh", "dim7"),
    "aug": ("augmented", "+"),
    "sus2": ("suspended-second", "sus2"),
    "sus4": ("suspended-fourth", "sus4"),
    "7sus4": ("suspended-fourth", "7sus4"),  # + an added minor seventh
    "maj6": ("major-sixth", "6"),
    "min6": ("minor-sixth", "m6"),
    "add9": ("major", "add9"),  # + an added ninth
    "9": ("dominant-ninth", "9"),
    "maj9": ("major-ninth", "maj9"),
    "min9": ("minor-ninth", "m9"),
    "11": ("dominant-11th", "11"),
    "min11": ("minor-11th", "m11"),
    "13": ("dominant-13th", "13"),
}
_EXTRA_DEGREE = {"7sus4": (7, -1), "add9": (9, 0)}  # (degree value, alter) added to the kind
_SHARP_SPELLING = (
    (0, "C", 0),
    (1, "C", 1),
    (2, "D", 0),
    (3, "D", 1),
    (4, "E", 0),
    (5, "F", 0),
    (6, "F", 1),
    (7, "G", 0),
    (8, "G", 1),
    (9, "A", 0),
    (10, "A", 1),
    (11, "B", 0),
)
_FLAT_SPELLING = (
    (0, "C", 0),
    (1, "D", -1),
    (2, "D", 0),
    (3, "E", -1),
    (4, "E", 0),
    (5, "F", 0),
    (6, "G", -1),
    (7, "G", 0),
    (8, "A", -1),
    (9, "A", 0),
    (10, "B", -1),
    (11, "B", 0),
)
_TYPES = {
    16: ("whole", 0),
    12: ("half", 1),
    8: ("half", 0),
    6: ("quarter", 1),
    4: ("quarter", 0),
    3: ("eighth", 1),
    2: ("eighth", 0),
    1: ("16th", 0),
    14: ("half", 2),
    7: ("quarter", 2),
    24: ("whole", 1),
}


def key_fifths(tonic: int, mode: str) -> int:
    """Position on the circle of fifths of a key's signature (−6…6; minor keys use their relative major's)."""
    major = tonic if mode != "minor" else (tonic + 3) % 12
    fifths = (major * 7) % 12  # C=0, G=1, D=2, … F#=6, then Db=7 -> -5
    return fifths - 12 if fifths > 6 else fifths


def _spell(pc: int, flats: bool) -> tuple[str, int]:
    return (_FLAT_SPELLING if flats else _SHARP_SPELLING)[pc % 12][1:]


def _pitch_xml(pitch: int, flats: bool) -> str:
    step, alter = _spell(pitch % 12, flats)
    octave = pitch // 12 - 1
    if step == "C" and alter == -1:  # Cb belongs to the octave below
        octave += 1
    alter_xml = f"<alter>{alter}</alter>" if alter else ""
    return f"<pitch><step>{step}</step>{alter_xml}<octave>{octave}</octave></pitch>"


def _pieces(start: int, length: int, beat: int, bar: int) -> list[int]:
    """Split ``length`` sixteenths from ``start`` (within a bar) into notatable, beat-respecting pieces."""
    out = []
    pos = start
    left = length
    while left > 0:
        # Off the beat, a note first runs to the next beat (the usual way to show the pulse).
        limit = left if pos % beat == 0 else min(left, beat - pos % beat)
        # Never cross the middle of a 4-beat bar off a half-bar boundary (keeps beats 1-2 / 3-4 visible).
        if bar == 16 and pos < 8 < pos + limit and pos % 8 != 0:
            limit = 8 - pos
        size = max(s for s in _TYPES if s <= limit)
        out.append(size)
        pos += size
        left -= size
    return out


def _harmony_xml(chord: Chord, offset: int, flats: bool) -> str:
    kind, text = KINDS.get(chord.quality, ("major", ""))
    step, alter = _spell(chord.root, flats)
    parts = [f'<harmony print-frame="no"><root><root-step>{step}</root-step>']
    if alter:
        parts.append(f"<root-alter>{alter}</root-alter>")
    parts.append(f'</root><kind text="{escape(text)}">{kind}</kind>')
    if chord.bass is not None and chord.bass != chord.root:
        bstep, balter = _spell(chord.bass, flats)
        parts.append(
            f"<bass><bass-step>{bstep}</bass-step>"
            + (f"<bass-alter>{balter}</bass-alter>" if balter else "")
            + "</bass>"
        )
    if chord.quality in _EXTRA_DEGREE:
        value, alt = _EXTRA_DEGREE[chord.quality]
        parts.append(
            f"<degree><degree-value>{value}</degree-value><degree-alter>{alt}</degree-alter>"
            "<degree-type>add</degree-type></degree>"
        )
    if offset:
        parts.append(f"<offset>{offset}</offset>")
    parts.append("</harmony>")
    return "".join(parts)


def _lead_track(score: Score, melody: str) -> Track:
    try:
        return score.track(melody)
    except KeyError:
        return score.tracks[0] if score.tracks else Track("melody")


def musicxml_text(score: Score, melody: str = "melody") -> str:
    """The lead sheet as MusicXML 4.0 (partwise) text.

    Parameters
    ----------
    score : Score
        The song; the melody's onsets and lengths are quantised to sixteenths, overlapping
        notes cut at the next onset (a lead sheet is one voice).
    melody : str
        Name or role of the melody track (the first track if there is none).
    """
    lead = _lead_track(score, melody)
    sig = score.time_signatures[0]
    bar = round(sig.bar_beats * DIVISIONS)  # sixteenths per bar
    beat = 6 if sig.denominator == 8 and sig.numerator % 3 == 0 else round(4 * 4 / sig.denominator)
    key = score.keys[0].key if score.keys else None
    fifths = key_fifths(key.tonic, key.mode) if key else 0
    flats = fifths < 0
    # Notes on the grid, one voice.
    notes = []
    for n in sorted(lead.notes, key=lambda n: (n.start, -n.pitch)):
        s = round(n.start / GRID)
        e = max(s + 1, round(n.end / GRID))
        if notes and notes[-1][0] == s:
            continue  # a chord in the melody: keep the top note
        if notes and notes[-1][1] > s:
            notes[-1] = (notes[-1][0], s, notes[-1][2])
        notes.append((s, e, n.pitch))
    chords = [(round(c.start / GRID), c.chord) for c in score.chords if c.chord is not None]
    chord_end = max((round(c.end / GRID) for c in score.chords), default=0)
    end = max([e for _, e, _ in notes] + [round(score.end / GRID), chord_end, 1])
    measures = max(1, math.ceil(end / bar))
    pitches = [p for _, _, p in notes]
    clef = ("F", 4) if pitches and sorted(pitches)[len(pitches) // 2] < 55 else ("G", 2)
    tempo = score.tempos[0].bpm

    # Events per measure: (start, length, pitch or None, tie_start, tie_stop).
    events: list[list[tuple[int, int, int | None, bool, bool]]] = [[] for _ in range(measures)]

    def add(s: int, e: int, pitch: int | None) -> None:
        first = True
        while s < e:
            m = s // bar
            stop = min(e, (m + 1) * bar)
            pieces = _pieces(s - m * bar, stop - s, beat, bar)
            pos = s
            for size in pieces:
                last_piece = pos + size >= e
                events[m].append(
                    (pos - m * bar, size, pitch, pitch is not None and not last_piece, pitch is not None and not first)
                )
                first = False
                pos += size
            s = stop

    t = 0
    for s, e, p in notes:
        if s > t:
            add(t, s, None)
        add(s, e, p)
        t = e
    if t < measures * bar:
        add(t, measures * bar, None)

    title = escape(score.title or "tunesmith lead sheet")
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
        '"http://www.musicxml.org/dtds/partwise.dtd">',
        '<score-partwise version="4.0">',
        f"<work><work-title>{title}</work-title></work>",
        "<identification>",
        '<creator type="composer">tunesmith (AI-generated)</creator>',
        f"<rights>AI-generated music, made by tunesmith {__version__}</rights>",
        f'<encoding><software>tunesmith {__version__}</software><supports element="accidental" type="no"/></encoding>',
        '<miscellaneous><miscellaneous-field name="ai-generated">true</miscellaneous-field></miscellaneous>',
        "</identification>",
        f'<part-list><score-part id="P1"><part-name>{escape(lead.name)}</part-name></score-part></part-list>',
        '<part id="P1">',
    ]
    chord_i = 0
    for m in range(measures):
        out.append(f'<measure number="{m + 1}">')
        if m == 0:
            mode = "" if key is None else f"<mode>{'minor' if key.mode == 'minor' else 'major'}</mode>"
            out.append(
                f"<attributes><divisions>{DIVISIONS}</divisions><key><fifths>{fifths}</fifths>{mode}</key>"
                f"<time><beats>{sig.numerator}</beats><beat-type>{sig.denominator}</beat-type></time>"
                f"<clef><sign>{clef[0]}</sign><line>{clef[1]}</line></clef></attributes>"
            )
            out.append(
                '<direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit>'
                f"<per-minute>{tempo:g}</per-minute></metronome></direction-type>"
                f'<sound tempo="{tempo:g}"/></direction>'
            )
        for pos, size, pitch, tie_start, tie_stop in events[m]:
            absolute = m * bar + pos
            while chord_i < len(chords) and chords[chord_i][0] < absolute + size:
                at, chord = chords[chord_i]
                out.append(_harmony_xml(chord, max(0, at - absolute), flats))
                chord_i += 1
            kind, dots = _TYPES[size]
            dot_xml = "<dot/>" * dots
            if pitch is None:
                whole = size == bar
                rest = '<rest measure="yes"/>' if whole else "<rest/>"
                type_xml = "" if whole else f"<type>{kind}</type>{dot_xml}"
                out.append(f"<note>{rest}<duration>{size}</duration>{type_xml}</note>")
                continue
            ties = ('<tie type="stop"/>' if tie_stop else "") + ('<tie type="start"/>' if tie_start else "")
            tied = ('<tied type="stop"/>' if tie_stop else "") + ('<tied type="start"/>' if tie_start else "")
            notations = f"<notations>{tied}</notations>" if tied else ""
            out.append(
                f"<note>{_pitch_xml(pitch, flats)}<duration>{size}</duration>{ties}<type>{kind}</type>"
                f"{dot_xml}{notations}</note>"
            )
        if m == measures - 1:
            out.append('<barline location="right"><bar-style>light-heavy</bar-style></barline>')
        out.append("</measure>")
    out.append("</part></score-partwise>")
    return "\n".join(out) + "\n"


def write_leadsheet(score: Score, path: str | os.PathLike[str], melody: str = "melody") -> None:
    """Write the lead sheet as ``.musicxml`` (text) or ``.mxl`` (compressed), atomically."""
    target = Path(path)
    text = musicxml_text(score, melody)
    with atomic_path(target) as tmp:
        if target.suffix.lower() != ".mxl":
            tmp.write_text(text, encoding="utf-8")
            return
        buf = io.BytesIO()
        fixed = (2020, 1, 1, 0, 0, 0)  # a fixed timestamp: the same song gives the same bytes
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(zipfile.ZipInfo("mimetype", fixed), "application/vnd.recordare.musicxml")
            container = (
                '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
                '<rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>'
                "</rootfiles></container>"
            )
            z.writestr(zipfile.ZipInfo("META-INF/container.xml", fixed), container, zipfile.ZIP_DEFLATED)
            z.writestr(zipfile.ZipInfo("score.musicxml", fixed), text, zipfile.ZIP_DEFLATED)
        tmp.write_bytes(buf.getvalue())
