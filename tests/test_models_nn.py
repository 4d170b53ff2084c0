"""The numpy forward passes equal PyTorch's for the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.models import nn

torch = pytest.importorskip("torch")


def _numpy(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def test_gru_matches_torch() -> None:
    torch.manual_seed(0)
    gru = torch.nn.GRU(7, 16, batch_first=True)
    x = torch.randn(3, 11, 7)
    want, last = gru(x)
    w = {f"g.{k}": v for k, v in _numpy(gru).items()}
    got, h = nn.GRU(w, "g").run(x.numpy())
    assert np.allclose(got, want.detach().numpy(), atol=1e-5)
    assert np.allclose(h, last[0].detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("backwards", [False, True])
def test_lstm_matches_torch(backwards: bool) -> None:
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(5, 12, batch_first=True, bidirectional=True)
    x = torch.randn(2, 9, 5)
    want, _ = lstm(x)
    w = {f"l.{k}": v for k, v in _numpy(lstm).items()}
    got, _ = nn.LSTM(w, "l", reverse=backwards).run(x.numpy(), backwards=backwards)
    half = want.detach().numpy()[..., 12:] if backwards else want.detach().numpy()[..., :12]
    assert np.allclose(got, half, atol=1e-5)


def test_linear_and_log_softmax() -> None:
    torch.manual_seed(2)
    lin = torch.nn.Linear(6, 4)
    x = torch.randn(5, 6)
    want = torch.log_softmax(lin(x), -1).detach().numpy()
    got = nn.log_softmax(nn.Linear({f"o.{k}": v for k, v in _numpy(lin).items()}, "o")(x.numpy()))
    assert np.allclose(got, want, atol=1e-5)
    assert np.allclose(np.exp(got).sum(-1), 1.0, atol=1e-5)


def test_embedding_matches_torch() -> None:
    torch.manual_seed(3)
    emb = torch.nn.Embedding(10, 4)
    ids = torch.tensor([[0, 3, 9], [9, 9, 1]])
    got = nn.Embedding({f"e.{k}": v for k, v in _numpy(emb).items()}, "e")(ids.numpy())
    assert got.shape == (2, 3, 4)
    assert np.allclose(got, emb(ids).detach().numpy(), atol=1e-6)


def test_unreadable_weights_are_one_line_errors(tmp_path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a tensor file")
    with pytest.raises(nn.InputFileError, match=r"bad\.safetensors"):
        nn.load_weights(bad)
