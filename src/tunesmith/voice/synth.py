"""A voice-like singing synthesiser: test material whose notes are known exactly.

Used by the tests (every bad-recording case starts from a synthetic sung melody) and by
``benchmarks/hum_eval.py`` (100 POP909 melodies, sung and hummed). It is built to make the
transcriber's life hard in the ways real singers do, not to sound beautiful:

- **source**: a glottal-like harmonic series (additive, band-limited, spectral tilt drawn per
  singer) plus aspiration noise that follows the voice's level;
- **vowels**: each note gets a vowel whose formants (a cascade of resonances, scaled for a
  female or male vocal tract) shape the harmonics; vowels glide into each other;
- **"mm" humming**: one nasal murmur resonance, an anti-resonance and a steep low-pass, with
  soft onsets and small level dips for repeated notes;
- **pitch**: a singer-wide tuning offset, slow drift, per-note intonation error, scoops from
  below, legato glides between notes (quick ones take 40-120 ms whatever the note's length, so
  the short notes of a fast run are arcs that only touch their pitch; a third are slow slides
  of up to 300 ms, never more than 40 % of the note), overshoot past the new note
  after half the glides, vibrato
  (5–6.5 Hz, ±30–60 cents) that fades in on long notes, and a little jitter;
- **timing**: onsets and offsets jittered around the written ones;
- **consonants**: unvoiced fricatives and plosives before some sung notes (the voice stops
  for them), voiced nasals/liquids that start a note at its pitch but quietly, and breaths in
  the rests between phrases.

The ground truth of every note is what was *sung*: onset and offset as jittered, pitch as the
note's centre (tuning offset, drift and intonation error included; scoops, glides and vibrato
excluded) — the way a person annotates a recording. Where the voice glides from one note
straight into the next (no consonant between) the change is marked half-way through the
glide, where a listener hears the new pitch, and the previous note ends there; after a
consonant the note begins where the voice resumes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Formant frequencies and bandwidths (Hz) of five vowels for an adult male vocal tract; a
#: female tract is about 17 % shorter, so its formants sit that much higher.
VOWELS: dict[str, tuple[tuple[float, float], ...]] = {
    "a": ((730, 90), (1090, 110), (2440, 170), (3400, 250)),
    "e": ((530, 70), (1840, 100), (2480, 160), (3500, 250)),
    "i": ((290, 60), (2250, 100), (3000, 170), (3700, 250)),
    "o": ((570, 80), (840, 90), (2410, 170), (3400, 250)),
    "u": ((320, 60), (870, 80), (2240, 160), (3300, 250)),
}
#: Bumped whenever the same seed would sing differently (benchmark caches are keyed on it).
SYNTH_VERSION = 3
CONTROL_HZ = 500  # pitch and level are designed at 2 ms steps and interpolated to the sample rate
MALE_CENTRE, FEMALE_CENTRE = 52, 64  # MIDI note a singer's tunes are moved (by octaves) towards


@dataclass(frozen=True)
class SungNote:
    """One note as it was sung (the ground truth of a synthetic take).

    Attributes
    ----------
    onset_s, offset_s : float
        Seconds from the start of the audio.
    pitch_hz : float
        The note's centre pitch, Hz.
    midi : int
        The written MIDI note it stands for.
    """

    onset_s: float
    offset_s: float
    pitch_hz: float
    midi: int


def _cents_to_hz(midi_cents: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi_cents) - 69.0) / 12.0)


def _smooth_noise(rng: np.random.Generator, n: int, corr: int) -> np.ndarray:
    """Unit-variance noise low-passed over about ``corr`` samples (a moving average of white noise)."""
    corr = max(1, corr)
    white = rng.standard_normal(n + corr)
    out = np.convolve(white, np.ones(corr) / math.sqrt(corr), mode="valid")[:n]
    return out


def _resonance_db(freq: np.ndarray, centre: float, bandwidth: float) -> np.ndarray:
    """Level (dB, 0 at DC) of one second-order resonance of the vocal tract at ``freq`` Hz."""
    f2, c2 = freq * freq, centre * centre
    return -10.0 * np.log10(((c2 - f2) ** 2 + (freq * bandwidth) ** 2) / (c2 * c2))


def _envelope_db(freq: np.ndarray, vowel: str, scale: float, hum: bool) -> np.ndarray:
    """Spectral envelope (dB) of the vocal tract for ``vowel`` (or the "mm" murmur) at ``freq`` Hz."""
    if hum:
        # Nasal murmur: one low resonance, a zero near 1 kHz and the lips closed (a steep low-pass).
        level = _resonance_db(freq, 260.0 * scale, 80.0)
        level -= _resonance_db(freq, 1100.0 * scale, 200.0)
        level += _resonance_db(freq, 1300.0 * scale, 250.0)
        return level - 40.0 * np.log10(1.0 + (freq / 900.0) ** 2)
    level = np.zeros_like(freq)
    for centre, bandwidth in VOWELS[vowel]:
        level += _resonance_db(freq, centre * scale, bandwidth * scale)
    return level


def pop909_melody(
    score: object, rng: np.random.Generator, seconds: float = 14.0, max_notes: int = 48
) -> list[tuple[float, float, int]]:
    """An excerpt of a POP909 song's melody as ``(onset s, offset s, MIDI)`` starting at a phrase.

    The excerpt begins at a note that follows a rest (or the first note), runs for about
    ``seconds`` and is moved to start at 0.5 s; overlapping notes are cut at the next onset.
    """
    track = score.track("melody")  # type: ignore[attr-defined]
    notes = sorted(track.notes, key=lambda n: n.start)
    starts = [0] + [i for i in range(1, len(notes)) if notes[i].start - notes[i - 1].end >= 0.5]
    starts = [i for i in starts if i < len(notes) - 8] or [0]
    first = int(starts[int(rng.integers(len(starts)))])
    sec = score.seconds  # type: ignore[attr-defined]
    t0 = sec(notes[first].start)
    out: list[tuple[float, float, int]] = []
    for i in range(first, len(notes)):
        on, off = sec(notes[i].start) - t0, sec(notes[i].end) - t0
        if i + 1 < len(notes):
            off = min(off, sec(notes[i + 1].start) - t0)
        if off - on < 0.06:
            continue
        if on > seconds or len(out) >= max_notes:
            break
        out.append((on + 0.5, off + 0.5, notes[i].pitch))
    return out


def sing(
    melody: Sequence[tuple[float, float, int]],
    seed: int = 0,
    sample_rate: int = 22_050,
    hum: bool = False,
    female: bool | None = None,
    fit_range: bool = True,
    tail_s: float = 0.8,
    room: bool = False,
) -> tuple[np.ndarray, list[SungNote]]:
    """Sing (or hum) ``melody`` and return the mono audio and the notes as sung.

    Parameters
    ----------
    melody : sequence of (onset s, offset s, MIDI note)
        The written tune, monophonic.
    seed : int
        Seeds every random choice (singer, timing, pitch, consonants, noise).
    sample_rate : int
        Hz.
    hum : bool
        Hum on "mm" instead of singing vowels with consonants.
    female : bool, optional
        Voice type (formant scale and range); drawn from the seed when absent.
    fit_range : bool
        Move the tune by octaves towards the voice's comfortable centre.
    tail_s : float
        Silence after the last note, seconds.
    room : bool
        Record it in a small room on a cheap microphone: reverberation (RT60 0.2–0.6 s, the
        reverberant part 6–14 dB under the direct sound) and noise 25–45 dB under the voice.

    Returns
    -------
    audio : numpy.ndarray
        ``float32`` mono samples, peak between −12 and −3 dBFS.
    notes : list of SungNote
        The ground truth.
    """
    rng = np.random.default_rng(seed)
    if not melody:
        raise ValueError("empty melody")
    female = bool(rng.random() < 0.5) if female is None else female
    scale = 1.17 if female else 1.0
    shift = 0
    if fit_range:
        centre = FEMALE_CENTRE if female else MALE_CENTRE
        median = float(np.median([m for _, _, m in melody]))
        shift = 12 * round((centre - median) / 12)
    tilt = rng.uniform(1.0, 1.5)  # harmonic amplitude ~ k^-tilt
    tuning = rng.uniform(-35.0, 35.0) / 100.0  # the whole take is this far off A440, semitones
    # Aspiration level under the voice, dB (humming, through the nose, has little).
    breathiness = rng.uniform(-50.0, -42.0) if hum else rng.uniform(-40.0, -30.0)

    # --- the notes as sung: jittered timing, consonants, intonation --------------------------
    plan = []
    prev_off = -1.0
    prev_midi = None
    for i, (on, off, midi) in enumerate(melody):
        on = on + rng.normal(0.0, 0.015)
        gap_next = melody[i + 1][0] - off if i + 1 < len(melody) else 1.0
        # Legato: held to about the next onset; otherwise let go a little early or late.
        late = -rng.uniform(0.0, 0.03) if gap_next < 0.05 else rng.normal(0.0, 0.03) - rng.uniform(0.0, 0.1)
        off = off + late
        on = max(on, prev_off + 0.01)
        off = max(off, on + 0.07)
        consonant = "none"
        if not hum:
            repeat = prev_midi == midi and on - prev_off < 0.08
            r = rng.random()
            if r < 0.25 or (repeat and r < 0.45):
                consonant = "fricative"
            elif r < 0.45 or (repeat and r < 0.7):
                consonant = "plosive"
            elif r < 0.65:
                consonant = "voiced"
        plan.append([on, off, midi + shift, consonant, rng.choice(list(VOWELS)), rng.normal(0.0, 0.12)])
        prev_off, prev_midi = off, midi
    # An unvoiced consonant needs the voice off before it: the previous note ends early.
    for i in range(1, len(plan)):
        kind = plan[i][3]
        if kind in ("fricative", "plosive"):
            length = rng.uniform(0.05, 0.11) if kind == "fricative" else rng.uniform(0.025, 0.05)
            plan[i].append(length)
            plan[i - 1][1] = min(plan[i - 1][1], plan[i][0] - length)
            plan[i - 1][1] = max(plan[i - 1][1], plan[i - 1][0] + 0.05)
        else:
            plan[i].append(0.0)
    plan[0].append(0.0)
    # Under one breath the voice does not stop between notes: a legato note lasts until the next begins.
    for i in range(len(plan) - 1):
        if plan[i + 1][0] - plan[i][1] < 0.06 and plan[i + 1][3] not in ("fricative", "plosive"):
            plan[i][1] = plan[i + 1][0]

    end_s = plan[-1][1] + tail_s
    n_ctrl = int(end_s * CONTROL_HZ) + 2
    # Slow pitch drift over the take: correlated over ~2 s, about 12 cents rms, never past 25.
    drift = np.clip(0.12 * _smooth_noise(rng, n_ctrl, CONTROL_HZ * 2), -0.25, 0.25)
    pitch = np.full(n_ctrl, np.nan)  # semitones (MIDI + cents), NaN where the voice is off
    level = np.zeros(n_ctrl)  # linear amplitude of the voiced source
    vowel_of = np.zeros(n_ctrl, dtype=np.int64)
    vowel_names = list(VOWELS)
    truth: list[SungNote] = []
    noise_events: list[tuple[float, float, str, float]] = []  # (start, length, kind, level)
    vib_phase = rng.uniform(0, 2 * math.pi)
    prev_pitch = None
    prev_end = -1.0
    # Level floor at each note's start when it follows the previous note without a break: a change of
    # syllable (or a new "mm") under one breath dips the level, a repeated pitch dips it most.
    floors = [0.0] * len(plan)
    for i in range(1, len(plan)):
        if plan[i][0] - plan[i - 1][1] < 0.06 and plan[i][3] not in ("fricative", "plosive"):
            repeat = plan[i][2] == plan[i - 1][2]
            dip_db = rng.uniform(5.0, 15.0) if repeat else rng.uniform(0.0, 8.0)
            if plan[i][3] == "voiced":
                dip_db += rng.uniform(3.0, 8.0)
            floors[i] = 10 ** (-dip_db / 20)
    gains = 10 ** (rng.normal(0.0, 3.0, len(plan)) / 20)
    for i, (on, off, midi, consonant, vowel, intonation, c_len) in enumerate(plan):
        a, b = round(on * CONTROL_HZ), round(off * CONTROL_HZ)
        idx = np.arange(a, b)
        local_t = (idx - a) / CONTROL_HZ
        dur = off - on
        centre = midi + tuning + intonation + float(drift[min(a, n_ctrl - 1)])
        curve = np.full(len(idx), centre)
        legato = prev_pitch is not None and on - prev_end < 0.06
        heard = on  # where the note is heard to begin (the ground truth's onset)
        if legato:
            # Most changes of note are quick; a third are slow slides (portamento) of up to 300 ms.
            # A slow slide is the singer's choice, and a short note is reached all the same (the
            # slide takes at most 40 % of it). A quick change takes the voice its own 40-120 ms
            # whatever the note's length (Xu & Sun 2002), so in a fast run a short note is an arc
            # whose pitch only touches its target before leaving for the next.
            quick = rng.random() < 0.67
            glide = rng.uniform(0.04, 0.12) if quick else rng.uniform(0.12, 0.3)
            glide = min(glide, 0.85 * dur) if quick else min(glide, max(0.03, 0.4 * dur))
            # The pitch keeps moving while a consonant silences the voice: the slide starts
            # where the previous note stopped sounding, not where this one resumes.
            w = np.clip((local_t + (on - prev_end)) / glide, 0.0, 1.0)
            curve += (prev_pitch - centre) * (1 - (3 * w**2 - 2 * w**3))
            if on <= prev_end and abs(centre - prev_pitch) >= 0.5:
                # Sung straight on (no consonant stopping the voice) to a new pitch: a listener
                # hears the new note once the pitch is nearer to it than to the old one (pitch
                # is perceived categorically), and that is where annotators mark the change.
                heard = min(on + 0.5 * glide, off - 0.03)
            if rng.random() < 0.5:
                # Overshoot (Saitou et al. 2005): the pitch passes the target by 5-20 % of the
                # interval (at most half a semitone) and settles back within ~50-120 ms.
                over = float(np.clip(rng.uniform(0.05, 0.2) * (centre - prev_pitch), -0.5, 0.5))
                settle = rng.uniform(0.05, 0.12)
                u = np.clip((local_t + (on - prev_end) - glide) / settle, 0.0, 1.0)
                curve += over * np.sin(math.pi * u)
        elif rng.random() < 0.45:
            scoop, length = rng.uniform(0.5, 2.0), rng.uniform(0.04, 0.15)
            length = min(length, max(0.03, 0.35 * dur))  # a short note is reached all the same
            w = np.clip(local_t / length, 0.0, 1.0)
            curve -= scoop * (1 - w) ** 2
        if consonant == "voiced":
            # A nasal or liquid (m, n, l) pulls the pitch down a little while the mouth closes.
            length = rng.uniform(0.04, 0.08)
            curve -= rng.uniform(0.2, 0.9) * np.clip(1 - local_t / length, 0.0, 1.0)
        if dur > 0.35:
            rate, depth = rng.uniform(5.0, 6.5), rng.uniform(0.3, 0.6)
            fade = np.clip((local_t - rng.uniform(0.12, 0.3)) / 0.2, 0.0, 1.0)
            curve += depth * fade * np.sin(vib_phase + 2 * math.pi * rate * local_t)
            vib_phase += 2 * math.pi * rate * dur
        # Pitch wander inside the note (a real voice is never a flat line): ~5 cents of jitter
        # and up to ~20 cents of slower wander.
        curve += 0.04 * _smooth_noise(rng, len(idx), 8) + rng.uniform(0.05, 0.2) * _smooth_noise(rng, len(idx), 50)
        phrase_end = i + 1 == len(plan) or plan[i + 1][0] - off > 0.3
        if phrase_end and dur > 0.2 and rng.random() < 0.4:
            # The voice lets go at the end of a phrase: the pitch sags over the last 100-200 ms.
            length = rng.uniform(0.1, 0.2)
            curve -= rng.uniform(0.5, 2.5) * np.clip((local_t - (dur - length)) / length, 0.0, 1.0) ** 2
        curve += drift[a:b] - drift[min(a, n_ctrl - 1)]
        pitch[a:b] = curve
        # Level: attack from the floor, a little decay, release down to the next note's floor.
        gain = gains[i]
        attack = rng.uniform(0.05, 0.09) if hum else rng.uniform(0.015, 0.05)
        if consonant == "voiced":
            attack = rng.uniform(0.04, 0.08)
        rise = np.clip(local_t / attack, 0.0, 1.0)
        env = floors[i] + (1.0 - floors[i]) * np.sin(0.5 * math.pi * rise)
        env *= 1.0 - 0.15 * np.clip(local_t / max(dur, 1e-3), 0, 1)
        release = min(0.06, dur / 3)
        end_floor = floors[i + 1] * gains[i + 1] / gain if i + 1 < len(plan) else 0.0
        end_floor = min(end_floor, 0.85)
        fall = np.sin(0.5 * math.pi * np.clip((dur - local_t) / release, 0.0, 1.0))
        env *= end_floor + (1.0 - end_floor) * fall
        level[a:b] = gain * env
        vowel_of[a:b] = vowel_names.index(vowel)
        if not hum and dur > 0.3 and rng.random() < 0.35:
            # A diphthong ("ay", "ow"): the vowel changes half-way, and the level with it.
            vowel_of[a + (b - a) // 2 : b] = int(rng.integers(len(vowel_names)))
        # Breath support is uneven: the level wanders by a few dB within a note.
        level[a:b] *= 10 ** (rng.uniform(0.5, 2.0) * _smooth_noise(rng, b - a, 60) / 20)
        if consonant in ("fricative", "plosive"):
            noise_events.append((on - c_len, c_len, consonant, gain * 10 ** (rng.uniform(-22, -12) / 20)))
        if truth and heard > on and truth[-1].offset_s >= on:
            # Sung straight into this note: the previous one is heard until this one is.
            truth[-1] = SungNote(truth[-1].onset_s, heard, truth[-1].pitch_hz, truth[-1].midi)
        truth.append(SungNote(heard, off, float(_cents_to_hz(centre)), int(midi)))
        if i + 1 < len(plan) and plan[i + 1][0] - off > 0.4 and rng.random() < 0.7:
            length = min(0.35, plan[i + 1][0] - off - 0.15)
            noise_events.append((plan[i + 1][0] - 0.05 - length, length, "breath", gain * 10 ** (-30 / 20)))
        prev_pitch, prev_end = centre, off

    audio = _voice_audio(
        pitch, level, vowel_of, end_s, sample_rate, hum, scale, tilt, breathiness, noise_events, room, rng
    )
    return audio, truth


def _voice_audio(
    pitch: np.ndarray,
    level: np.ndarray,
    vowel_of: np.ndarray,
    end_s: float,
    sample_rate: int,
    hum: bool,
    scale: float,
    tilt: float,
    breathiness: float,
    noise_events: list[tuple[float, float, str, float]],
    room: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """Audio from the control tracks (pitch in semitones, NaN = silent; level; vowel index), float32 mono."""
    n_ctrl = len(pitch)
    t_ctrl = np.arange(n_ctrl) / CONTROL_HZ
    vowel_names = list(VOWELS)
    n = int(end_s * sample_rate)
    t_s = np.arange(n) / sample_rate
    voiced = np.isfinite(pitch)
    filled = np.where(voiced, pitch, np.interp(t_ctrl, t_ctrl[voiced], pitch[voiced]))
    f0 = _cents_to_hz(np.interp(t_s, t_ctrl, filled))
    amp = np.interp(t_s, t_ctrl, level)
    phase = 2 * math.pi * np.cumsum(f0) / sample_rate
    top = min(5500.0, 0.45 * sample_rate)
    k_max = int(top / float(np.min(f0))) + 1
    f0_ctrl = _cents_to_hz(filled)
    # Vowels glide into each other over ~40 ms: the envelope is a running mix of the vowels' envelopes.
    mix = np.zeros((len(VOWELS), n_ctrl))
    mix[vowel_of, np.arange(n_ctrl)] = 1.0
    kernel = np.ones(20) / 20
    mix = np.stack([np.convolve(row, kernel, mode="same") for row in mix])
    out = np.zeros(n)
    for k in range(1, k_max + 1):
        fk = k * f0_ctrl
        gains = np.zeros(n_ctrl)
        if hum:
            gains = 10 ** (_envelope_db(fk, "a", scale, True) / 20)
        else:
            for v, name in enumerate(vowel_names):
                gains += mix[v] * 10 ** (_envelope_db(fk, name, scale, False) / 20)
        gains *= k**-tilt * (fk < top)
        if not gains.any():
            continue
        out += np.interp(t_s, t_ctrl, gains) * np.sin(k * phase)
    out *= amp
    # Aspiration: high-passed noise that follows the voice.
    asp = np.diff(rng.standard_normal(n + 1)) * amp * 10 ** (breathiness / 20) * 3.0
    out += asp
    for start, length, kind, lvl in noise_events:
        a, b = max(0, int(start * sample_rate)), min(n, int((start + length) * sample_rate))
        if b <= a:
            continue
        burst = rng.standard_normal(b - a)
        if kind == "fricative":
            burst = np.diff(np.diff(burst, prepend=0), prepend=0)  # hiss: energy in the highs
        elif kind == "breath":
            burst = np.diff(burst, prepend=0) * 0.5
        env = np.sin(np.linspace(0, math.pi, b - a)) ** (0.5 if kind != "plosive" else 4)
        out[a:b] += lvl * burst * env / max(1e-9, float(np.std(burst)))
    # Room noise: white noise tilted towards the lows (a one-pole low-pass), like a quiet room and a cheap mic.
    if room:
        out = add_room(out, sample_rate, rng)
    noise = _lowpass(rng.standard_normal(n), 0.9)
    voice_rms = float(np.sqrt(np.mean(np.square(out[amp > 0.1 * amp.max()])))) if amp.max() > 0 else 1.0
    snr = rng.uniform(25.0, 45.0) if room else rng.uniform(50.0, 62.0)
    out += noise * voice_rms * 10 ** (-snr / 20) / max(1e-9, float(np.std(noise)))
    out *= 10 ** (rng.uniform(-12, -3) / 20) / float(np.max(np.abs(out)))
    return out.astype(np.float32)


def add_room(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``x`` in a small room: an exponentially decaying noise tail (RT60 0.2–0.6 s) 6–14 dB under the direct sound."""
    rt60 = rng.uniform(0.2, 0.6)
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.91 * t / rt60)
    tail[: int(0.004 * sample_rate)] = 0.0  # the first reflections arrive after a few ms
    tail *= 10 ** (-rng.uniform(6.0, 14.0) / 20) / math.sqrt(float(np.sum(tail**2)))
    ir = np.zeros(length)
    ir[0] = 1.0
    ir += tail
    size = 1 << (len(x) + length - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[: len(x)]


def _lowpass(x: np.ndarray, pole: float) -> np.ndarray:
    """One-pole low-pass ``y[n] = (1 - pole) x[n] + pole y[n-1]`` (through the FFT: exact, fast enough here)."""
    n = len(x)
    size = 1 << (2 * n - 1).bit_length()
    h = (1 - pole) * pole ** np.arange(min(n, 2000))
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]


def speak(seconds: float = 6.0, seed: int = 0, sample_rate: int = 22_050) -> np.ndarray:
    """Speech-like audio with the same voice model: short syllables whose pitch keeps sliding.

    Syllables of 80–220 ms, each with its own rising or falling pitch (4–15 semitones a
    second) on a falling phrase line, most separated by unvoiced consonants, pauses between
    phrases. The voice never holds a pitch, which is what tells speech from singing.
    """
    rng = np.random.default_rng(seed)
    n_ctrl = int((seconds + 0.5) * CONTROL_HZ)
    pitch = np.full(n_ctrl, np.nan)
    level = np.zeros(n_ctrl)
    vowel_of = np.zeros(n_ctrl, dtype=np.int64)
    noise_events: list[tuple[float, float, str, float]] = []
    base = rng.uniform(45.0, 57.0)  # speaking pitch, MIDI (110-200 Hz)
    t = 0.3
    phrase_start = t
    while t < seconds - 0.3:
        dur = rng.uniform(0.08, 0.22)
        a, b = int(t * CONTROL_HZ), int((t + dur) * CONTROL_HZ)
        local = np.arange(b - a) / CONTROL_HZ
        line = base + 2.0 - 3.0 * (t - phrase_start) + rng.normal(0.0, 1.5)
        pitch[a:b] = line + rng.choice([-1, 1]) * rng.uniform(4.0, 15.0) * (local - dur / 2)
        level[a:b] = np.sin(math.pi * np.clip(local / dur, 0, 1)) ** 0.5 * 10 ** (rng.normal(0, 3) / 20)
        vowel_of[a:b] = int(rng.integers(len(VOWELS)))
        t += dur
        if rng.random() < 0.6:
            gap = rng.uniform(0.03, 0.08)
            noise_events.append((t, gap, "fricative", 10 ** (rng.uniform(-22, -12) / 20)))
            t += gap
        if rng.random() < 0.12:
            t += rng.uniform(0.25, 0.5)
            phrase_start = t
    return _voice_audio(
        pitch, level, vowel_of, seconds + 0.5, sample_rate, False, 1.0, 1.2, -35.0, noise_events, False, rng
    )
