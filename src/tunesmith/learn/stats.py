"""What a style is made of, gathered piece by piece in bounded memory, and written as a style document.

:class:`StyleStats` folds each :class:`~tunesmith.learn.piece.Piece` into counters
(tempo, metre, keys, chord transitions per mode, harmonic rhythm, intervals, note
lengths, phrase lengths and forms, registers and programs per role, rhythm cells,
bass, comping and drum patterns, swing). A counter that grows past
:data:`COUNTER_LIMIT` distinct entries is cut back to its most frequent half, so a
folder of 10,000 pieces takes no more memory than one of a few hundred; the pieces
themselves are not kept. :meth:`StyleStats.style_doc` turns the counts into a style
in the format of ``docs/STYLES.md``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunesmith.learn.piece import Piece, chord_of
from tunesmith.score.theory import ChordParseError, parse_roman, roman_numeral

COUNTER_LIMIT = 4096  #: distinct entries a counter may hold before it is pruned to its top half
MAX_KEYS = 12  #: different keys a style lists at most
KEY_SLOTS = 16  #: a learned key list has about this many entries, each key repeated by how often it was used
MAX_NUMERALS = 40  #: chord vocabulary of a learned table
MAX_NEXT = 16  #: continuations kept per chord
MAX_FORM_BARS = 64  #: a learned form is cut to its first 64 bars (a song's default length)
#: A metre gets songs of its own when at least this share of the pieces with a tune (and two of them) is in it.
MIN_METRE_SHARE = 0.1
MAX_METRES = 6  #: metres a learned style writes in at most
_DEFAULT_TEMPO = {"min": 80.0, "max": 120.0, "default": 100.0}


def _prune(counter: Counter) -> None:
    """Keep a counter's most frequent :data:`COUNTER_LIMIT` // 2 entries once it holds too many."""
    if len(counter) > COUNTER_LIMIT:
        keep = counter.most_common(COUNTER_LIMIT // 2)
        counter.clear()
        counter.update(dict(keep))


def _percentile(counter: Counter, q: float) -> float:
    """The ``q``-th percentile (0–100) of values counted in ``counter``."""
    values = np.array(sorted(counter), dtype=np.float64)
    counts = np.array([counter[v] for v in sorted(counter)], dtype=np.float64)
    cum = np.cumsum(counts) / counts.sum()
    return float(values[min(len(values) - 1, int(np.searchsorted(cum, q / 100.0)))])


@dataclass
class StyleStats:
    """Counts gathered from a folder's pieces (see the module docstring)."""

    pieces: int = 0
    melodic_pieces: int = 0
    tempos: Counter = field(default_factory=Counter)
    metres: Counter = field(default_factory=Counter)
    metre_pieces: Counter = field(default_factory=Counter)  # pieces with a tune, per metre
    keys: Counter = field(default_factory=Counter)
    starts: dict[str, Counter] = field(default_factory=lambda: {"major": Counter(), "minor": Counter()})
    transitions: dict[str, dict[str, Counter]] = field(default_factory=lambda: {"major": {}, "minor": {}})
    chord_lengths: Counter = field(default_factory=Counter)
    intervals: Counter = field(default_factory=Counter)
    durations: Counter = field(default_factory=Counter)
    melody_pitches: Counter = field(default_factory=Counter)
    out_of_key: int = 0
    phrases: Counter = field(default_factory=Counter)
    forms: Counter = field(default_factory=Counter)
    lengths: Counter = field(default_factory=Counter)
    textures: Counter = field(default_factory=Counter)
    programs: dict[str, Counter] = field(default_factory=dict)
    lows: dict[str, Counter] = field(default_factory=dict)
    highs: dict[str, Counter] = field(default_factory=dict)
    melody_cells: dict[str, Counter] = field(default_factory=dict)  # per metre
    cadence_cells: dict[str, Counter] = field(default_factory=dict)
    bass_cells: dict[str, Counter] = field(default_factory=dict)
    drum_cells: dict[str, Counter] = field(default_factory=dict)
    comp_cells: dict[str, Counter] = field(default_factory=dict)
    swing_sum: float = 0.0
    swing_count: int = 0

    def add(self, piece: Piece) -> None:
        """Fold one piece in."""
        self.pieces += 1
        metre = f"{piece.numerator}/{piece.denominator}"
        self.metres[metre] += piece.bars
        if piece.tempo_bpm is not None:
            self.tempos[round(piece.tempo_bpm)] += 1
        self.textures[piece.texture] += 1
        for t in piece.tracks:
            self.programs.setdefault(t.role, Counter())[t.program] += t.notes
            self.lows.setdefault(t.role, Counter())[t.low] += 1
            self.highs.setdefault(t.role, Counter())[t.high] += 1
        for kind in ("melody_cells", "cadence_cells", "bass_cells", "drum_cells", "comp_cells"):
            table = getattr(self, kind).setdefault(metre, Counter())
            table.update(getattr(piece, kind))
            _prune(table)
        self.swing_sum += piece.swing[0]
        self.swing_count += piece.swing[1]
        if not len(piece.melody):
            return
        self.melodic_pieces += 1
        self.metre_pieces[metre] += 1
        key = piece.key
        self.keys[key.short()] += 1
        mode = "minor" if key.mode == "minor" else "major"
        numerals = []
        for row in piece.chords:
            numeral = roman_numeral(chord_of(row), key)
            try:  # only numerals a style file can say
                parse_roman(numeral, key)
            except ChordParseError:
                continue
            numerals.append(numeral)
            self.chord_lengths[round(float(row[1] - row[0]) / piece.bar_beats * 4) / 4] += 1
        if numerals:
            self.starts[mode][numerals[0]] += 1
        table = self.transitions[mode]
        for a, b in itertools.pairwise(numerals):
            if a != b:
                table.setdefault(a, Counter())[b] += 1
        if len(table) > COUNTER_LIMIT:  # bounded like the counters: drop the rarest chords' rows
            totals = Counter({k: sum(v.values()) for k, v in table.items()})
            for k, _ in totals.most_common()[COUNTER_LIMIT // 2 :]:
                del table[k]
        self.intervals.update(piece.intervals)
        self.durations.update(piece.durations)
        pitches = piece.melody[:, 2].astype(int)
        self.melody_pitches.update(pitches.tolist())
        self.out_of_key += int(sum(1 for p in pitches if not key.contains(int(p))))
        self.phrases.update(piece.phrases)
        if piece.form[0]:
            self.forms[piece.form] += 1
            _prune(self.forms)
        self.lengths[piece.bars] += 1

    # ------------------------------------------------------------------------------------------ summary
    @property
    def metre(self) -> tuple[int, int]:
        """The metre most bars are in."""
        text = self.metres.most_common(1)[0][0] if self.metres else "4/4"
        num, den = text.split("/")
        return int(num), int(den)

    def metre_shares(self) -> dict[str, float]:
        """Share of the pieces with a tune in each metre a style writes in: the main :attr:`metre` and any
        other metre of at least :data:`MIN_METRE_SHARE` of the pieces (and two pieces), rescaled to sum to 1.

        A folder of jigs and reels is not a folder of jigs: each song the style composes is drawn in
        one of its metres as often as the musician wrote in it.
        """
        main = "{}/{}".format(*self.metre)
        total = sum(self.metre_pieces.values())
        kept = {
            m: c
            for m, c in self.metre_pieces.most_common(MAX_METRES)
            if m == main or (c >= 2 and c >= MIN_METRE_SHARE * total)
        }
        kept.setdefault(main, max(1, self.metre_pieces.get(main, 0)))
        norm = sum(kept.values())
        return {m: round(c / norm, 4) for m, c in sorted(kept.items(), key=lambda kv: (kv[0] != main, -kv[1]))}

    def tempo(self) -> dict[str, float]:
        """``{min, max, default}`` BPM: the 10th and 90th percentiles and the median of the pieces' tempi."""
        if not self.tempos:
            return dict(_DEFAULT_TEMPO)
        lo, mid, hi = (float(np.clip(_percentile(self.tempos, q), 30, 300)) for q in (10, 50, 90))
        if hi - lo < 8:
            lo, hi = max(30.0, mid - 6), min(300.0, mid + 6)
        return {"min": round(lo), "max": round(hi), "default": round(min(max(mid, lo), hi))}

    def swing(self) -> float:
        """0 (straight) … 1 (triplet) from where off-beat eighths fall."""
        if self.swing_count < 16:
            return 0.0
        mean = self.swing_sum / self.swing_count
        s = float(np.clip((mean - 0.5) / (2 / 3 - 0.5), 0.0, 1.0))
        return 0.0 if s < 0.15 else round(s, 2)

    def key_list(self) -> list[str]:
        """The keys the pieces are in, most used first (those under 3 % left out), each listed about as
        often as it was used (``compose`` draws a style's key uniformly from its list), 24 entries at most."""
        total = sum(self.keys.values())
        common = [(k, c) for k, c in self.keys.most_common(MAX_KEYS) if c >= 0.03 * total]
        if not common:
            return ["C"]
        kept = sum(c for _, c in common)
        return [k for k, c in common for _ in range(max(1, round(KEY_SLOTS * c / kept)))]

    def register(self, role: str, default: tuple[int, int]) -> list[int]:
        """``[low, high]`` MIDI of a role: the 10th percentile of its pieces' lows (5th percentiles) and the 90th
        of their highs (95th percentiles) — where most pieces go, not just the typical one — an octave at least."""
        if role not in self.lows:
            return list(default)
        lo, hi = int(_percentile(self.lows[role], 10)), int(_percentile(self.highs[role], 90))
        if hi - lo < 12:
            mid = (lo + hi) // 2
            lo, hi = mid - 6, mid + 6
        return [max(0, lo), min(127, hi)]

    def program(self, role: str, default: int = 0) -> int:
        """The General MIDI program most notes of a role were played on."""
        table = self.programs.get(role)
        return int(table.most_common(1)[0][0]) if table else default

    def harmonic_rhythm(self, bar: float) -> list[float]:
        """Beats per chord as a style's ``harmony.rhythm`` list: eight draws in the proportions heard."""
        choices = {0.25: bar / 4, 0.5: bar / 2, 1.0: bar, 2.0: 2 * bar}
        counts = Counter()
        for bars, n in self.chord_lengths.items():
            snapped = min(choices, key=lambda c: abs(np.log2(max(bars, 1e-3) / c)))
            counts[snapped] += n
        if not counts:
            return [bar]
        total = sum(counts.values())
        shares = {k: 8 * v / total for k, v in counts.items()}
        slots = {k: int(v) for k, v in shares.items()}
        for k in sorted(shares, key=lambda k: shares[k] - slots[k], reverse=True)[: 8 - sum(slots.values())]:
            slots[k] += 1
        out = [choices[k] for k in sorted(slots) for _ in range(slots[k])]
        return [round(x, 4) for x in out] or [bar]

    def transition_tables(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per mode with chords: ``start`` and each chord's continuations (the commonest chords only)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for mode in ("major", "minor"):
            table = self.transitions[mode]
            totals = Counter({k: sum(v.values()) for k, v in table.items()})
            vocab = {k for k, _ in totals.most_common(MAX_NUMERALS)}
            rows: dict[str, dict[str, int]] = {}
            start = {k: int(v) for k, v in self.starts[mode].most_common() if k in vocab}
            for k in sorted(vocab, key=lambda k: -totals[k]):
                nexts = {n: int(c) for n, c in table[k].most_common(MAX_NEXT) if n in vocab}
                if nexts:
                    rows[k] = nexts
            if not rows:
                continue
            if not start:
                start = {next(iter(rows)): 1}
            out[mode] = {"start": start, **rows}
        return out

    def structure(self) -> tuple[str, int]:
        """The form most pieces share as ``"a:8 a:8 b:8 b:8"``, and its section length, bars.

        Where no two pieces share a form, the form of the piece of median length is taken; it
        is cut to :data:`MAX_FORM_BARS`.
        """
        if not self.forms:
            return "a:8 b:8 a:8 b:8", 8
        (letters, length), count = self.forms.most_common(1)[0]
        if count == 1 and self.lengths:
            median = _percentile(self.lengths, 50)
            (letters, length) = min(self.forms, key=lambda f: (abs(len(f[0]) * f[1] - median), f))
        if len(letters) == 1:
            letters = letters * 2
        letters = letters[: max(2, MAX_FORM_BARS // length)]
        return " ".join(f"{c}:{length}" for c in letters), length

    def style_doc(self, name: str, description: str, tag: str = "") -> tuple[dict[str, Any], list[str]]:
        """The learned style as a TOML-ready document, and remarks for the card (what was added or assumed).

        The style is written in the metre most bars are in; where the pieces use other metres too
        (:meth:`metre_shares`), a ``[metres]`` table gives each its share of songs and the tables
        that differ in it (melody rhythms, harmonic rhythm, the band's patterns), as ``docs/STYLES.md``
        describes.
        """
        remarks: list[str] = []
        num, den = self.metre
        metre = f"{num}/{den}"
        tempo = self.tempo()
        if not self.tempos:
            remarks.append("no piece states a tempo: the tempo range is a neutral 80-120 BPM")
        total_notes = sum(self.melody_pitches.values())
        chromatic = total_notes > 0 and self.out_of_key / total_notes > 0.12
        doc: dict[str, Any] = {
            "name": name,
            "description": description,
            "tempo": tempo,
            "metre": metre,
            "swing": self.swing(),
            "swing_unit": 0.5,
            "keys": self.key_list(),
            "chromatic": bool(chromatic),
        }
        if chromatic:
            share = 100.0 * self.out_of_key / total_notes
            doc["chromatic_reason"] = f"{share:.0f} % of the melody notes of the sources lie outside their key"
        structure, length = self.structure()
        own, band_remarks = self._metre_tables(metre, structure)
        remarks += band_remarks
        doc["harmony"] = {
            "source": "transitions",
            "rhythm": own["harmony"]["rhythm"],
            "cadence": True,
            "transitions": self.transition_tables(),
        }
        doc["structure"] = {"default": structure, "loop": f"loop:{min(8, 2 * length)}"}
        leap = int(np.clip(_percentile(Counter({abs(k): v for k, v in self.intervals.items()}), 90), 2, 12))
        doc["melody"] = {"range": self.register("melody", (60, 79)), **own["melody"], "leap": leap}
        if tag:
            doc["melody"]["tag"] = tag
        for k in ("parts", "sections", "comping", "bass", "grooves", "fills"):
            if own.get(k):
                doc[k] = own[k]
        shares = self.metre_shares()
        if len(shares) > 1:
            doc["metres"] = {metre: {"weight": shares[metre]}}
            for other, share in shares.items():
                if other != metre:
                    tables, _ = self._metre_tables(other, structure)
                    doc["metres"][other] = {"weight": share, **{k: v for k, v in tables.items() if v}}
            remarks.append(
                "songs are written in "
                + ", ".join(f"{m} ({100 * w:.0f} %)" for m, w in shares.items())
                + " as the pieces are"
            )
        return doc, remarks

    def _metre_tables(self, metre: str, structure: str) -> tuple[dict[str, Any], list[str]]:
        """The tables of a style that depend on its metre: the melody's rhythm cells and cadence, the harmonic
        rhythm, and the band (parts, their patterns and the sections that use them), from the pieces in ``metre``."""
        num, den = (int(x) for x in metre.split("/"))
        bar = num * 4.0 / den
        steps = round(bar * 4) if abs(bar * 4 - round(bar * 4)) < 1e-6 else 0
        cells = self.melody_cells.get(metre, Counter())
        rhythms = [c for c, _ in cells.most_common(12) if "x" in c and len(c) == steps][:6]
        cadence = [c for c, _ in self.cadence_cells.get(metre, Counter()).most_common(6) if c.startswith("x")]
        whole = "x" + "-" * (steps - 1) if steps else "x---"
        melody = {"rhythms": rhythms or [whole], "cadence_rhythm": cadence[0] if cadence else whole}
        parts, comping, bass, grooves, fills, remarks = self._band(metre, steps)
        sections: dict[str, Any] = {}
        letters = list(dict.fromkeys(tok.split(":")[0] for tok in structure.split()))
        for i, letter in enumerate([*letters, "loop"]):
            sec: dict[str, Any] = {"energy": round(min(0.9, 0.6 + 0.1 * i), 2), "parts": list(parts)}
            if grooves:
                sec["groove"] = next(iter(grooves))
            sections[letter] = sec
        tables = {
            "harmony": {"rhythm": self.harmonic_rhythm(bar)},
            "melody": melody,
            "parts": parts,
            "sections": sections,
            "comping": comping,
            "bass": bass,
            "grooves": grooves,
            "fills": fills,
        }
        return tables, remarks

    def _band(self, metre: str, steps: int) -> tuple[dict, dict, dict, dict, dict, list[str]]:
        """Parts and their patterns: the instruments the sources use, in the roles they play them."""
        remarks: list[str] = []
        parts: dict[str, Any] = {
            "melody": {"role": "melody", "program": self.program("melody"), "range": self.register("melody", (60, 79))}
        }
        comping: dict[str, Any] = {}
        bass: dict[str, Any] = {}
        grooves: dict[str, Any] = {}
        fills: dict[str, Any] = {}
        texture = self.textures.most_common(1)[0][0] if self.textures else "solo"
        beat_steps = max(1, steps // max(1, int(metre.split("/")[0]))) if steps else 4
        if texture == "voices":
            comping["chorale"] = {"kind": "chorale", "rhythm": ("x" + "-" * (beat_steps - 1)) * (steps // beat_steps)}
            for k, name in ((1, "alto"), (2, "tenor"), (3, "bass_voice")):
                role = f"voice{k}"
                if role not in self.programs:
                    continue
                parts[name] = {
                    "role": "voice",
                    "program": self.program(role),
                    "range": self.register(role, (55 - 7 * k, 74 - 7 * k)),
                    "voicing": "chorale",
                    "comping": ["chorale"],
                    "voice": k,
                }
        else:
            cells = self.comp_cells.get(metre, Counter())
            for i, ((kind, rhythm), _) in enumerate(cells.most_common(3), 1):
                comping[f"comp{i}"] = {
                    "kind": kind,
                    "rhythm": rhythm,
                    **({"order": "up"} if kind == "arpeggio" else {}),
                }
            if "chords" in self.programs or not comping:
                if not comping:
                    remarks.append("the sources have no chord part: a plain block-chord accompaniment was added")
                    rhythm = "x" + "-" * (steps - 2) + "." if steps else "x---"
                    comping["comp1"] = {"kind": "block", "rhythm": rhythm}
                parts["chords"] = {
                    "role": "chords",
                    "program": self.program("chords"),
                    "range": self.register("chords", (48, 72)),
                    "voicing": "close",
                    "comping": list(comping),
                }
            basses = [c for c, _ in self.bass_cells.get(metre, Counter()).most_common(3)]
            if "bass" in self.programs and basses:
                for i, steps_text in enumerate(basses, 1):
                    bass[f"bass{i}"] = {"steps": steps_text}
                parts["bass"] = {
                    "role": "bass",
                    "program": self.program("bass", 33),
                    "range": self.register("bass", (28, 52)),
                    "bass": list(bass),
                }
        drums = self.drum_cells.get(metre, Counter())
        if drums:
            ordered = [c for c, _ in drums.most_common(8)]
            plain = [c for c in ordered if "tom" not in c][:2] or ordered[:1]
            for i, cell in enumerate(plain, 1):
                grooves[f"groove{i}"] = dict(item.split("=") for item in cell.split(";"))
            if len(grooves) > 1:
                grooves["groove1"]["variations"] = ["groove2"]
            tom = [c for c in ordered if "tom" in c]
            if tom:
                fills["fill1"] = dict(item.split("=") for item in tom[0].split(";"))
            parts["drums"] = {"role": "drums", "kit": "standard"}
        return parts, comping, bass, grooves, fills, remarks
