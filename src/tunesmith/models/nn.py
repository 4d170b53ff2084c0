"""Inference for the small recurrent models in numpy, from their safetensors weights.

The models are trained with PyTorch (``scripts/train_*.py``), but importing torch
takes about two seconds and composing a song takes a tenth of that; the
forward passes needed at run time (embedding, linear, GRU and LSTM cells with
PyTorch's weight layout, softmax) are a few matrix products each, so they run
here on numpy. ``tests/test_models_nn.py`` checks every layer against torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tunesmith.errors import InputFileError


class Weights(dict):
    """Tensors by name; asking for one the file lacks is an :class:`InputFileError` naming the file.

    A weights file from another version, or one whose header was damaged into different names,
    then fails with one line saying so instead of a ``KeyError`` deep inside a model's constructor.
    """

    def __init__(self, tensors: dict[str, np.ndarray], path: str | os.PathLike[str]) -> None:
        super().__init__(tensors)
        self.path = path

    def __missing__(self, key: str) -> np.ndarray:
        raise InputFileError(f"model weights lack tensor {key!r} (damaged, or from another version)", self.path)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def load_weights(path: str | os.PathLike[str]) -> Weights:
    """Tensors of a ``.safetensors`` file as float32 numpy arrays (no torch needed).

    Raises
    ------
    InputFileError
        The file is missing, cut short, has a damaged header, or holds NaN/infinite weights.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    # A damaged header can also surface as a ValueError or TypeError from the numpy conversion.
    except (OSError, SafetensorError, ValueError, TypeError) as exc:
        raise InputFileError(f"cannot read model weights ({_one_line(exc)})", path) from None
    out = {k: np.ascontiguousarray(v, dtype=np.float32) if v.dtype.kind == "f" else v for k, v in tensors.items()}
    for name, value in out.items():
        # Trained weights are finite; overwritten bytes (a bad sector, a partial copy) often are not.
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise InputFileError(f"model weights are damaged: tensor {name!r} holds NaN or infinite values", path)
    return Weights(out, path)


def load_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` file (the model's configuration lives there)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            return dict(f.metadata() or {})
    except (OSError, SafetensorError, ValueError, TypeError) as exc:
        raise InputFileError(f"cannot read model weights ({_one_line(exc)})", path) from None


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, overflow-safe for float32."""
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Natural-log probabilities from logits along ``axis``."""
    m = np.max(logits, axis=axis, keepdims=True)
    shifted = logits - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities from logits along ``axis``."""
    return np.exp(log_softmax(logits, axis))


class Linear:
    """``y = x W^T + b`` with PyTorch's ``(out, in)`` weight layout."""

    def __init__(self, weights: dict[str, np.ndarray], name: str) -> None:
        self.w_t = np.ascontiguousarray(weights[f"{name}.weight"].T)
        self.b = weights.get(f"{name}.bias")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.w_t
        return y if self.b is None else y + self.b


class Embedding:
    """Rows of a ``torch.nn.Embedding`` table looked up by integer ids (any shape of ids)."""

    def __init__(self, weights: dict[str, np.ndarray], name: str) -> None:
        self.weight = weights[f"{name}.weight"]

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return self.weight[np.asarray(ids)]


class GRU:
    """One-layer GRU cell stepping like ``torch.nn.GRU`` (gates in the order reset, update, new)."""

    def __init__(self, weights: dict[str, np.ndarray], name: str, layer: int = 0) -> None:
        self.w_ih_t = np.ascontiguousarray(weights[f"{name}.weight_ih_l{layer}"].T)
        self.w_hh_t = np.ascontiguousarray(weights[f"{name}.weight_hh_l{layer}"].T)
        self.b_ih = weights[f"{name}.bias_ih_l{layer}"]
        self.b_hh = weights[f"{name}.bias_hh_l{layer}"]
        self.hidden = self.w_hh_t.shape[0]

    def initial(self, batch: int = 1) -> np.ndarray:
        """Zero state, ``(batch, hidden)``."""
        return np.zeros((batch, self.hidden), np.float32)

    def input_part(self, x: np.ndarray) -> np.ndarray:
        """The input's contribution to the gates; precompute it for a whole sequence at once."""
        return x @ self.w_ih_t + self.b_ih

    def step(self, gi: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Next state from the input part ``gi`` (from :meth:`input_part`) and the state ``h``."""
        gh = h @ self.w_hh_t + self.b_hh
        n_h = self.hidden
        r = sigmoid(gi[..., :n_h] + gh[..., :n_h])
        z = sigmoid(gi[..., n_h : 2 * n_h] + gh[..., n_h : 2 * n_h])
        n = np.tanh(gi[..., 2 * n_h :] + r * gh[..., 2 * n_h :])
        return (1.0 - z) * n + z * h

    def run(self, x: np.ndarray, h: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Run over ``x`` of shape ``(batch, time, features)``; returns all states and the last."""
        gi = self.input_part(x)
        h = self.initial(x.shape[0]) if h is None else h
        out = np.empty((x.shape[0], x.shape[1], self.hidden), np.float32)
        for t in range(x.shape[1]):
            h = self.step(gi[:, t], h)
            out[:, t] = h
        return out, h


class LSTM:
    """One-layer LSTM cell stepping like ``torch.nn.LSTM`` (gates input, forget, cell, output)."""

    def __init__(self, weights: dict[str, np.ndarray], name: str, layer: int = 0, reverse: bool = False) -> None:
        suffix = f"l{layer}" + ("_reverse" if reverse else "")
        self.w_ih_t = np.ascontiguousarray(weights[f"{name}.weight_ih_{suffix}"].T)
        self.w_hh_t = np.ascontiguousarray(weights[f"{name}.weight_hh_{suffix}"].T)
        self.bias = weights[f"{name}.bias_ih_{suffix}"] + weights[f"{name}.bias_hh_{suffix}"]
        self.hidden = self.w_hh_t.shape[0]

    def initial(self, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Zero ``(h, c)``, each ``(batch, hidden)``."""
        zeros = np.zeros((batch, self.hidden), np.float32)
        return zeros, zeros.copy()

    def input_part(self, x: np.ndarray) -> np.ndarray:
        """The input's contribution to the gates (bias included)."""
        return x @ self.w_ih_t + self.bias

    def step(self, gi: np.ndarray, state: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Next ``(h, c)`` from the input part and the state."""
        h, c = state
        g = gi + h @ self.w_hh_t
        n_h = self.hidden
        i = sigmoid(g[..., :n_h])
        f = sigmoid(g[..., n_h : 2 * n_h])
        cell = np.tanh(g[..., 2 * n_h : 3 * n_h])
        o = sigmoid(g[..., 3 * n_h :])
        c = f * c + i * cell
        return o * np.tanh(c), c

    def run(
        self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None, backwards: bool = False
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Run over ``x`` ``(batch, time, features)`` (from the end when ``backwards``)."""
        gi = self.input_part(x)
        state = self.initial(x.shape[0]) if state is None else state
        out = np.empty((x.shape[0], x.shape[1], self.hidden), np.float32)
        steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
        for t in steps:
            state = self.step(gi[:, t], state)
            out[:, t] = state[0]
        return out, state


def weights_dir() -> Path:
    """Where the packaged weights and their data cards live."""
    return Path(__file__).resolve().parent / "weights"
