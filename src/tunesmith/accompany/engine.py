"""The accompaniment engine: performer events in, band events (with their due times) out.

:class:`Accompanist` is one object used the same way live and offline: feed it the
performer's MIDI messages in time order (:meth:`Accompanist.feed`), let time pass
(:meth:`Accompanist.advance`), and it returns the band's MIDI messages, each with
the time in seconds at which it must sound. It never looks ahead:

* Musical time is cut into 16th-note *ticks*. A tick is planned ``lookahead_s``
  before it sounds (its *decision time*) from what has been heard by then, and its
  events are handed out at once, so a scheduler can send them on time. Ticks are
  processed in order, interleaved with the input at their decision times, so the
  output is a function of the input alone — not of how often ``advance`` is called —
  and output up to any time is the same whatever the performer plays later (tested).
* At a harmonic-rhythm decision point (each bar, and mid-bar where the style's
  harmonic rhythm has two-beat chords) the :class:`~tunesmith.accompany.chords.ChordPredictor`
  picks the coming chord and the band's parts for the bar are planned. At every other
  tick the predictor may revise the chord when the performer contradicts it; the
  pitched parts are re-planned from that tick on (notes already sounding are cut there).
* The key is followed (:class:`~tunesmith.accompany.key.KeyTracker`) and the tempo fixed
  or followed (:class:`~tunesmith.accompany.tempo.TempoTracker`).
* The band waits for the performer's first note (beat 0 there unless :meth:`start`
  set a grid), stops when the performer has been silent ``idle_bars`` bars, and comes
  back in on the next note.

Every note-on the engine emits is matched by a note-off: :meth:`stop` ends everything
sounding at once (Ctrl-C, a lost port), :meth:`finish` plays to the end of the bar and
closes with a held chord (offline).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import mido

from tunesmith.accompany.band import DRUM_CHANNEL, Band, PlannedNote
from tunesmith.accompany.chords import (
    ChordContext,
    ChordPredictor,
    DiatonicPredictor,
    PlayedSlot,
    candidates,
    colour,
)
from tunesmith.accompany.key import ONSET_WEIGHT, KeyTracker
from tunesmith.accompany.performer import STEP, Performer
from tunesmith.accompany.tempo import TempoTracker
from tunesmith.compose.harmony import Slot
from tunesmith.compose.style import Style, get_style
from tunesmith.errors import UsageError
from tunesmith.score.theory import Chord, Key
from tunesmith.score.types import Note


@functools.cache
def _message(kind: str, channel: int, note: int, velocity: int = 0) -> mido.Message:
    """A note message, built once: mido checks every field on construction (~30 µs), and these repeat.

    The same object is handed out again, so consumers must not modify band messages.
    """
    return mido.Message(kind, channel=channel, note=note, velocity=velocity)


class BandEvent(NamedTuple):
    """A MIDI message the band sends, when (seconds on the performer's clock) and from which part."""

    time_s: float
    message: mido.Message
    part: str


#: Chord choosers ``--chord-model`` can name.
CHORD_MODELS = ("fallback", "learned")


@dataclass(frozen=True)
class AccompanySettings:
    """How the band plays.

    Attributes
    ----------
    style : str
        Style name or ``.toml`` path (parts, patterns, swing, harmonic rhythm).
    tempo_bpm : float or None
        Starting (or fixed) tempo, BPM, 30–300; None: the style's default.
    follow : bool
        Follow the performer's tempo and beat phase.
    key : str
        ``auto`` (followed) or a key such as ``C``, ``F#m``, ``Bb``.
    seed : int
        Seed for the band's humanising and pattern choices.
    lookahead_s : float
        How long before a 16th note sounds it is planned, seconds (the scheduling slack).
    idle_bars : float
        The band stops after this many bars without the performer (and re-enters on their next note).
    chord_model : str
        ``fallback`` (:class:`~tunesmith.accompany.chords.DiatonicPredictor`) or ``learned`` (the
        chord network of :mod:`tunesmith.models.chord`, streamed by
        :class:`~tunesmith.accompany.learned.LearnedPredictor`).
    """

    style: str = "pop"
    tempo_bpm: float | None = None
    follow: bool = False
    key: str = "auto"
    seed: int = 0
    lookahead_s: float = 0.06
    idle_bars: float = 4.0
    chord_model: str = "fallback"

    def checked(self) -> AccompanySettings:
        """These settings, or a :class:`~tunesmith.errors.UsageError` naming the bad one."""
        if self.tempo_bpm is not None and not 30.0 <= self.tempo_bpm <= 300.0:
            raise UsageError(f"--tempo must be 30-300 BPM, got {self.tempo_bpm:g}")
        if self.key != "auto":
            try:
                Key.parse(self.key)
            except ValueError:
                raise UsageError(f"--key: not a key: {self.key!r} (auto, C, Am, F#m, Bb …)") from None
        if not 0.0 < self.lookahead_s <= 0.5:
            raise UsageError("lookahead must be 0-500 ms")
        if self.chord_model not in CHORD_MODELS:
            raise UsageError(f"--chord-model must be one of {', '.join(CHORD_MODELS)}, got {self.chord_model!r}")
        return self


@dataclass
class _Slot:
    start: float
    end: float
    chord: Chord
    revisions: int = 0


@dataclass
class _Sounding:
    end: float  # beats
    on_time: float  # seconds
    part: int


@dataclass
class EngineStats:
    """Counts for reports: events fed, onsets, chord decisions and revisions, band notes played."""

    events: int = 0
    onsets: int = 0
    decisions: int = 0
    revisions: int = 0
    band_notes: int = 0
    stops: int = 0
    key_changes: list[tuple[float, str]] = field(default_factory=list)


class Accompanist:
    """A band that plays along with a performer, causally (see the module docstring).

    Parameters
    ----------
    settings : AccompanySettings
        Style, tempo, key, seed, look-ahead.
    predictor : ChordPredictor, optional
        Chord chooser; the :class:`~tunesmith.accompany.chords.DiatonicPredictor` fallback when None.
    style : Style, optional
        An already loaded style (else ``settings.style`` is loaded).
    """

    def __init__(
        self,
        settings: AccompanySettings | None = None,
        predictor: ChordPredictor | None = None,
        style: Style | None = None,
    ) -> None:
        self.settings = (settings or AccompanySettings()).checked()
        self.style = style or get_style(self.settings.style)
        self.band = Band(self.style, self.settings.seed)
        if predictor is None:
            if self.settings.chord_model == "learned":
                from tunesmith.accompany.learned import LearnedPredictor

                predictor = LearnedPredictor(style=self.style)  # with a learned style's chord adapter
            else:
                predictor = DiatonicPredictor()
        self.predictor: ChordPredictor = predictor
        bpm = self.settings.tempo_bpm or self.style.tempo_default
        self.tempo = TempoTracker(bpm, self.settings.follow)
        fixed = None if self.settings.key == "auto" else Key.parse(self.settings.key)
        self.keys = KeyTracker(fixed)
        self.bar_beats = self.style.bar_beats
        self.performer = Performer(self.bar_beats)
        self.ticks_per_bar = round(self.bar_beats / STEP)
        half = self.bar_beats / 2
        # Mid-bar chord changes where the style's harmonic rhythm has chords of half a bar or less.
        self.decisions_per_bar = 2 if min(self.style.harmonic_rhythm) <= half + 1e-9 else 1
        self.stats = EngineStats()
        self.history: list[PlayedSlot] = []
        self.chord_track: list[tuple[float, float, Chord | None]] = []  # (beat, seconds, chord); None = band stops
        self._slot: _Slot | None = None
        self._pending: list[tuple[float, int, PlannedNote]] = []  # (start beat, serial, note), sorted
        self._serial = 0
        self._sounding: dict[tuple[int, int], _Sounding] = {}  # (channel, pitch) -> the band note sounding
        self._playing = False
        self._grid = False  # start() put beat 0 somewhere: keep that grid when re-entering
        self._next_tick = 0
        self._now = -math.inf
        self._programs_sent = False
        self._section = self._section_names()[0]
        self._section_phrase = -1  # the phrase the section was chosen for
        self._energy = 0.6
        self._finished = False
        self._ending = False
        # Load the chord statistics and build every key's candidates now, not on the first note
        # (reading the model takes tens of milliseconds: the band would come in late).
        for tonic in range(12):
            for mode in ("major", "minor"):
                candidates(Key(tonic, mode))

    # ------------------------------------------------------------------ public API
    @property
    def key(self) -> Key:
        """The key the band plays in now."""
        return self.keys.key

    @property
    def bpm(self) -> float:
        """The band's tempo now, BPM."""
        return self.tempo.bpm

    @property
    def playing(self) -> bool:
        """Whether the band is playing (not waiting for the performer)."""
        return self._playing

    def start(self, time_s: float, beat: float = 0.0) -> None:
        """Put beat ``beat`` (a bar line at 0) at ``time_s``: the grid of a file or a count-in.

        Without it, the band's beat 0 is the performer's first note.
        """
        self.tempo.start(time_s, beat)
        self._grid = True

    def feed(self, time_s: float, message: mido.Message) -> list[BandEvent]:
        """Hear one performer message at ``time_s`` seconds; the band events this made due.

        Messages must come in time order (a message older than the last is taken as
        arriving now). Note-ons, note-offs, sustain pedal (CC 64) and all-notes-off
        (CC 120/123) are heard; anything else is ignored.
        """
        time_s = max(time_s, self._now)
        out = self._run_ticks(time_s)
        self._now = time_s
        self.stats.events += 1
        kind = message.type
        if kind == "note_on" and message.velocity > 0:
            self._note_on(time_s, message)
        elif kind in ("note_on", "note_off"):
            beat = self._beat(time_s)
            note = self.performer.note_off(message.channel, message.note, beat)
            if note is not None:
                self.keys.add(note.pitch, note.end - note.start - ONSET_WEIGHT, beat)
        elif kind == "control_change":
            beat = self._beat(time_s)
            if message.control == 64:
                for note in self.performer.set_pedal(message.channel, message.value >= 64, beat):
                    self.keys.add(note.pitch, note.end - note.start - ONSET_WEIGHT, beat)
            elif message.control in (120, 123):
                self.performer.release_all(beat)
        out += self._run_ticks(time_s)
        return out

    def advance(self, now_s: float) -> list[BandEvent]:
        """Let time pass to ``now_s`` seconds; the band events that became due for planning."""
        now_s = max(now_s, self._now)
        out = self._run_ticks(now_s)
        self._now = now_s
        return out

    def next_decision_s(self) -> float:
        """When the next tick must be planned, seconds (inf while the band waits)."""
        if not self._playing:
            return math.inf
        return self.tempo.time_of(self._next_tick * STEP) - self.settings.lookahead_s

    def stop(self, time_s: float) -> list[BandEvent]:
        """End at once: a note-off for every band note sounding, then all-notes-off on the band's channels."""
        time_s = max(time_s, self._now)
        out = [self._off(key, s, time_s) for key, s in sorted(self._sounding.items())]
        self._sounding.clear()
        self._pending.clear()
        out += [
            BandEvent(time_s, mido.Message("control_change", channel=ch, control=123, value=0), "band")
            for ch in self.band.channels
        ]
        if self._playing:
            self.chord_track.append((self._beat(time_s), time_s, None))
        self._playing = False
        self._finished = True
        return out

    def finish(self, time_s: float) -> list[BandEvent]:
        """End a take: play to the next bar line after ``time_s``, close on a held chord, release everything."""
        time_s = max(time_s, self._now)
        out = self._run_ticks(time_s)
        beat = self._beat(time_s)
        self.performer.release_all(beat)
        if self._playing and self._slot is not None:
            # The first bar line after the performer's end whose downbeat is not yet planned.
            end_bar = math.ceil(max(beat, self._next_tick * STEP) / self.bar_beats - 1e-6)
            self._ending = True  # no going quiet in the last bar
            out += self._run_ticks_until(end_bar * self.ticks_per_bar)
            chord = self._slot.chord
            self._pending.clear()
            self._cut_all(end_bar * self.bar_beats)
            self._close_slot(end_bar * self.bar_beats)
            self.chord_track.append((end_bar * self.bar_beats, self.tempo.time_of(end_bar * self.bar_beats), chord))
            for planned in self.band.final_hit(end_bar, chord):
                self._push(planned)
            self._slot = _Slot(end_bar * self.bar_beats, (end_bar + 1) * self.bar_beats, chord)
            out += self._run_ticks_until((end_bar + 1) * self.ticks_per_bar, plan=False)
            time_s = max(time_s, self.tempo.time_of((end_bar + 1) * self.bar_beats))
        return out + self.stop(time_s)

    # ------------------------------------------------------------------ input
    def _beat(self, time_s: float) -> float:
        return self.tempo.beat_at(time_s) if self.tempo.started else 0.0

    def _note_on(self, time_s: float, message: mido.Message) -> None:
        if not self._playing and not self._finished:
            self._enter(time_s)
        beat = self._beat(time_s)
        self.tempo.onset(time_s)
        self.performer.note_on(message.channel, message.note, message.velocity, beat, time_s)
        self.keys.add(message.note, ONSET_WEIGHT, beat)
        self.stats.onsets += 1

    def _enter(self, time_s: float) -> None:
        """The performer plays after a silence (or for the first time): the band comes in."""
        lookahead = self.settings.lookahead_s
        if not self.tempo.started:
            self.tempo.start(time_s, 0.0)  # beat 0, a bar line, on the first note
            first_tick = 0
        elif not self._grid:
            # No grid was given: the performer's re-entry is a downbeat (at the tempo the band had).
            bar = math.ceil(self.tempo.beat_at(time_s) / self.bar_beats)
            self.tempo.start(time_s, bar * self.bar_beats)
            first_tick = bar * self.ticks_per_bar
        else:  # a fixed grid: come in on the first 16th that can still be planned
            first_tick = math.ceil(self.tempo.beat_at(time_s + lookahead) / STEP - 1e-9)
        self._next_tick = max(first_tick, self._next_tick)
        self._playing = True
        self._slot = None

    # ------------------------------------------------------------------ ticks
    def _run_ticks(self, until_s: float) -> list[BandEvent]:
        out: list[BandEvent] = []
        lookahead = self.settings.lookahead_s
        while self._playing and self.tempo.time_of(self._next_tick * STEP) - lookahead <= until_s:
            out += self._tick(self._next_tick)
            self._next_tick += 1
        return out

    def _run_ticks_until(self, stop_tick: int, plan: bool = True) -> list[BandEvent]:
        out: list[BandEvent] = []
        while self._playing and self._next_tick < stop_tick:
            out += self._tick(self._next_tick) if plan else self._emit(self._next_tick * STEP)
            self._next_tick += 1
        return out

    def _tick(self, tick: int) -> list[BandEvent]:
        beat = tick * STEP
        out: list[BandEvent] = []
        perf = self.performer
        idle_since = perf.last_activity_beat if perf.last_activity_beat is not None else beat
        idle = beat - idle_since > self.settings.idle_bars * self.bar_beats
        if idle and not (perf.held or perf.pedalled or self._ending):
            return self._go_quiet(beat)
        if not self._programs_sent:
            out += self._programs(self.tempo.time_of(beat))
        per_decision = self.ticks_per_bar // self.decisions_per_bar
        at_decision = tick % per_decision == 0
        bar = tick // self.ticks_per_bar
        if at_decision or self._slot is None or self._slot.end <= beat + 1e-9:
            self._decide(beat, bar, tick % self.ticks_per_bar == 0 or self._slot is None)
        else:
            self._maybe_revise(beat, bar)
        return out + self._emit(beat)

    def _decide(self, beat: float, bar: int, plan_bar: bool) -> None:
        """A new harmonic-rhythm slot from ``beat``: pick its chord, plan the bar (or re-plan from here)."""
        self._close_slot(beat)
        key_before = self.keys.key
        key = self.keys.update(self._heard_beat(beat))
        if key != key_before:
            self.stats.key_changes.append((beat, key.short()))
        if plan_bar and (self._section_phrase != bar // 4 or not self.history):
            self._choose_section(beat, bar // 4)
        elif not plan_bar and bar % 4 == 3 and self._section_phrase == bar // 4:
            # Half a bar before a new phrase: choose its section and write its drums now, so the
            # phrase's first tick (which plans a whole bar) has less to do.
            self._choose_section(beat, bar // 4 + 1)
            if any(p.is_drum for p in self.band.parts):
                self.band.prepare_drums(bar // 4 + 1, self._section, self._energy)
        per_decision = self.bar_beats / self.decisions_per_bar
        end = (math.floor(beat / per_decision + 1e-9) + 1) * per_decision
        context = ChordContext(
            beat,
            self._heard_beat(beat),
            beat,
            end,
            self.bar_beats,
            key,
            None,
            self.history,
            self.performer,
            self.keys.changes,
        )
        chord = colour(self.predictor.choose(context), key, self.style.harmony_source)
        self.stats.decisions += 1
        previous = self.history[-1].chord if self.history else None
        self._slot = _Slot(beat, end, chord)
        if chord != previous or plan_bar:
            self.chord_track.append((beat, self.tempo.time_of(beat), chord))
        if plan_bar or chord != previous:
            self._plan(bar, beat, drums=plan_bar)

    def _maybe_revise(self, beat: float, bar: int) -> None:
        slot = self._slot
        assert slot is not None
        if slot.revisions >= 2:  # a slot changes its mind at most twice: no thrashing on wrong notes
            return
        context = ChordContext(
            beat,
            self._heard_beat(beat),
            slot.start,
            slot.end,
            self.bar_beats,
            self.keys.key,
            slot.chord,
            self.history,
            self.performer,
            self.keys.changes,
        )
        chord = colour(self.predictor.choose(context), self.keys.key, self.style.harmony_source)
        if chord != slot.chord:
            slot.chord = chord
            slot.revisions += 1
            self.stats.revisions += 1
            self.chord_track.append((beat, self.tempo.time_of(beat), chord))
            self._plan(bar, beat, drums=False)

    def _heard_beat(self, beat: float) -> float:
        """How far the performer has been heard when ``beat`` is planned (its decision time), beats."""
        return min(beat, self.tempo.beat_at(self.tempo.time_of(beat) - self.settings.lookahead_s))

    def _close_slot(self, beat: float) -> None:
        slot = self._slot
        if slot is not None and beat > slot.start:
            self.history.append(PlayedSlot(slot.start, beat, slot.chord))
            if len(self.history) > 4096:
                del self.history[:2048]
            self.performer.prune(beat)
        self._slot = None

    def _choose_section(self, beat: float, phrase: int) -> None:
        """Energy and section of four-bar phrase ``phrase`` from the performer's recent playing:
        louder and busier = the livelier section."""
        self._section_phrase = phrase
        recent = [n for n in self.performer.notes[-64:] if n.start >= beat - 2 * self.bar_beats]
        if recent:
            velocity = sum(n.velocity for n in recent) / len(recent)
            density = len(recent) / (2 * self.bar_beats)  # notes per beat
            self._energy = min(1.0, max(0.3, 0.3 + 0.55 * (velocity - 40) / 80 + 0.08 * min(density, 2.0)))
        calm, lively = self._section_names()
        if self._section == lively and self._energy < 0.7:
            self._section = calm
        elif self._section != lively and self._energy >= 0.8:
            self._section = lively

    def _section_names(self) -> tuple[str, str]:
        sections = self.style.sections
        calm = next((s for s in ("verse", "a", "loop") if s in sections), next(iter(sections)))
        lively = next((s for s in ("chorus", "b", "loop") if s in sections), calm)
        return calm, lively

    def _go_quiet(self, beat: float) -> list[BandEvent]:
        """The performer stopped: release the band and wait for them."""
        self._pending.clear()
        self._cut_all(beat)
        out = self._emit(beat)
        self._close_slot(beat)
        self.chord_track.append((beat, self.tempo.time_of(beat), None))
        self._playing = False
        self.stats.stops += 1
        return out

    # ------------------------------------------------------------------ planning
    def _bar_slots(self, bar: int) -> list[Slot]:
        """The chords of bar ``bar`` as known now (the current chord lasts to the bar's end)."""
        lo, hi = bar * self.bar_beats, (bar + 1) * self.bar_beats
        changes: list[tuple[float, Chord]] = []
        for beat, _, chord in reversed(self.chord_track):
            if chord is None:
                break
            changes.append((max(beat, lo), chord))
            if beat <= lo + 1e-9:
                break
        changes.reverse()
        slots: list[Slot] = []
        for i, (start, chord) in enumerate(changes):
            stop = changes[i + 1][0] if i + 1 < len(changes) else hi
            if stop > start + 1e-9:
                slots.append(Slot(start, stop - start, chord))
        if not slots or slots[0].start > lo + 1e-9:  # entered mid-bar: the first chord covers the start
            first = slots[0].chord if slots else self._slot.chord  # type: ignore[union-attr]
            head = Slot(lo, (slots[0].start if slots else hi) - lo, first)
            slots.insert(0, head)
        return slots

    def _plan(self, bar: int, from_beat: float, drums: bool) -> None:
        """(Re-)plan bar ``bar`` from ``from_beat``: drop what was planned there, cut what sounds across it."""
        notes = self.band.plan_bar(bar, self._bar_slots(bar), self.keys.key, self._section, self._energy, drums)
        replaced = {i for i, p in enumerate(self.band.parts) if drums or not p.is_drum}
        self._pending = [e for e in self._pending if e[2].part not in replaced or e[0] < from_beat - 1e-9]
        # Notes sounding (or about to) across the change stop there.
        for s in self._sounding.values():
            if s.part in replaced and s.end > from_beat:
                s.end = from_beat
        kept = []
        for start, serial, planned in self._pending:
            if planned.part in replaced and planned.note.end > from_beat + 1e-9:
                n = planned.note
                planned = PlannedNote(planned.part, Note(n.start, max(from_beat - n.start, 0.01), n.pitch, n.velocity))
            kept.append((start, serial, planned))
        self._pending = kept
        for planned in notes:
            if planned.note.start >= from_beat - 1e-9:
                self._push(planned)

    def _push(self, planned: PlannedNote) -> None:
        self._serial += 1
        bisect.insort(self._pending, (planned.note.start, self._serial, planned))

    def _cut_all(self, beat: float) -> None:
        """Every sounding band note ends at ``beat`` (emitted by the next :meth:`_emit`)."""
        for s in self._sounding.values():
            s.end = min(s.end, beat)

    # ------------------------------------------------------------------ output
    def _programs(self, time_s: float) -> list[BandEvent]:
        self._programs_sent = True
        return [
            BandEvent(time_s, mido.Message("program_change", channel=p.channel, program=p.program), p.name)
            for p in self.band.parts
        ]

    def _off(self, key: tuple[int, int], s: _Sounding, time_s: float) -> BandEvent:
        channel, pitch = key
        name = self.band.parts[s.part].name
        return BandEvent(max(time_s, s.on_time + 0.001), _message("note_off", channel, pitch), name)

    def _emit(self, beat: float) -> list[BandEvent]:
        """The note-offs and note-ons that fall in the 16th starting at ``beat``, with their times."""
        stop = beat + STEP - 1e-9
        out: list[BandEvent] = []
        for key in [k for k, s in self._sounding.items() if s.end < stop]:
            s = self._sounding.pop(key)
            out.append(self._off(key, s, self.tempo.time_of(s.end)))
        parts = self.band.parts
        while self._pending and self._pending[0][0] < stop:
            _, _, planned = self._pending.pop(0)
            part = parts[planned.part]
            n = planned.note
            channel = DRUM_CHANNEL if part.is_drum else part.channel
            key = (channel, n.pitch)
            t_on = self.tempo.time_of(max(n.start, beat))
            old = self._sounding.pop(key, None)
            if old is not None:  # the same key again: release it first, or the new note would be cut short
                out.append(self._off(key, old, t_on))
            on = _message("note_on", channel, n.pitch, n.velocity)
            out.append(BandEvent(t_on, on, part.name))
            self._sounding[key] = _Sounding(n.end, t_on, planned.part)
            self.stats.band_notes += 1
            if n.end < stop:  # shorter than the rest of this 16th: release it now too
                s = self._sounding.pop(key)
                out.append(self._off(key, s, self.tempo.time_of(s.end)))
        out.sort(key=lambda e: (e.time_s, e.message.type == "note_on"))
        return out
