"""Train the chorale model (four-part harmonisation of a soprano) from music21's Bach corpus.

Data: the four-part pieces of ``music21.corpus.getComposer('bach')`` in the project's fixed
split (``tunesmith.models.chorale.bach_paths``): sorted paths, ``i % 5 == 4`` held out and
never read here; ``i % 10 == 8`` of the rest is the validation slice that picks the epoch;
the rest trains. Every training piece is seen each epoch in a few of the keys it can be
transposed to with all four voices inside their ranges (drawn from the seed).

The network is the one ``tunesmith.models.chorale.ChoraleModel`` runs on numpy: a two-layer
bidirectional LSTM over soprano/key/metre features, a GRU over the frames fed the previous
frame's alto/tenor/bass, and heads for p(bass) p(alto | bass) p(tenor | bass, alto), trained
by cross-entropy with teacher forcing. The weights with the best validation NLL are written
to ``src/tunesmith/models/weights/chorale.safetensors`` (float16), with the training figures
in its metadata.

Parsed pieces are cached in ``.cache-train/chorale/`` (git-ignored); delete it to re-parse.

Usage::

    python scripts/train_chorale.py [--seed 0] [--epochs 24] [--workers 2]

Deterministic for a seed on a given machine and thread count (fixed data order,
``torch.use_deterministic_algorithms``, 2 threads).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# OpenMP threads that spin while waiting slow a recurrent network's many small steps down
# tenfold when another process shares the cores; waiting passively costs nothing otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from tunesmith.atomic import atomic_path  # noqa: E402
from tunesmith.models import chorale  # noqa: E402
from tunesmith.models.chorale import DECODE_ORDER, N_FEATURES, RANGES, REST, VOICES, ChoraleFrames  # noqa: E402

CACHE = ROOT / ".cache-train" / "chorale"
OUT = chorale.weights_path()
# Architecture and schedule (kept in the weights' metadata).
EPOCHS, KEYS_PER_EPOCH, BATCH, LR = 24, 2, 8, 4e-3
CONFIG = {"enc_layers": 1, "enc_hidden": 128, "dec_hidden": 256, "emb": 32, "head_hidden": 128, "dropout": 0.2}


class ChoraleNet(nn.Module):
    """The chorale network; parameter names are what ``ChoraleModel`` reads."""

    def __init__(
        self, enc_layers: int, enc_hidden: int, dec_hidden: int, emb: int, head_hidden: int, dropout: float
    ) -> None:
        super().__init__()
        self.encoder = nn.LSTM(N_FEATURES, enc_hidden, num_layers=enc_layers, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        for v in DECODE_ORDER:
            lo, hi = RANGES[v]
            setattr(self, f"token_{v}", nn.Embedding(chorale.vocab_size(v), emb))
            setattr(self, f"pitch_{v}", nn.Embedding(hi - lo + 2, emb))
        self.decoder = nn.GRU(2 * enc_hidden + 3 * emb, dec_hidden, batch_first=True)
        width = dec_hidden
        for v in DECODE_ORDER:
            head = nn.Sequential(
                nn.Linear(width, head_hidden), nn.ReLU(), nn.Linear(head_hidden, chorale.vocab_size(v))
            )
            setattr(self, f"head_{v}", head)
            width += emb

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, tokens: torch.Tensor, pitches: torch.Tensor
    ) -> list[torch.Tensor]:
        """Logits per lower voice (in ``DECODE_ORDER``), each ``(batch, frames, vocab)``.

        ``x`` is ``(batch, frames, N_FEATURES)``; ``tokens`` and ``pitches`` (pitch-embedding
        indices) are ``(batch, 3, frames)`` in ``DECODE_ORDER``.
        """
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        ctx, _ = self.encoder(packed)
        ctx, _ = pad_packed_sequence(ctx, batch_first=True, total_length=x.shape[1])
        states = [
            getattr(self, f"token_{v}")(tokens[:, i]) + getattr(self, f"pitch_{v}")(pitches[:, i])
            for i, v in enumerate(DECODE_ORDER)
        ]
        cur = torch.cat(states, -1)
        rest = torch.full((x.shape[0], 1), REST, dtype=torch.long, device=x.device)
        zero = torch.zeros_like(rest)
        start = torch.cat(
            [getattr(self, f"token_{v}")(rest) + getattr(self, f"pitch_{v}")(zero) for v in DECODE_ORDER], -1
        )
        prev = torch.cat([start, cur[:, :-1]], 1)
        h, _ = self.decoder(torch.cat([self.drop(ctx), self.drop(prev)], -1))
        given = [self.drop(h)]
        out = []
        for i, v in enumerate(DECODE_ORDER):
            out.append(getattr(self, f"head_{v}")(torch.cat(given, -1)))
            given.append(self.drop(states[i]))
        return out


def arrays(ch: ChoraleFrames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features ``(frames, N_FEATURES)``, tokens and pitch indices ``(3, frames)`` of a piece."""
    x = chorale.features(ch.pitches[0], ch.onsets[0], ch.key, ch.beats_per_bar)
    toks = np.stack(
        [chorale.voice_tokens(ch.pitches[VOICES.index(v)], ch.onsets[VOICES.index(v)], v) for v in DECODE_ORDER]
    )
    pidx = np.stack([chorale.pitch_index(ch.pitches[VOICES.index(v)], v) for v in DECODE_ORDER])
    return x, toks, pidx


def batches(items: list[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int, rng: np.random.Generator) -> list:
    """Padded batches of pieces of similar length, in a seeded order."""
    order = sorted(range(len(items)), key=lambda i: (items[i][0].shape[0], i))
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(groups)
    out = []
    for g in groups:
        n = max(items[i][0].shape[0] for i in g)
        x = np.zeros((len(g), n, N_FEATURES), np.float32)
        toks = np.full((len(g), 3, n), REST, np.int64)
        pidx = np.zeros((len(g), 3, n), np.int64)
        lengths = np.array([items[i][0].shape[0] for i in g])
        for j, i in enumerate(g):
            t = lengths[j]
            x[j, :t], toks[j, :, :t], pidx[j, :, :t] = items[i]
        out.append((torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(toks), torch.from_numpy(pidx)))
    return out


def loss_sum(model: ChoraleNet, batch: tuple, device: str = "cpu") -> tuple[torch.Tensor, int]:
    """Summed NLL (nats, three voices) over the batch's real frames, and how many frames."""
    x, lengths, toks, pidx = batch
    x, toks, pidx = x.to(device), toks.to(device), pidx.to(device)
    logits = model(x, lengths, toks, pidx)
    mask = (torch.arange(x.shape[1], device=device)[None] < lengths.to(device)[:, None]).float()
    total = torch.zeros(())
    for i, lg in enumerate(logits):
        nll = nn.functional.cross_entropy(lg.transpose(1, 2), toks[:, i], reduction="none")
        total = total + (nll * mask).sum()
    return total, int(mask.sum())


def train(
    train_set: list[ChoraleFrames],
    val_set: list[ChoraleFrames],
    config: dict[str, float],
    epochs: int,
    keys_per_epoch: int,
    batch: int,
    lr: float,
    seed: int,
    device: str = "cpu",
    log: Callable[[str], object] = print,
) -> tuple[float, int, dict[str, torch.Tensor], list[dict[str, float]], int]:
    """Train from scratch; the state with the best validation NLL and the per-epoch figures.

    Returns
    -------
    tuple
        Best validation NLL (nats/frame), its epoch, its state dict (on the CPU), the
        history and the parameter count.
    """
    t_start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shifts = [chorale.transpositions(ch) for ch in train_set]
    log(f"transpositions per piece: mean {np.mean([len(s) for s in shifts]):.1f} (min {min(map(len, shifts))})")
    val_batches = batches([arrays(ch) for ch in val_set], batch, np.random.default_rng(0))
    cache_arrays: dict[tuple[int, int], tuple] = {}
    model = ChoraleNet(**config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{n_params:,} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(sum(min(keys_per_epoch, len(s)) for s in shifts) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1)
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        items = []
        # Each piece in a few of its keys, drawn afresh every epoch in a fixed order.
        for i, ch in enumerate(train_set):
            picks = rng.choice(shifts[i], size=min(keys_per_epoch, len(shifts[i])), replace=False)
            for s in sorted(int(p) for p in picks):
                if (i, s) not in cache_arrays:
                    cache_arrays[(i, s)] = arrays(ch.transpose(s))
                items.append(cache_arrays[(i, s)])
        total, frames = 0.0, 0
        for b in batches(items, batch, rng):
            loss, n = loss_sum(model, b, device)
            opt.zero_grad()
            (loss / n).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total, frames = total + float(loss.detach()), frames + n
        model.eval()
        with torch.no_grad():
            vt, vn = 0.0, 0
            for b in val_batches:
                loss, n = loss_sum(model, b, device)
                vt, vn = vt + float(loss), vn + n
        val_nll = vt / vn
        history.append({"epoch": epoch + 1, "train_nll": round(total / frames, 4), "val_nll": round(val_nll, 4)})
        if best is None or val_nll < best[0]:
            best = (val_nll, epoch + 1, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        log(
            f"epoch {epoch + 1:2d}/{epochs}: train NLL {total / frames:.4f}, validation NLL {val_nll:.4f} "
            f"nats/frame, {time.perf_counter() - t0:.0f} s (total {(time.perf_counter() - t_start) / 60:.1f} min)"
        )
    assert best is not None
    return best[0], best[1], best[2], history, n_params


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--keys-per-epoch", type=int, default=KEYS_PER_EPOCH, help="transpositions of a piece per epoch")
    ap.add_argument("--batch", type=int, default=BATCH, help="pieces per batch")
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--workers", type=int, default=2, help="processes parsing the corpus")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    t_start = time.perf_counter()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    train_set = chorale.load_bach_split("train", CACHE, args.workers, progress=print)
    val_set = chorale.load_bach_split("validation", CACHE, args.workers, progress=print)
    print(f"{len(train_set)} training pieces, {len(val_set)} validation pieces ({time.perf_counter() - t_start:.0f} s)")
    val_nll, best_epoch, state, history, n_params = train(
        train_set,
        val_set,
        CONFIG,
        args.epochs,
        args.keys_per_epoch,
        args.batch,
        args.lr,
        args.seed,
        log=lambda line: print(line, flush=True),
    )
    from safetensors.torch import save_file

    meta = {
        "model": "chorale",
        "encoding_version": chorale.ENCODING_VERSION,
        "config": CONFIG,
        "seed": args.seed,
        "epochs": args.epochs,
        "best_epoch": best_epoch,
        "validation_nll_per_frame": round(val_nll, 4),
        "keys_per_epoch": args.keys_per_epoch,
        "batch": args.batch,
        "lr": args.lr,
        "training_pieces": len(train_set),
        "validation_pieces": len(val_set),
        "parameters": n_params,
        "ranges": RANGES,
        "torch": torch.__version__,
    }
    # float16 halves the file; the numpy model computes in float32 from these values.
    with atomic_path(args.out) as tmp:
        tensors = {k: v.to(torch.float16).contiguous() for k, v in state.items()}
        save_file(tensors, str(tmp), metadata={"chorale": json.dumps(meta, sort_keys=True)})
    minutes = (time.perf_counter() - t_start) / 60
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / f"train-log-seed{args.seed}-epochs{args.epochs}.json"
    log.write_text(json.dumps({**meta, "history": history, "minutes": round(minutes, 1)}, indent=2))
    print(
        f"best epoch {best_epoch}: validation NLL {val_nll:.4f} nats/frame; wrote {args.out} "
        f"({args.out.stat().st_size / 1e6:.2f} MB) in {minutes:.1f} min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
