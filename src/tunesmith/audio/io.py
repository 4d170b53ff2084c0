"""Reading and writing audio files.

libsndfile (through ``soundfile``) reads WAV (PCM 16/24/32, float 32/64,
WAVE_FORMAT_EXTENSIBLE, RF64), FLAC, OGG/Vorbis, MP3 and AIFF. Anything it
cannot open is handed to ``ffmpeg`` (when installed), which decodes it to a
temporary 32-bit float WAV that is then read the same way, so every caller can
stream any input in blocks without holding it all in memory.

Every check on the way in produces a one-line :class:`InputFileError` naming
the file; writers are atomic and never touch their input.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from tunesmith.atomic import atomic_path
from tunesmith.audio.dither import Quantizer
from tunesmith.audio.types import MAX_CHANNELS, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ, Audio
from tunesmith.errors import InputFileError, TunesmithError, UsageError

#: Output encodings accepted by :func:`save`, as named on the command line.
ENCODINGS = ("wav16", "wav24", "wav32f", "flac", "flac16", "mp3", "ogg", "aiff")

_SUFFIX_DEFAULT = {".wav": "wav24", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg", ".aif": "aiff", ".aiff": "aiff"}

#: Containers whose frame count libsndfile knows exactly on open (lossy formats only estimate it).
_EXACT_LENGTH_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "AIFF", "FLAC"})

#: Frames per block when streaming a file.
BLOCK_FRAMES = 1 << 17
#: Most sample frames a byte of any codec can hold (FLAC packs a constant 65535-frame block
#: into a few bytes); a header that declares more is damaged.
MAX_FRAMES_PER_BYTE = 1 << 16
#: Frames per file byte preallocated when reading (beyond it the array grows): covers PCM
#: and lossy files at 88 kbit/s and up in one allocation.
PREALLOCATE_FRAMES_PER_BYTE = 4


@dataclass
class AudioInfo:
    """What a file holds, from its header.

    Attributes
    ----------
    path : str
        The file.
    frames : int
        Sample frames per channel.
    sample_rate : int
        Hz.
    channels : int
        Channel count.
    format : str
        Container, e.g. ``"WAV"``, ``"FLAC"``, ``"MP3"``.
    subtype : str
        Sample encoding, e.g. ``"PCM_24"``, ``"FLOAT"``.
    """

    path: str
    frames: int
    sample_rate: int
    channels: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate


@dataclass
class AudioReader:
    """An open audio file that can be read whole or in blocks.

    Use as a context manager; it validates the file on entry.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Attributes
    ----------
    info : AudioInfo
        Header facts (frames, sample rate, channels, format).
    warnings : list of str
        Problems that still leave a well-defined result (e.g. a truncated WAV
        read up to where its data ends).

    Examples
    --------
    >>> with AudioReader("song.wav") as r:  # doctest: +SKIP
    ...     for block in r.blocks():
    ...         peak = max(peak, abs(block).max())
    """

    path: str | os.PathLike[str]
    info: AudioInfo = field(init=False)
    warnings: list[str] = field(init=False, default_factory=list)
    _decoded: Path | None = field(init=False, default=None)
    _sf: sf.SoundFile | None = field(init=False, default=None)

    def __enter__(self) -> AudioReader:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file and delete any temporary decode."""
        if self._sf is not None:
            self._sf.close()
            self._sf = None
        if self._decoded is not None:
            shutil.rmtree(self._decoded.parent, ignore_errors=True)
            self._decoded = None

    def _open(self) -> None:
        path = Path(self.path)
        if not path.exists():
            raise InputFileError("no such file", path)
        if path.is_dir():
            raise InputFileError("is a directory, not an audio file", path)
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                head = fh.read(64)
        except OSError as exc:
            raise InputFileError(f"cannot be read ({exc.strerror})", path) from None
        if size == 0:
            raise InputFileError("empty file (0 bytes)", path)
        try:
            self._sf = sf.SoundFile(str(path))
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            libsndfile_msg = _one_line(str(exc).replace(str(path), "").strip(" :"))
            if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
                raise InputFileError(f"damaged WAV file ({libsndfile_msg})", path) from None
            self._sf = self._open_with_ffmpeg(path, libsndfile_msg)
        f = self._sf
        self.info = AudioInfo(str(path), int(f.frames), int(f.samplerate), int(f.channels), f.format, f.subtype)
        if not MIN_SAMPLE_RATE_HZ <= self.info.sample_rate <= MAX_SAMPLE_RATE_HZ:
            self.close()
            raise InputFileError(
                f"unsupported sample rate {self.info.sample_rate} Hz (tunesmith reads 8000-192000 Hz)", path
            )
        if not 1 <= self.info.channels <= MAX_CHANNELS:
            self.close()
            raise InputFileError(f"unsupported channel count {self.info.channels} (1-{MAX_CHANNELS})", path)
        if self.info.frames <= 0:
            self.close()
            raise InputFileError("holds no audio (0 sample frames)", path)
        if self.info.frames > size * MAX_FRAMES_PER_BYTE:  # a damaged header (no codec packs audio this tight)
            self.close()
            raise InputFileError(
                f"damaged header: declares {self.info.frames} sample frames, more than {size} bytes can hold", path
            )
        if head[:4] in (b"RIFF", b"RF64") and self._decoded is None:
            short = _wav_truncation(path, self.info)
            if short:
                self.warnings.append(short)

    def _open_with_ffmpeg(self, path: Path, why: str) -> sf.SoundFile:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise InputFileError(f"not an audio file tunesmith can read ({why})", path)
        tmpdir = Path(tempfile.mkdtemp(prefix="tunesmith-decode-"))
        out = tmpdir / "decoded.wav"
        cmd = [
            ffmpeg,
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-vn",
            "-c:a",
            "pcm_f32le",
            "-rf64",
            "auto",
            str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise InputFileError(f"not an audio file ({why})", path)
        self._decoded = out
        return sf.SoundFile(str(out))

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Yield ``float32`` blocks of shape ``(frames, channels)`` from the start.

        Raises
        ------
        InputFileError
            If a block holds NaN or infinite samples, or the data cannot be decoded.
        """
        assert self._sf is not None, "use AudioReader as a context manager"
        try:
            self._sf.seek(0)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputFileError(f"damaged audio data ({_one_line(str(exc))})", self.path) from None
        pos = 0
        while True:
            try:
                block = self._sf.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise InputFileError(f"damaged audio data ({_one_line(str(exc))})", self.path) from None
            if block.shape[0] == 0:
                if pos < self.info.frames and self._decoded is None and self.info.format in _EXACT_LENGTH_FORMATS:
                    # The header (checked against the file's size on open) promised more: the file
                    # was cut short or replaced while we read it.
                    raise InputFileError(
                        f"ended after {pos} of {self.info.frames} sample frames (changed while being read?)",
                        self.path,
                    )
                break
            if not np.isfinite(block).all():
                bad = int(np.argmin(np.isfinite(block).all(axis=1)))
                raise InputFileError(
                    f"contains NaN or infinite samples (first at {(pos + bad) / self.info.sample_rate:.3f} s)",
                    self.path,
                )
            pos += block.shape[0]
            yield block

    def read(self, sample_rate: int | None = None, on_chunk: Callable[[np.ndarray], None] | None = None) -> Audio:
        """Read the whole file into an :class:`Audio`, optionally resampled on the way.

        The samples go straight into one preallocated array (no list of blocks
        and no second copy), so peak memory is the decoded audio itself.

        Parameters
        ----------
        sample_rate : int, optional
            Resample to this rate (libsoxr VHQ, streaming) while reading.
        on_chunk : callable, optional
            Called with each stretch of samples as soon as it is stored (a view of the result, in
            order; to be read, not written), so a caller can analyse the audio while the rest is
            decoded.
        """
        src_rate = self.info.sample_rate
        rate = src_rate if sample_rate is None else int(sample_rate)
        # The header's frame count sizes the array, but no more than the bytes could plausibly
        # decode to at ordinary compression: a damaged header then costs a regrowth, not a
        # huge allocation (the array grows below when the header under-states the length).
        size = (self._decoded or Path(self.path)).stat().st_size
        frames = min(self.info.frames, max(BLOCK_FRAMES, PREALLOCATE_FRAMES_PER_BYTE * size))
        capacity = -(-frames * rate // src_rate) + 64
        out = np.empty((capacity, self.info.channels), np.float32)
        stream = None
        if rate != src_rate:
            import soxr

            stream = soxr.ResampleStream(src_rate, rate, self.info.channels, dtype="float32", quality="VHQ")
        filled = 0

        def put(chunk: np.ndarray) -> None:
            nonlocal out, filled
            if filled + len(chunk) > len(out):  # the header under-stated the length (some MP3s)
                out = np.concatenate((out, np.empty((len(chunk) + len(out) // 4, out.shape[1]), np.float32)))
            out[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
            if on_chunk is not None and len(chunk):
                on_chunk(out[filled - len(chunk) : filled])

        for block in self.blocks():
            put(block if stream is None else stream.resample_chunk(block))
        if stream is not None:
            put(stream.resample_chunk(np.zeros((0, self.info.channels), np.float32), last=True))
        if filled == 0:
            raise InputFileError("holds no decodable audio", self.path)
        return Audio(out[:filled], rate)

    def read_segment(self, start: int, frames: int) -> np.ndarray:
        """``frames`` samples from frame ``start`` (fewer at the end of the file), ``float32``."""
        assert self._sf is not None, "use AudioReader as a context manager"
        try:
            self._sf.seek(max(0, start))
            return self._sf.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputFileError(f"damaged audio data ({_one_line(str(exc))})", self.path) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _wav_truncation(path: Path, info: AudioInfo) -> str | None:
    """Say how much of a WAV's declared data is missing, if any.

    libsndfile reads a WAV whose data chunk is cut short up to where the bytes
    end; we keep that (a well-defined result) but say so.
    """
    try:
        with open(path, "rb") as fh:
            riff = fh.read(12)
            if riff[:4] != b"RIFF":
                return None
            block_align = 0
            while True:
                hdr = fh.read(8)
                if len(hdr) < 8:
                    return None
                cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(min(size, 16))
                    block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else 0
                    fh.seek(size - len(fmt) + (size & 1), os.SEEK_CUR)
                    continue
                if cid == b"data":
                    available = path.stat().st_size - fh.tell()
                    if size in (0, 0xFFFFFFFF) or size <= available or block_align == 0:
                        return None
                    declared_s = size / block_align / info.sample_rate
                    return (
                        f"truncated WAV: header declares {declared_s:.2f} s of audio, file holds "
                        f"{info.duration_s:.2f} s; measured what is there"
                    )
                fh.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None


def load(path: str | os.PathLike[str]) -> Audio:
    """Read an audio file.

    Parameters
    ----------
    path : str or os.PathLike
        WAV, FLAC, OGG, MP3, AIFF, or anything ffmpeg decodes.

    Returns
    -------
    Audio
        ``float32`` samples ``(frames, channels)`` at the file's sample rate.

    Raises
    ------
    InputFileError
        Missing, empty, not audio, damaged, NaN/Inf samples, unsupported rate.
    """
    with AudioReader(path) as reader:
        return reader.read()


def info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header facts of an audio file (validated like :func:`load`)."""
    with AudioReader(path) as reader:
        return reader.info


def encoding_for(path: str | os.PathLike[str], encoding: str | None = None) -> str:
    """The encoding :func:`save` uses for ``path``: ``encoding`` or one implied by the suffix."""
    if encoding is not None:
        if encoding not in ENCODINGS:
            raise UsageError(f"unknown format {encoding!r}; choose one of {', '.join(ENCODINGS)}")
        return encoding
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIX_DEFAULT:
        raise UsageError(f"cannot tell the output format from {suffix or 'no suffix'!r}; use .wav, .flac or .mp3", path)
    return _SUFFIX_DEFAULT[suffix]


class AudioWriter:
    """Write an audio file block by block, atomically.

    The file appears at ``path`` only when the writer is closed without an
    error. 16-bit outputs get seeded TPDF dither.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    sample_rate : int
        Hz.
    channels : int
        Channel count.
    encoding : str, optional
        One of :data:`ENCODINGS`; by default chosen from the suffix.
    seed : int
        Dither seed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        channels: int,
        encoding: str | None = None,
        seed: int = 0,
    ) -> None:
        self.path = Path(path)
        self.encoding = encoding_for(path, encoding)
        fmt, subtype, bits = {
            "wav16": ("WAV", "PCM_16", 16),
            "wav24": ("WAV", "PCM_24", 24),
            "wav32f": ("WAV", "FLOAT", None),
            "flac": ("FLAC", "PCM_24", 24),
            "flac16": ("FLAC", "PCM_16", 16),
            "mp3": ("MP3", "MPEG_LAYER_III", None),
            "ogg": ("OGG", "VORBIS", None),
            "aiff": ("AIFF", "PCM_24", 24),
        }[self.encoding]
        if fmt == "WAV" and channels > 2:
            fmt = "WAVEX"  # WAVE_FORMAT_EXTENSIBLE carries the channel mask for >2 channels
        if fmt == "MP3" and (sample_rate > 48_000 or channels > 2):
            raise UsageError("MP3 holds at most 2 channels at up to 48 kHz; resample first", path)
        # 16-bit gets our seeded TPDF dither; 24-bit needs none (its noise floor is
        # -144 dBFS), so libsndfile's own rounding of float samples is used.
        self.quantizer = Quantizer(16, dither=True, seed=seed) if bits == 16 else None
        self._top = 1.0 - 2.0**-23 if bits == 24 else 1.0
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        try:
            extra = {"compression_level": 0.0, "bitrate_mode": "CONSTANT"} if fmt == "MP3" else {}
            self._sf = sf.SoundFile(str(tmp), "w", sample_rate, channels, subtype, format=fmt, **extra)
        except BaseException as exc:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def write(self, block: np.ndarray) -> None:
        """Append a ``(frames, channels)`` float block (full scale 1.0).

        Raises
        ------
        TunesmithError
            The block could not be written (disk full, file size limit, I/O error); the caller's
            ``with`` block then discards the temporary file.
        """
        try:
            if self.quantizer is not None:
                self._sf.write(self.quantizer(block))
            elif self.encoding == "wav32f":
                self._sf.write(np.ascontiguousarray(block, dtype=np.float32))
            else:  # integer PCM and lossy encoders: libsndfile would wrap values beyond full scale
                self._sf.write(np.clip(block, -1.0, self._top, dtype=np.float32))
        except sf.LibsndfileError as exc:
            raise TunesmithError(f"cannot write the audio ({self._system_error(exc)})", self.path) from None

    def _system_error(self, exc: Exception) -> str:
        """libsndfile's own account of a failed write ("No space left on device"), else the exception's."""
        # soundfile's exception only says "System error."; the handle's error string carries the OS
        # reason, which is what tells a user that the disk is full.
        text = str(exc)
        with contextlib.suppress(Exception):
            text = sf._ffi.string(sf._snd.sf_strerror(self._sf._file)).decode(errors="replace")
        return _one_line(text.removeprefix("System error :").strip(" .")) or "write failed"

    def close(self, error: BaseException | None = None) -> None:
        """Finish the file (or discard it when ``error`` is given)."""
        try:
            self._sf.close()  # flushes the encoder and the header: can fail on a full disk too
        except sf.LibsndfileError as exc:
            if error is None:
                error = TunesmithError(f"cannot finish the audio file ({self._system_error(exc)})", self.path)
                self._ctx.__exit__(type(error), error, None)
                raise error from None
        if error is None:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close(exc)


def save(
    audio: Audio,
    path: str | os.PathLike[str],
    encoding: str | None = None,
    seed: int = 0,
) -> None:
    """Write ``audio`` to ``path`` atomically.

    Parameters
    ----------
    audio : Audio
        What to write; samples beyond ±1.0 are clipped in integer formats.
    path : str or os.PathLike
        Destination; the format follows the suffix unless ``encoding`` is given.
    encoding : str, optional
        ``wav16`` (TPDF-dithered), ``wav24``, ``wav32f``, ``flac`` (24-bit),
        ``flac16`` (dithered), ``mp3`` (320 kbit/s CBR), ``ogg``, ``aiff``.
    seed : int
        Dither seed: same audio and seed give bit-identical files.
    """
    with AudioWriter(path, audio.sample_rate, audio.channels, encoding, seed) as writer:
        for start in range(0, audio.frames, BLOCK_FRAMES):
            writer.write(audio.samples[start : start + BLOCK_FRAMES])


def encode_mp3(wav: str | os.PathLike[str], mp3: str | os.PathLike[str]) -> float:
    """Encode ``wav`` as a 320 kbit/s MP3 at ``mp3`` (atomically); the MP3's true peak as decoded, dBTP.

    ffmpeg's LAME runs about 2.5x faster than libsndfile's at the same bit rate, so it is used
    when installed (``make install`` puts it there); libsndfile is the fallback. The encoder can
    push inter-sample peaks up (its loudness stays within 0.02 LU at this bit rate), so callers
    compare the returned peak with their ceiling and encode again from a lower one if needed.

    Parameters
    ----------
    wav : str or os.PathLike
        The finished audio (any format this module reads; at most 2 channels, 48 kHz).
    mp3 : str or os.PathLike
        Destination; written only when complete.

    Returns
    -------
    float
        True peak of the decoded MP3, dBTP (``-inf`` for silence).
    """
    import math

    from tunesmith.audio.meter import TruePeakDetector  # numba-compiled: loaded only when encoding

    wav, mp3 = Path(wav), Path(mp3)
    ffmpeg = shutil.which("ffmpeg")
    done = False
    if ffmpeg:
        cmd = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(wav)]
        cmd += ["-codec:a", "libmp3lame", "-b:a", "320k", "-f", "mp3"]
        try:
            with atomic_path(mp3) as tmp:
                subprocess.run([*cmd, str(tmp)], capture_output=True, check=True)
            done = True
        except subprocess.CalledProcessError:  # an ffmpeg without LAME: use libsndfile's
            done = False
    if not done:
        with AudioReader(wav) as reader, AudioWriter(mp3, reader.info.sample_rate, reader.info.channels, "mp3") as w:
            for block in reader.blocks():
                w.write(block)
    with AudioReader(mp3) as reader:
        detector = TruePeakDetector(reader.info.sample_rate, reader.info.channels)
        for block in reader.blocks():
            for c in range(block.shape[1]):
                detector.process_channel(c, np.ascontiguousarray(block[:, c]))
    peak = float(np.max(detector.peaks()))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf
