"""The learned chord model (:mod:`tunesmith.models.chord`) as a :class:`~tunesmith.accompany.chords.ChordPredictor`.

The model was trained to run live: one step per beat, shown the chord of the previous
beat and the melody of the previous beat only (its ``LIVE`` mode), and it returns a
distribution over the coming beat's chord. This adapter keeps the network's state in
step with the band's clock: at every call it advances through the beats that have
begun since the last call — feeding the performer's notes of each previous beat
(duration-weighted pitch classes from the :class:`~tunesmith.accompany.performer.Performer`)
and, as the previous chord, the candidate that best covers the notes of the two beats
before (the band's chord where the performer was silent: fed its own guesses, the network
keeps a wrong chord) — and answers with the most likely chord. Inside a slot it revises
at a beat line when the model, having heard one more beat, is clearly surer of another
chord (``margin`` nats).

Chosen with ``--chord-model learned``. With a style made by ``tunesmith learn`` the network
carries that style's chord adapter (:func:`tunesmith.models.chord.model_for_style`), so the
band leans to the musician's own chord vocabulary and moves. On POP909 training songs it scores well below the
fallback on the note-in-chord ratio (0.48 against 0.66; ``docs/BENCHMARKS.md``), so the
fallback stays the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from tunesmith.accompany.chords import ChordContext
from tunesmith.score.theory import Chord


@dataclass
class LearnedPredictor:
    """Streams the packaged chord network beat by beat (see the module docstring).

    Parameters
    ----------
    margin : float
        Log-probability (nats) by which the model must prefer another chord to revise at a beat
        line inside a slot.
    style : Style, optional
        The band's style: a learned style's chord adapter is applied (the packaged network otherwise).
    """

    margin: float = 1.0
    style: object = field(default=None, repr=False)
    _model: object = field(default=None, repr=False)
    _state: np.ndarray | None = field(default=None, repr=False)
    _next_beat: int | None = field(default=None, repr=False)  # the beat whose chord the next step predicts
    _logp: np.ndarray | None = field(default=None, repr=False)  # log-probabilities for the last stepped beat

    model: ClassVar[dict[str, str]] = {"id": "chord-gru-pop909 (streaming)"}

    def __post_init__(self) -> None:
        from tunesmith.models.chord import model_for_style

        self._model = model_for_style(self.style)
        if getattr(self._model, "adapter", None) is not None:
            self.model = {"id": f"chord-gru-pop909 (streaming) + chord-adapter:{getattr(self.style, 'name', '')}"}

    def choose(self, context: ChordContext) -> Chord:
        """The chord for ``context.beat``: the network's most likely chord for the beat it falls in."""
        from tunesmith.models.chord import NO_CHORD, token_chord

        beat = math.floor(context.beat + 1e-9)
        fresh = self._advance(context, beat)
        assert self._logp is not None
        logp = self._logp.copy()
        logp[NO_CHORD] = -np.inf
        best = int(np.argmax(logp))
        chord = token_chord(best)
        assert chord is not None
        if context.current is None:
            return chord
        # Revise only at a beat line (the network has heard one more beat) and only when it is clearly surer.
        if not fresh or abs(context.beat - beat) > 1e-9:
            return context.current
        from tunesmith.models.chord import chord_token

        current = chord_token(context.current)
        if best != current and logp[best] - logp[current] > self.margin:
            return chord
        return context.current

    def _advance(self, context: ChordContext, beat: int) -> bool:
        """Step the network through every beat up to ``beat``; whether it stepped at all."""
        from tunesmith.models.chord import BOS, LIVE, beat_features, chord_token

        model = self._model
        first = False
        if self._state is None or self._next_beat is None or beat < self._next_beat - 1:
            self._state, self._next_beat = model.start(), beat  # first call, or the clock restarted
            first = True
        stepped = False
        bar = max(1, round(context.bar_beats))
        while self._next_beat <= beat:
            b = self._next_beat
            heard = context.performer.weights(b - 1.0, min(float(b), context.now))
            total = heard.sum()
            melody = np.zeros((2, 12), np.float32)
            if total > 0:
                melody[0] = heard / total
            features = beat_features(melody, np.array([(b - 1) % bar, b % bar]), LIVE)[1:2]
            # The previous beat's chord as the melody heard there suggests it (the network leans on its
            # previous-chord input, and fed its own guesses it keeps a wrong chord); the band's chord
            # where the performer was silent; BOS at first.
            before = _heard_chord(context, b) or _chord_at(context, b - 1.0)
            previous = np.array([BOS if first else chord_token(before)])
            first = False
            self._logp, self._state = model.step(self._state, previous, features)
            self._logp = self._logp[0]
            self._next_beat = b + 1
            stepped = True
        return stepped


def _heard_chord(context: ChordContext, beat: int) -> Chord | None:
    """The candidate chord that best covers the notes of the two beats before ``beat`` (None if silent)."""
    from tunesmith.accompany.chords import candidates

    heard = context.performer.counts(beat - 2.0, min(float(beat), context.now))
    if heard.sum() <= 0:
        return None
    cands = candidates(context.key)
    return cands.chords[int(np.argmax(cands.tones @ heard + 1e-3 * cands.table.log_start))]


def _chord_at(context: ChordContext, beat: float) -> Chord | None:
    """The chord the band played at ``beat`` (None before it started or while it was silent)."""
    if context.current is not None and context.slot_start <= beat + 1e-9:
        return context.current
    for slot in reversed(context.history):
        if slot.start <= beat + 1e-9 < slot.end:
            return slot.chord
        if slot.end <= beat:
            break
    return None
