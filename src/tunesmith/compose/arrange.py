"""The band: bass, comping, pads, chorale voices and drums, played from the style's patterns.

Each part reads its pattern (a step string, see ``docs/STYLES.md``) bar by bar
against the chord timeline. Chords are voiced with smooth voice leading — each
new voicing is the inversion, within the part's range, that moves the voices
least — and the bass plays its pattern's degrees of the sounding chord, always
sounding the root where a chord changes, with approach notes into the next
chord. Drums play the section's groove, a variation every fourth bar, a fill
into each new section and a crash on its downbeat. Velocity follows each
section's energy, rising through the bar before a louder section.
"""

from __future__ import annotations

import itertools

import numpy as np

from tunesmith.compose.harmony import Slot
from tunesmith.compose.melody import chord_at, chord_scale
from tunesmith.compose.style import DRUM_KEYS, Groove, Part, Style
from tunesmith.score.theory import Chord, Key
from tunesmith.score.types import Note

SectionSpan = tuple[str, int, int, float]  # name, start bar, bars, energy


def _bars(pattern: str) -> list[str]:
    """The bars of a pattern: split at ``|``; 32+ steps without separators are two bars."""
    bars = pattern.split("|") if "|" in pattern else [pattern]
    if len(bars) == 1 and len(pattern) >= 32 and len(pattern) % 2 == 0:
        bars = [pattern[: len(pattern) // 2], pattern[len(pattern) // 2 :]]
    return [b for b in bars if b] or ["."]


def _steps(pattern: str, bar: float, bar_index: int) -> tuple[str, float]:
    """The bar of a (possibly multi-bar) pattern to play at ``bar_index``, and its step length in beats."""
    bars = _bars(pattern)
    current = bars[bar_index % len(bars)]
    return current, bar / len(current)


def _bar_events(pattern: str, bar: float, bar_index: int) -> tuple[list[tuple[float, float, str]], float]:
    """Onsets of the pattern's bar at ``bar_index``: (offset, length, symbol), beats; and the step length.

    A note held (``-``) to the end of its bar carries on through the holds that open the
    pattern's following bars, so a two-bar drone is one note, not a note and an empty bar.
    """
    bars = _bars(pattern)
    n = len(bars)
    i = bar_index % n
    current = bars[i]
    step = bar / len(current)
    out = []
    for k, ch in enumerate(current):
        if ch in "-.":
            continue
        j = k + 1
        while j < len(current) and current[j] == "-":
            j += 1
        length = (j - k) * step
        b = i + 1
        while j == len(current) and b < n:  # ran to the bar line: follow the holds into the next bars
            nxt = bars[b]
            m = 0
            while m < len(nxt) and nxt[m] == "-":
                m += 1
            length += m * bar / len(nxt)
            if m < len(nxt):
                break
            b += 1
        out.append((k * step, length, ch))
    return out, step


def _velocity(energy: float, base: int = 58, span: int = 46) -> int:
    return round(base + span * energy)


# ------------------------------------------------------------------ voicing
def _voicing_candidates(chord: Chord, lo: int, hi: int, kind: str) -> list[tuple[int, ...]]:
    """Every voicing of ``chord`` of the given kind that fits in ``lo..hi``."""
    pcs = list(chord.pitch_classes)
    if kind == "shell" and len(pcs) >= 4:  # jazz shells: third and seventh (plus the ninth when there is one)
        pcs = [pcs[1], pcs[3]] + ([pcs[4]] if len(pcs) > 4 else [])
    elif len(pcs) > 4:  # drop the fifth from big extended chords
        pcs = [p for i, p in enumerate(pcs) if i != 2][:4]
    out = []
    for inversion in range(len(pcs)):
        order = pcs[inversion:] + pcs[:inversion]
        for base in range(lo, lo + 12):
            if base % 12 != order[0]:
                continue
            notes = [base]
            for pc in order[1:]:
                p = notes[-1] + 1
                while p % 12 != pc:
                    p += 1
                notes.append(p)
            if kind in ("open", "spread") and len(notes) >= 3:
                notes[1] += 12  # open position: the second voice up an octave
                notes.sort()
            elif kind == "drop2" and len(notes) >= 4:
                notes[-2] -= 12
                notes.sort()
            for octave in (0, 12, 24, 36):
                v = tuple(n + octave for n in notes)
                if v[0] >= lo and v[-1] <= hi:
                    out.append(v)
    return out


def voice_chord(chord: Chord, previous: tuple[int, ...] | None, lo: int, hi: int, kind: str) -> tuple[int, ...]:
    """The voicing of ``chord`` closest to ``previous`` (smooth voice leading), inside ``lo..hi``."""
    candidates = _voicing_candidates(chord, lo, hi, kind) or _voicing_candidates(chord, lo - 12, hi + 12, "close")
    if not candidates:
        return (lo + (chord.root - lo) % 12,)
    centre = (lo + hi) / 2
    if previous is None:
        return min(candidates, key=lambda v: (abs(np.mean(v) - centre), v))

    def cost(v: tuple[int, ...]) -> float:
        moves = sum(min(abs(a - b) for b in previous) for a in v)
        return moves + 0.3 * abs(np.mean(v) - centre)

    return min(candidates, key=lambda v: (cost(v), v))


# ------------------------------------------------------------------ parts
def play_comping(
    style: Style, part: Part, sections: list[SectionSpan], slots: list[Slot], rng: np.random.Generator
) -> list[Note]:
    """Chords/pad part: the section's comping pattern over the chords, voice-led."""
    bar = style.bar_beats
    lo, hi = part.range
    notes: list[Note] = []
    previous: tuple[int, ...] | None = None
    for name, start_bar, bars, energy in sections:
        sec = style.section(name)
        pattern_name = sec.comping.get(part.name) or part.comping[(start_bar // 4) % len(part.comping)]
        comp = style.comping[pattern_name]
        vel = _velocity(energy, 50 if part.role == "pad" else 56, 40)
        for b in range(bars):
            bar_start = (start_bar + b) * bar
            bar_end = bar_start + bar
            events, step = _bar_events(comp.rhythm, bar, start_bar + b)
            # Every chord change inside the bar starts the chord again, pattern or not.
            changes = [s.start for s in slots if bar_start - 1e-9 <= s.start < bar_end - 1e-9]
            onsets = sorted({bar_start + off for off, _, _ in events} | set(changes))
            lengths = {bar_start + off: d for off, d, _ in events}
            for k, t in enumerate(onsets):
                chord = chord_at(slots, t)
                slot_end = next(s.end for s in slots if s.start <= t + 1e-9 < s.end + 1e-9)
                nxt = onsets[k + 1] if k + 1 < len(onsets) else max(bar_end, t + lengths.get(t, 0.0))
                length = lengths.get(t, nxt - t)
                if comp.kind == "pad":
                    length = slot_end - t
                length = min(length, slot_end - t, (nxt - t) if comp.kind != "pad" else length)
                if length <= 1e-6:
                    continue
                voicing = voice_chord(chord, previous, lo, hi, part.voicing)
                previous = voicing
                accent = 6 if abs((t - bar_start) % bar) < 1e-9 else 0
                v = min(127, vel + accent + int(rng.integers(-4, 5)))
                if comp.kind == "arpeggio":
                    order = list(voicing)
                    if comp.order == "down":
                        order = order[::-1]
                    elif comp.order == "updown":
                        order = order + order[-2:0:-1]
                    elif comp.order == "random":
                        order = [order[int(i)] for i in rng.permutation(len(order))]
                    idx = round((t - bar_start) / step)
                    pitch = order[idx % len(order)]
                    notes.append(Note(t, length * 0.98, pitch, v))
                elif comp.kind == "strum":
                    spread = min(0.03, length / 8)  # ~15 ms per string at 120 BPM, low to high
                    for i, pitch in enumerate(voicing):
                        notes.append(Note(t + i * spread, max(length - i * spread, 0.05) * 0.97, pitch, v - 2 * i))
                else:
                    for pitch in voicing:
                        notes.append(Note(t, length * (0.99 if comp.kind == "pad" else 0.92), pitch, v))
    return notes


def _degree(chord: Chord, symbol: str, key: Key) -> int:
    """Pitch class of a bass degree of ``chord``."""
    pcs = chord.pitch_classes
    root = chord.root if chord.bass is None else chord.bass
    if symbol in "R8":
        return root
    if symbol == "3":
        return pcs[1] if len(pcs) > 1 else (chord.root + 4) % 12
    if symbol == "5":
        return pcs[2] if len(pcs) > 2 else (chord.root + 7) % 12
    if symbol == "7":
        return pcs[3] if len(pcs) > 3 else pcs[2] if len(pcs) > 2 else chord.root
    return root


def _place(pc: int, near: float, lo: int, hi: int) -> int:
    options = [p for p in range(lo, hi + 1) if p % 12 == pc]
    return min(options, key=lambda p: (abs(p - near), p)) if options else lo


def play_bass(
    style: Style,
    part: Part,
    key: Key,
    sections: list[SectionSpan],
    slots: list[Slot],
    rng: np.random.Generator,
    kicks: list[float] | None = None,
) -> list[Note]:
    """Bass: the pattern's chord degrees, the root on every chord change, approaches into the next chord.

    With ``kicks`` (kick-drum onsets, beats) the bass locks to the kick: a kick hit with no bass
    note starting within a 32nd of it gets one (the chord's root; a held note is re-struck there).
    """
    kick_times = np.array(sorted(kicks or []))
    bar = style.bar_beats
    lo, hi = part.range
    home = lo + 5  # sit low: around the bottom of the range, where a bass player lives
    notes: list[Note] = []
    prev = float(home)
    for name, start_bar, bars, energy in sections:
        sec = style.section(name)
        pattern_name = sec.bass or part.bass[(start_bar // 4) % len(part.bass)]
        pattern = style.bass[pattern_name]
        vel = _velocity(energy, 66, 36)
        for b in range(bars):
            bar_start = (start_bar + b) * bar
            bar_end = bar_start + bar
            bar_events, _ = _bar_events(pattern, bar, start_bar + b)
            events = {bar_start + off: (d, ch) for off, d, ch in bar_events}
            for s in slots:  # the root lands on every chord change
                if bar_start - 1e-9 <= s.start < bar_end - 1e-9 and not any(abs(t - s.start) < 1e-9 for t in events):
                    nxt = min([t for t in events if t > s.start] + [bar_end])
                    events[s.start] = (nxt - s.start, "R")
            if len(kick_times):
                in_bar = kick_times[(kick_times >= bar_start - 1e-9) & (kick_times < bar_end - 1e-9)]
                for k in in_bar:
                    if not any(abs(t - k) <= 0.125 + 1e-9 for t in events):
                        nxt = min([t for t in events if t > k] + [bar_end])
                        events[float(k)] = (nxt - k, "R")
                # A note now overlapped by a newer onset stops where that one starts.
                order = sorted(events)
                for a, b_ in itertools.pairwise(order):
                    d, ch = events[a]
                    if a + d > b_ + 1e-9:
                        events[a] = (b_ - a, ch)
            times = sorted(events)
            for _k, t in enumerate(times):
                length, symbol = events[t]
                chord = chord_at(slots, t)
                slot_end = next((s.end for s in slots if s.start <= t + 1e-9 < s.end), bar_end)
                length = min(length, slot_end - t) if symbol not in "AS" else length
                if symbol in "AS":
                    # Lead into the next chord's root: a semitone (A) or a scale step (S) away.
                    nxt_chord = chord_at(slots, slot_end + 1e-6)
                    target = _place(nxt_chord.root if nxt_chord.bass is None else nxt_chord.bass, prev, lo, hi)
                    if symbol == "A":
                        pitch = target - 1 if prev <= target else target + 1
                    else:
                        scale = sorted(p for p in range(lo, hi + 1) if p % 12 in chord_scale(key, nxt_chord))
                        below = [p for p in scale if p < target]
                        above = [p for p in scale if p > target]
                        pitch = (below[-1] if below else target) if prev <= target else (above[0] if above else target)
                else:
                    pc = _degree(chord, symbol, key)
                    # Roots pull back towards the bass's home register, so a walking line that
                    # climbs for a few bars comes back down instead of drifting out of range.
                    pitch = _place(pc, prev if symbol != "R" else 0.35 * prev + 0.65 * home, lo, hi)
                    if symbol == "8":
                        pitch = pitch + 12 if pitch + 12 <= hi else pitch
                pitch = min(max(pitch, lo), hi)
                accent = 8 if abs(t - bar_start) < 1e-9 else 0
                notes.append(Note(t, max(length * 0.9, 0.05), int(pitch), min(127, vel + accent)))
                prev = float(pitch)
    return notes


def play_chorale_voice(
    style: Style, part: Part, melody: list[Note], slots: list[Slot], sections: list[SectionSpan], cache: dict
) -> list[Note]:
    """One lower voice (alto, tenor or bass) of a four-part harmonisation of the melody.

    All three voices are solved together once per chord (cached): the bass takes the
    chord's bass note, the inner voices complete the chord below the soprano with no
    crossing, at most an octave between neighbouring upper voices, and the smallest total
    motion, with parallel fifths and octaves against the previous chord penalised heavily.
    """
    if "voices" not in cache:
        cache["voices"] = _solve_chorale(style, melody, slots, sections)
    voice = max(1, min(3, part.voice or 1)) - 1
    return [Note(t, d, pitches[voice], v) for t, d, pitches, v in cache["voices"]]


def _solve_chorale(style: Style, melody: list[Note], slots: list[Slot], sections: list[SectionSpan]):
    from tunesmith.compose.song import part_range

    # The ranges the voices really get (inside their instrument's), so nothing is moved later.
    ranges = [part_range(p) for p in sorted((p for p in style.parts if p.role == "voice"), key=lambda p: p.voice)]
    while len(ranges) < 3:
        ranges.append(((55, 74), (48, 67), (40, 60))[len(ranges)])
    bar = style.bar_beats
    spans = [(s, st, n, e) for s, st, n, e in sections]
    out = []
    prev: tuple[int, int, int, int] | None = None
    for slot in slots:
        energy = next((e for _, st, n, e in spans if st * bar <= slot.start < (st + n) * bar), 0.7)
        sounding = [n for n in melody if n.start <= slot.start + 1e-6 < n.end]
        soprano = sounding[0].pitch if sounding else (prev[0] if prev else 72)
        pcs = slot.chord.pitch_classes[:4]
        bass_pc = slot.chord.root if slot.chord.bass is None else slot.chord.bass
        best, best_cost = None, float("inf")
        alto_opts = [p for p in range(ranges[0][0], ranges[0][1] + 1) if p % 12 in pcs and p <= soprano]
        tenor_opts = [p for p in range(ranges[1][0], ranges[1][1] + 1) if p % 12 in pcs]
        bass_opts = [p for p in range(ranges[2][0], ranges[2][1] + 1) if p % 12 == bass_pc]
        if slot.chord.bass is None and len(pcs) >= 3:
            # A first inversion, at a price: how a chorale escapes the parallel octaves a soprano
            # doubling the roots would force on a root-position bass.
            bass_opts += [p for p in range(ranges[2][0], ranges[2][1] + 1) if p % 12 == pcs[1]]
        for a, t, b in itertools.product(alto_opts, tenor_opts, bass_opts):
            if not (b <= t <= a <= soprano) or soprano - a > 12 or a - t > 12 or t - b > 19:
                continue
            present = {soprano % 12, a % 12, t % 12, b % 12}
            cost = 6.0 * sum(1 for pc in pcs[:3] if pc not in present)  # complete the triad
            if b % 12 != bass_pc:
                cost += 12.0 + (20.0 if soprano % 12 == b % 12 else 0.0)  # inversion; never a doubled third
            if prev is not None:
                cost += abs(a - prev[1]) + abs(t - prev[2]) + 0.5 * abs(b - prev[3])
                voices, old = (soprano, a, t, b), prev
                for i, j in itertools.combinations(range(4), 2):
                    if _parallel_perfect(old[i], old[j], voices[i], voices[j]):
                        cost += 30.0  # parallel octaves/unisons or fifths
            cost += 0.05 * abs(t - (ranges[1][0] + ranges[1][1]) / 2)
            if cost < best_cost:
                best, best_cost = (soprano, a, t, b), cost
        if best is None:
            best = (soprano, soprano - 5, soprano - 12, bass_opts[0] if bass_opts else ranges[2][0])
        prev = best
        out.append((slot.start, slot.duration * 0.97, best[1:], _velocity(energy, 54, 36)))
    return out


def _parallel_perfect(old_hi: int, old_lo: int, new_hi: int, new_lo: int) -> bool:
    """Two voices moving the same way from one perfect fifth/octave (or unison) to another."""
    up_hi, up_lo = new_hi - old_hi, new_lo - old_lo
    same_way = up_hi * up_lo > 0
    return same_way and (old_hi - old_lo) % 12 in (0, 7) and (new_hi - new_lo) % 12 == (old_hi - old_lo) % 12


def _groove_for(style: Style, groove: Groove, bar_in_section: int) -> Groove:
    if groove.variations and bar_in_section % 4 == 3:
        return style.grooves[groove.variations[(bar_in_section // 4) % len(groove.variations)]]
    return groove


def play_drums(
    style: Style, sections: list[SectionSpan], rng: np.random.Generator, playing: list[bool], ending: bool
) -> list[Note]:
    """Drums: groove per section, variations, fills into the next section, crashes on new sections."""
    bar = style.bar_beats
    notes: list[Note] = []
    fills = sorted(style.fills)
    for si, (name, start_bar, bars, energy) in enumerate(sections):
        if not playing[si]:
            continue
        sec = style.section(name)
        if not sec.groove:
            continue
        base = style.grooves[sec.groove]
        nxt_energy = sections[si + 1][3] if si + 1 < len(sections) else None
        for b in range(bars):
            bar_no = start_bar + b
            bar_start = bar_no * bar
            last_bar = b == bars - 1
            groove = _groove_for(style, base, b)
            if last_bar and nxt_energy is not None and fills and bars >= 2:
                groove = style.fills[fills[(si + int(rng.integers(len(fills)))) % len(fills)]]
            vel = _velocity(energy, 62, 42)
            if last_bar and nxt_energy is not None and nxt_energy > energy:
                vel += 6  # push into the louder section
            for drum, line in groove.lines.items():
                steps, step = _steps(line, bar, bar_no)
                for i, ch in enumerate(steps):
                    if ch == ".":
                        continue
                    v = {"x": vel, "X": min(127, vel + 16), "o": max(20, vel - 40)}[ch]
                    v = int(np.clip(v + rng.integers(-5, 6), 1, 127))
                    notes.append(Note(bar_start + i * step, min(step, 0.25), DRUM_KEYS[drum], v))
            if b == 0 and si > 0 and energy >= 0.6:
                notes.append(Note(bar_start, 0.5, DRUM_KEYS["crash"], min(127, vel + 12)))
    if ending and sections:
        name, start_bar, bars, energy = sections[-1]
        end = (start_bar + bars) * bar
        notes.append(Note(end, 1.0, DRUM_KEYS["crash"], 110))
        notes.append(Note(end, 1.0, DRUM_KEYS["kick"], 105))
    return notes


def swing_time(beat: float, swing: float, unit: float) -> float:
    """Where an onset lands with swing.

    Subdivisions of ``unit`` beats (0.5 = eighths) come in pairs; the second of each pair
    moves late, at ``swing`` = 1 all the way to the last triplet (``unit / 3`` later).
    """
    if swing <= 0:
        return beat
    pos = beat % (2 * unit)
    if abs(pos - unit) < 1e-6:
        return beat + swing * unit / 3.0
    return beat


def unswing_time(beat: float, swing: float, unit: float) -> float:
    """The notated (straight) position of a swung onset: the inverse of :func:`swing_time`."""
    if swing <= 0:
        return beat
    delay = swing * unit / 3.0
    pos = (beat - delay) % (2 * unit)
    if abs(pos - unit) < 1e-6 or abs(pos - unit - 2 * unit) < 1e-6:
        return beat - delay
    return beat


def unswing(notes: list[Note] | tuple[Note, ...], swing: float, unit: float) -> list[Note]:
    """Notes moved back to the straight grid they were written on (for measuring the pattern)."""
    return [Note(unswing_time(n.start, swing, unit), n.duration, n.pitch, n.velocity) for n in notes]


def apply_swing(notes: list[Note], swing: float, unit: float) -> list[Note]:
    """Swing every onset and note end that falls on an off-beat subdivision."""
    if swing <= 0:
        return notes
    out = []
    for n in notes:
        start = swing_time(n.start, swing, unit)
        end = swing_time(n.end, swing, unit)
        out.append(Note(start, max(end - start, 0.02), n.pitch, n.velocity))
    return out
