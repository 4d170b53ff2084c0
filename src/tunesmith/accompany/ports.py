"""MIDI ports (mido + python-rtmidi on ALSA) and the FluidSynth output.

A port is named on the command line by its full name, a unique part of it, or its
number in ``tunesmith midi-ports``; ``virtual`` (or ``virtual:NAME``) creates a new
ALSA port other programs can connect to. ``--output synth`` plays through FluidSynth
on the sound card: the ``fluidsynth`` program (Debian ``fluidsynth``) runs with a
General MIDI SoundFont and takes note commands on its standard input, so no ALSA
sequencer is needed for it.

Every failure is a one-line :class:`~tunesmith.errors.TunesmithError`: no ALSA
sequencer (``/dev/snd/seq`` missing — containers, CI), no such port (the message lists
the ports there are), no sound card, no FluidSynth.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import mido

from tunesmith.errors import TunesmithError, UsageError

SEQUENCER = Path("/dev/snd/seq")
SOUND_DEVICES = Path("/dev/snd")
VIRTUAL_PREFIX = "tunesmith"


class MidiUnavailableError(TunesmithError):
    """Live MIDI cannot work on this machine (no ALSA sequencer, no python-rtmidi, no sound card)."""


def midi_unavailable_reason() -> str | None:
    """Why live MIDI ports cannot be used here, or None when they can."""
    if not SEQUENCER.exists():
        return f"no ALSA sequencer ({SEQUENCER} is missing: load the snd-seq kernel module, or run outside a container)"
    try:
        import rtmidi  # noqa: F401
    except ImportError:
        return "python-rtmidi is not installed (pip install python-rtmidi)"
    return None


def _require_midi() -> None:
    reason = midi_unavailable_reason()
    if reason:
        raise MidiUnavailableError(f"live MIDI is not available: {reason}")


def list_ports() -> dict[str, list[str]]:
    """The MIDI input and output ports on this machine.

    Raises
    ------
    MidiUnavailableError
        When there is no ALSA sequencer or python-rtmidi.
    """
    _require_midi()
    try:
        return {"inputs": list(mido.get_input_names()), "outputs": list(mido.get_output_names())}
    except Exception as exc:  # rtmidi's own SystemError and friends
        raise MidiUnavailableError(f"live MIDI is not available: {exc}") from None


def resolve(spec: str, names: list[str], kind: str) -> str:
    """The port a command-line ``spec`` means: an exact name, a number, or a unique part of a name.

    Raises
    ------
    UsageError
        When nothing or several ports match (the message lists the ports).
    """
    if spec in names:
        return spec
    if spec.isdigit() and int(spec) < len(names):
        return names[int(spec)]
    matches = [n for n in names if spec.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    listing = "; ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"
    what = "several" if matches else "no"
    raise UsageError(f"{what} MIDI {kind} ports match {spec!r} (ports: {listing})")


def _virtual_name(spec: str, default: str) -> str | None:
    if spec == "virtual":
        return f"{VIRTUAL_PREFIX} {default}"
    if spec.startswith("virtual:"):
        return spec.split(":", 1)[1] or f"{VIRTUAL_PREFIX} {default}"
    return None


def open_input(spec: str) -> tuple[Any, str, bool]:
    """Open the performer's input port: ``(port, name, virtual)``."""
    _require_midi()
    name = _virtual_name(spec, "in")
    try:
        if name is not None:
            return mido.open_input(name, virtual=True), name, True
        name = resolve(spec, list(mido.get_input_names()), "input")
        return mido.open_input(name), name, False
    except TunesmithError:
        raise
    except Exception as exc:
        raise MidiUnavailableError(f"cannot open MIDI input {spec!r}: {exc}") from None


def open_output(spec: str) -> tuple[Any, str, bool]:
    """Open the band's output port: ``(port, name, virtual)``."""
    _require_midi()
    name = _virtual_name(spec, "band")
    try:
        if name is not None:
            return mido.open_output(name, virtual=True), name, True
        name = resolve(spec, list(mido.get_output_names()), "output")
        return mido.open_output(name), name, False
    except TunesmithError:
        raise
    except Exception as exc:
        raise MidiUnavailableError(f"cannot open MIDI output {spec!r}: {exc}") from None


def port_alive(name: str, kind: str) -> bool:
    """Whether a (non-virtual) port is still in the system's list: unplugged devices vanish from it."""
    try:
        names = mido.get_input_names() if kind == "input" else mido.get_output_names()
    except Exception:
        return False
    return name in names


# ---------------------------------------------------------------------------- FluidSynth
def audio_driver() -> str:
    """The FluidSynth audio driver for this machine's sound output.

    Raises
    ------
    MidiUnavailableError
        When there is no sound card and no PulseAudio/PipeWire server.
    """
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}"))
    if (runtime / "pipewire-0").exists():
        return "pipewire"
    if (runtime / "pulse" / "native").exists() or os.environ.get("PULSE_SERVER"):
        return "pulseaudio"
    if any(SOUND_DEVICES.glob("pcmC*D*p")):
        return "alsa"
    raise MidiUnavailableError(
        "--output synth needs a sound card: /dev/snd has no playback device and no PulseAudio/PipeWire "
        "server is running (send the band to a MIDI port instead, or accompany a file offline)"
    )


class FluidSynthOutput:
    """A General MIDI synth on the sound card: the ``fluidsynth`` program fed note commands on its stdin.

    Parameters
    ----------
    soundfont : str or os.PathLike, optional
        SoundFont to load (default: ``$TUNESMITH_SOUNDFONT`` or an installed GM one).
    driver : str, optional
        FluidSynth audio driver (``alsa``, ``pulseaudio``, ``pipewire``, ``jack``, ``file``); default: detected.
    options : dict, optional
        Extra FluidSynth settings (``-o name=value``), e.g. ``{"audio.file.name": "take.wav"}`` with ``file``.
    """

    def __init__(
        self,
        soundfont: str | os.PathLike[str] | None = None,
        driver: str | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        from tunesmith.render import find_soundfont

        exe = shutil.which("fluidsynth")
        if exe is None:
            raise MidiUnavailableError("FluidSynth not found: install the Debian package fluidsynth")
        font = find_soundfont(soundfont)
        driver = driver or audio_driver()
        args = [exe, "-q", "-a", driver, "-g", "0.5", "-R", "0", "-C", "0", "-o", "synth.cpu-cores=1"]
        for key, value in (options or {}).items():
            args += ["-o", f"{key}={value}"]
        args.append(str(font))
        try:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
            )
        except OSError as exc:
            raise MidiUnavailableError(f"cannot start FluidSynth: {exc}") from None
        self.name = f"FluidSynth ({driver}, {font.name})"
        self.closed = False

    def send(self, msg: mido.Message) -> None:
        """Play one MIDI message (notes, controllers, programs, pitch bend; others are ignored).

        Raises
        ------
        OSError
            When FluidSynth has gone away (the live loop then ends cleanly).
        """
        if self.closed or self._proc.poll() is not None:
            raise OSError("FluidSynth is not running")
        kind = msg.type
        if kind == "note_on":
            line = f"noteon {msg.channel} {msg.note} {msg.velocity}"
        elif kind == "note_off":
            line = f"noteoff {msg.channel} {msg.note}"
        elif kind == "control_change":
            line = f"cc {msg.channel} {msg.control} {msg.value}"
        elif kind == "program_change":
            line = f"prog {msg.channel} {msg.program}"
        elif kind == "pitchwheel":
            line = f"pitch_bend {msg.channel} {msg.pitch + 8192}"
        else:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def close(self) -> None:
        """Stop FluidSynth (after the notes it holds have been released by the caller)."""
        if self.closed:
            return
        self.closed = True
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write("quit\n")
            self._proc.stdin.close()
            self._proc.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self._proc.kill()
            self._proc.wait()
