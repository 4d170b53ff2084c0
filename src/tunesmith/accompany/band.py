"""The band's parts, played a bar at a time from the style's patterns.

The parts, programs, comping, bass and drum patterns, swing and section energies all
come from the style file; the notes come from the same functions that arrange a
composed song (:mod:`tunesmith.compose.arrange`), called one bar (drums: one four-bar
phrase, so variations still come every fourth bar) at a time with the chords decided
so far. Nothing here looks ahead: a bass approach note aims at the current chord's
root, because the next chord is not known yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunesmith.compose import arrange
from tunesmith.compose.harmony import Slot
from tunesmith.compose.style import DRUM_KEYS, Part, Style
from tunesmith.score.theory import Chord, Key
from tunesmith.score.types import Note

DRUM_CHANNEL = 9
#: Channel the performer is assumed to use (left free so a shared synth can play both).
PERFORMER_CHANNEL = 0
_ACCOMPANYING = ("chords", "pad", "voice", "bass", "drums")


@dataclass(frozen=True)
class BandPart:
    """One instrument of the band on its MIDI channel."""

    name: str
    role: str
    program: int
    channel: int
    part: Part

    @property
    def is_drum(self) -> bool:
        """Plays GM percussion on channel 10."""
        return self.role == "drums"


@dataclass(frozen=True)
class PlannedNote:
    """A band note in beats, and the part that plays it."""

    part: int
    note: Note


class Band:
    """The style's accompanying parts (melody parts are left to the performer).

    Parameters
    ----------
    style : Style
        Where the parts and patterns come from.
    seed : int
        Seed of the generator for velocity humanising, arpeggio orders and fills.
    """

    def __init__(self, style: Style, seed: int = 0) -> None:
        self.style = style
        self.rng = np.random.default_rng(seed)
        channels = iter(c for c in range(16) if c not in (DRUM_CHANNEL, PERFORMER_CHANNEL))
        parts = []
        for p in style.parts:
            if p.role not in _ACCOMPANYING:
                continue
            channel = DRUM_CHANNEL if p.role == "drums" else next(channels)
            parts.append(BandPart(p.name, p.role, p.program, channel, p))
        self.parts: tuple[BandPart, ...] = tuple(parts)
        self._drums: dict[tuple[int, str, float], list[Note]] = {}

    @property
    def channels(self) -> list[int]:
        """MIDI channels the band uses."""
        return sorted({p.channel for p in self.parts})

    def section_parts(self, section: str) -> set[str]:
        """Names of the parts that play in a section (all accompanying parts if it lists none of them)."""
        listed = set(self.style.section(section).parts)
        names = {p.name for p in self.parts}
        return (listed & names) or names

    def plan_bar(
        self,
        bar: int,
        slots: list[Slot],
        key: Key,
        section: str,
        energy: float,
        drums: bool = True,
    ) -> list[PlannedNote]:
        """The band's notes for bar ``bar`` over ``slots`` (which must cover the bar), beats, swing applied.

        Parameters
        ----------
        bar : int
            Bar index from the band's beat 0.
        slots : list of Slot
            The chords of the bar (a revision makes several).
        key : Key
            Current key (scale steps of the bass's approach notes).
        section : str
            Section name whose groove, patterns and parts to play (``verse``, ``chorus``…).
        energy : float
            0–1: velocities and density.
        drums : bool
            Include the drums (a revision re-plans only the pitched parts).
        """
        style = self.style
        spans = [(section, bar, 1, energy)]
        playing = self.section_parts(section)
        bar_start = bar * style.bar_beats
        bar_end = bar_start + style.bar_beats
        out: list[PlannedNote] = []
        kicks: list[float] = []
        drum_index = next((i for i, p in enumerate(self.parts) if p.is_drum and p.name in playing), None)
        if drum_index is not None:
            bar_drums = self._drum_bar(bar, section, energy)
            kicks = [n.start for n in bar_drums if n.pitch in (DRUM_KEYS["kick"], DRUM_KEYS["kick2"])]
            if drums:
                out.extend(PlannedNote(drum_index, n) for n in bar_drums)
        for i, bp in enumerate(self.parts):
            if bp.is_drum or bp.name not in playing:
                continue
            if bp.role == "bass":
                notes = arrange.play_bass(
                    style, bp.part, key, spans, slots, self.rng, kicks if style.bass_lock else None
                )
            elif bp.role == "voice":
                notes = self._voice(bp, spans, slots)
            else:
                notes = arrange.play_comping(style, bp.part, spans, slots, self.rng)
            notes = arrange.apply_swing(notes, style.swing, style.swing_unit)
            out.extend(PlannedNote(i, n) for n in notes if bar_start - 1e-9 <= n.start < bar_end - 1e-9)
        return out

    def prepare_drums(self, phrase: int, section: str, energy: float) -> None:
        """Generate the drums of four-bar phrase ``phrase`` now (ahead of its first bar, when the engine has time)."""
        style = self.style
        key = (phrase, section, round(energy, 2))
        if key not in self._drums:
            if len(self._drums) > 8:
                for old in sorted(self._drums)[:4]:
                    del self._drums[old]
            notes = arrange.play_drums(style, [(section, phrase * 4, 4, energy)], self.rng, [True], ending=False)
            self._drums[key] = arrange.apply_swing(notes, style.swing, style.swing_unit)

    def _drum_bar(self, bar: int, section: str, energy: float) -> list[Note]:
        """The drums of one bar, generated a four-bar phrase at a time (variation on every fourth bar)."""
        phrase = bar // 4
        self.prepare_drums(phrase, section, energy)
        lo, hi = bar * self.style.bar_beats, (bar + 1) * self.style.bar_beats
        return [n for n in self._drums[(phrase, section, round(energy, 2))] if lo - 1e-9 <= n.start < hi - 1e-9]

    def _voice(self, bp: BandPart, spans: list, slots: list[Slot]) -> list[Note]:
        """One voice of a choir: the comping of the chord, thinned to the voice's own note per onset."""
        notes = arrange.play_comping(self.style, bp.part, spans, slots, self.rng)
        by_onset: dict[float, list[Note]] = {}
        for n in notes:
            by_onset.setdefault(n.start, []).append(n)
        out = []
        for onset, group in by_onset.items():
            group.sort(key=lambda n: n.pitch)
            chord = next((s.chord for s in slots if s.start <= onset + 1e-9 < s.end), slots[-1].chord)
            if bp.part.voice >= 3:  # the bass voice sings the root
                pick = next((n for n in group if n.pitch % 12 == chord.root), group[0])
            elif bp.part.voice == 2:
                pick = group[len(group) // 2]
            else:
                pick = group[-1]
            out.append(pick)
        return out

    def final_hit(self, bar: int, chord: Chord) -> list[PlannedNote]:
        """A held last chord, a bass root and a crash on bar ``bar``'s downbeat: the ending of an offline take."""
        style = self.style
        start, length = bar * style.bar_beats, style.bar_beats
        out: list[PlannedNote] = []
        for i, bp in enumerate(self.parts):
            lo, hi = bp.part.range
            if bp.is_drum:
                out.append(PlannedNote(i, Note(start, 1.0, DRUM_KEYS["crash"], 110)))
                out.append(PlannedNote(i, Note(start, 0.5, DRUM_KEYS["kick"], 105)))
            elif bp.role == "bass":
                root = chord.root if chord.bass is None else chord.bass
                pitch = lo + (root - lo) % 12
                out.append(PlannedNote(i, Note(start, length * 0.95, pitch, 96)))
            else:
                voicing = arrange.voice_chord(chord, None, lo, hi, bp.part.voicing)
                out.extend(PlannedNote(i, Note(start, length * 0.95, p, 84)) for p in voicing)
        return out
