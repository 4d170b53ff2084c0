"""The live loop: read the performer, run the engine, send the band's events on time.

One thread does everything, in a loop that wakes at the earliest of: the next band
event's due time, the engine's next decision time, or 1 ms after the last look at the
input port. Each turn it sends what is due, hands new input to the engine (stamped
with the time it was read), lets the engine plan what became due, and sends again.
The engine plans every 16th note ``lookahead_s`` before it sounds; a plan that would
run into an event's due time waits until that event is sent (there are tens of
milliseconds of slack), and the last half millisecond before an event is waited out
by spinning rather than sleeping. For every event the loop records how late it was
handed over (planned after its due time) and how late it was actually sent.

The loop ends on a stop request, after ``duration_s``, on Ctrl-C, or when a port
goes away (the input stops answering or disappears from the system's port list; the
output refuses a message). Whatever ends it, every band note still sounding gets its
note-off, then all-notes-off and sustain-off go to every channel the band used —
nothing is left hanging.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import mido
import numpy as np

from tunesmith.accompany.band import PERFORMER_CHANNEL
from tunesmith.accompany.engine import Accompanist, BandEvent

#: Longest the loop sleeps without looking at the input, seconds.
POLL_S = 0.001
#: How often the input port's presence is checked, seconds.
ALIVE_CHECK_S = 1.0
#: An event is sent when it is due within this much, seconds (a wake-up never comes exactly on time).
EARLY_S = 0.0002
#: Planning waits when an event is due within this much (seconds), unless it is already this late.
PLAN_BUDGET_S = 0.005
LATE_PLAN_S = 0.015
#: The last stretch before an event is waited out by spinning, not sleeping (sleep wakes late), seconds.
SPIN_S = 0.0006
_CHANNEL_MESSAGES = ("note_on", "note_off", "control_change", "pitchwheel", "aftertouch", "polytouch")


class PortLostError(Exception):
    """A MIDI port stopped working (``which`` is ``"input"`` or ``"output"``)."""

    def __init__(self, which: str, detail: str) -> None:
        super().__init__(f"{which} port lost ({detail})")
        self.which = which


@dataclass
class SessionReport:
    """How a live session went (``tunesmith accompany --input … --json`` prints it).

    Attributes
    ----------
    reason : str
        Why it ended: ``stopped``, ``duration``, ``interrupted``, ``input lost``, ``output lost``.
    detail : str
        The error behind a lost port.
    seconds : float
        Length of the session, seconds.
    events_in, events_out : int
        Performer messages read; band messages sent.
    late_planned_ms : float
        Worst lateness of an event at the moment it was planned (after its due time), ms.
    late_sent_ms : dict
        Lateness of sending (p50, p99, max), ms.
    entries : int
        Times the band came in on a performer's note (the first, and after each pause).
    entry_reaction_ms : dict
        How long after that note the entry's events were sent (p50, p99, max), ms: the band
        cannot plan its entry ahead, so it is a reaction, not counted as lateness above.
    engine_max_ms : float
        Longest single engine call (``feed`` or ``advance``), ms.
    oversleep_max_ms : float
        Longest the system woke the loop later than asked, ms: a busy machine's stalls.
    hanging_notes : int
        Band notes without a note-off when the session ended (always 0 unless the output failed).
    """

    reason: str
    detail: str = ""
    seconds: float = 0.0
    events_in: int = 0
    events_out: int = 0
    late_planned_ms: float = 0.0
    late_sent_ms: dict[str, float] = field(default_factory=dict)
    entries: int = 0
    entry_reaction_ms: dict[str, float] = field(default_factory=dict)
    engine_max_ms: float = 0.0
    oversleep_max_ms: float = 0.0
    hanging_notes: int = 0
    bpm: float = 0.0
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class LiveSession:
    """Runs an :class:`Accompanist` against real (or in-memory) MIDI ports.

    Parameters
    ----------
    engine : Accompanist
        The band.
    output : object with ``send(message)``
        Where the band plays: a mido output port or :class:`~tunesmith.accompany.ports.FluidSynthOutput`.
    thru : bool
        Echo the performer's messages to the output (on channel 1) so a synth plays them too.
    clock : callable
        Seconds, monotonic (``time.perf_counter``).
    record : bool
        Keep every performer and band event (for ``--record``).
    """

    def __init__(
        self,
        engine: Accompanist,
        output: Any,
        thru: bool = False,
        clock: Callable[[], float] = time.perf_counter,
        record: bool = False,
    ) -> None:
        self.engine = engine
        self.output = output
        self.thru = thru
        self.clock = clock
        self.record = record
        self.performed: list[tuple[float, mido.Message]] = []
        self.played: list[BandEvent] = []
        self._queue: list[tuple[float, int, BandEvent, bool]] = []  # (due, order, event, entry reaction?)
        self._order = itertools.count()
        self._on: set[tuple[int, int]] = set()  # (channel, note) sent on and not yet off
        self._planned_late: list[float] = []
        self._sent_late: list[float] = []
        self._reactions: list[float] = []  # how long after the performer's note the band's entry sounded
        self._entries = 0
        self._oversleep = 0.0  # longest the system overslept a wake-up, seconds
        self._engine_max = 0.0  # longest engine call, seconds
        self._sent = 0
        self._received = 0

    # ------------------------------------------------------------------ sending
    def _plan(self, events: list[BandEvent], now: float, reaction: bool = False) -> None:
        """Queue band events; ``reaction``: the band coming in on the performer's note, which it
        could not plan ahead (measured as a reaction time, not as lateness)."""
        for e in events:
            entry = reaction and e.time_s <= now
            if not entry:
                self._planned_late.append(now - e.time_s)
            heapq.heappush(self._queue, (e.time_s, next(self._order), e, entry))

    def _send(self, msg: mido.Message) -> None:
        try:
            self.output.send(msg)
        except Exception as exc:  # rtmidi, a closed mido port, a dead synth: all mean the same here
            raise PortLostError("output", f"{exc.__class__.__name__}: {exc}") from None
        self._sent += 1
        if msg.type == "note_on" and msg.velocity > 0:
            self._on.add((msg.channel, msg.note))
        elif msg.type in ("note_on", "note_off"):
            self._on.discard((msg.channel, msg.note))

    def _send_due(self) -> None:
        while self._queue and self._queue[0][0] <= self.clock() + EARLY_S:
            due, _, event, entry = heapq.heappop(self._queue)
            self._send(event.message)
            (self._reactions if entry else self._sent_late).append(self.clock() - due)
            if self.record:
                self.played.append(event)

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        input_port: Any,
        stop: threading.Event | None = None,
        duration_s: float | None = None,
        alive: Callable[[], bool] | None = None,
    ) -> SessionReport:
        """Play until stopped, ``duration_s`` passes, Ctrl-C, or a port is lost; then silence the band.

        Parameters
        ----------
        input_port : mido input port
            Polled with ``iter_pending()`` (any mido port, real or in-memory).
        stop : threading.Event, optional
            Set it (from another thread) to end the session.
        duration_s : float, optional
            End after this many seconds.
        alive : callable, optional
            Checked every second; returning False means the input port went away.
        """
        stop = stop or threading.Event()
        engine = self.engine
        start = self.clock()
        next_alive = start + ALIVE_CHECK_S
        reason, detail = "stopped", ""
        try:
            while True:
                now = self.clock()
                if stop.is_set():
                    break
                if duration_s is not None and now - start >= duration_s:
                    reason = "duration"
                    break
                if alive is not None and now >= next_alive:
                    next_alive = now + ALIVE_CHECK_S
                    if not alive():
                        raise PortLostError("input", "it is no longer in the system's list of MIDI ports")
                self._send_due()
                for msg in self._pending_input(input_port):
                    t = self.clock()
                    self._received += 1
                    if self.record:
                        self.performed.append((t, msg))
                    if self.thru and msg.type in _CHANNEL_MESSAGES:
                        self._send(msg.copy(channel=PERFORMER_CHANNEL))
                    waiting = not engine.playing
                    events = engine.feed(t, msg)
                    self._engine_max = max(self._engine_max, self.clock() - t)
                    entered = waiting and engine.playing
                    self._entries += entered
                    self._plan(events, self.clock(), reaction=entered)
                # Planning a 16th can take a few milliseconds (a bar's worth on its first tick) and
                # there are tens of milliseconds of slack: send what falls due in that time first.
                now = self.clock()
                decision = engine.next_decision_s()
                head = self._queue[0][0] if self._queue else np.inf
                if decision <= now and (head > now + PLAN_BUDGET_S or decision < now - LATE_PLAN_S):
                    events = engine.advance(now)
                    done = self.clock()
                    self._engine_max = max(self._engine_max, done - now)
                    self._plan(events, done)
                self._send_due()
                now = self.clock()
                head = self._queue[0][0] if self._queue else np.inf
                wake = min(now + POLL_S, engine.next_decision_s(), head)
                if head - now < SPIN_S:  # the next event is nearly due: wait for it precisely
                    while self.clock() < head:
                        pass
                elif wake - now > 0:
                    time.sleep(max(wake - now - SPIN_S / 2, 0.0))
                    # How much later than asked the system woke us (a busy machine's stalls).
                    self._oversleep = max(self._oversleep, self.clock() - wake)
        except KeyboardInterrupt:
            reason = "interrupted"
        except PortLostError as exc:
            reason, detail = f"{exc.which} lost", str(exc)
        finally:
            hanging = self._silence()
        return SessionReport(
            reason=reason,
            detail=detail,
            seconds=round(self.clock() - start, 3),
            events_in=self._received,
            events_out=self._sent,
            late_planned_ms=round(1000 * max(self._planned_late, default=0.0), 3),
            late_sent_ms=_percentiles(self._sent_late),
            entries=self._entries,
            engine_max_ms=round(1000 * self._engine_max, 3),
            oversleep_max_ms=round(1000 * self._oversleep, 3),
            entry_reaction_ms=_percentiles(self._reactions),
            hanging_notes=hanging,
            bpm=round(engine.bpm, 2),
            key=engine.key.short(),
        )

    @staticmethod
    def _pending_input(port: Any) -> list[mido.Message]:
        if getattr(port, "closed", False):
            raise PortLostError("input", "the port was closed")
        try:
            return list(port.iter_pending())
        except Exception as exc:  # a vanished port
            raise PortLostError("input", f"{exc.__class__.__name__}: {exc}") from None

    def _silence(self) -> int:
        """Note-off for everything the band left sounding, then all-notes-off and sustain-off; notes left on."""
        self._queue.clear()  # nothing planned is played any more
        channels = sorted(set(self.engine.band.channels) | ({PERFORMER_CHANNEL} if self.thru else set()))

        def offs() -> list[mido.Message]:
            out = [e.message for e in self.engine.stop(self.clock())]
            out += [mido.Message("note_off", channel=ch, note=n) for ch, n in sorted(self._on)]
            out += [mido.Message("control_change", channel=ch, control=64, value=0) for ch in channels]
            return out + [mido.Message("control_change", channel=ch, control=123, value=0) for ch in channels]

        for msg in offs():
            try:
                self._send(msg)
            except PortLostError:
                break  # the output is gone: nothing more can be sent to it
            except KeyboardInterrupt:  # a second Ctrl-C: finish releasing anyway
                continue
        return len(self._on)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ms = np.asarray(values) * 1000.0
    return {k: round(float(v), 3) for k, v in zip(("p50", "p99", "max"), np.percentile(ms, [50, 99, 100]), strict=True)}
