"""Train the chord model (``src/tunesmith/models/weights/chord.safetensors``) on POP909 songs 001–818.

Every training song is read at beat resolution (``tunesmith.models.pop909_beats``):
the chord per beat, the melody's pitch classes per beat, the beat's place in the
bar. Windows of 128 beats are drawn at random, each transposed by a random
interval (so the model sees every key) and shown the melody in one of three ways
— around the beat and its bar (harmonizing), only already played (live), or not
at all (generating) — so one network serves all three uses; a quarter of the
previous-chord inputs are hidden so it learns to read the melody. Songs whose number is a
multiple of 20 are the validation slice for model selection; the held-out songs
819–909 are never read. Deterministic from ``--seed``.

Usage::

    python scripts/train_chord.py [--pop909 ../shared/data/pop909] [--epochs 40] [--seed 0]

About 4 minutes on 2 cores (1 of them reading the songs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tunesmith.models.chord import (  # noqa: E402
    BOS,
    GENERATE,
    HARMONIZE,
    LIVE,
    N_FEATURES,
    N_TOKENS,
    NO_CHORD,
    QUALITIES,
    WEIGHTS,
    beat_features,
    transpose_tokens,
)
from tunesmith.models.nn import weights_dir  # noqa: E402
from tunesmith.models.pop909_beats import SongBeats, load_beats  # noqa: E402

CACHE = ROOT / ".cache-train"
WINDOW = 128
#: How the melody is shown: (previous, current, next beat) and the share of windows trained so.
MODES = ((HARMONIZE, 0.5), (LIVE, 0.25), (GENERATE, 0.25))
#: Share of beats whose previous chord is hidden (shown as BOS) in training: a model always told
#: the true last chord learns to copy it, and then cannot recover from its own mistakes when it
#: runs on its own output; hiding it sometimes makes it read the melody.
PREVIOUS_DROPOUT = 0.25


def is_validation(song_id: int) -> bool:
    """The slice of the training split kept for model selection."""
    return song_id % 20 == 0


def build(hidden: int, embed: int):
    import torch

    class ChordNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(N_TOKENS + 1, embed)
            self.gru = torch.nn.GRU(embed + N_FEATURES, hidden, batch_first=True)
            self.drop = torch.nn.Dropout(0.2)
            self.out = torch.nn.Linear(hidden, N_TOKENS)

        def forward(self, previous: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
            x = torch.cat([self.embed(previous), features], dim=-1)
            states, _ = self.gru(x)
            return self.out(self.drop(states))

    return ChordNet()


def make_batch(songs: list[SongBeats], rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
    """``size`` random windows: previous tokens, features, targets (``NO_CHORD`` targets are ignored)."""
    prev = np.full((size, WINDOW), BOS, dtype=np.int64)
    feats = np.zeros((size, WINDOW, N_FEATURES), np.float32)
    target = np.full((size, WINDOW), -100, dtype=np.int64)  # -100: torch's ignore_index
    lengths = np.array([len(s.tokens) for s in songs], dtype=np.float64)
    picks = rng.choice(len(songs), size=size, p=lengths / lengths.sum())
    modes = rng.choice(len(MODES), size=size, p=[m[1] for m in MODES])
    for b, (si, mode) in enumerate(zip(picks, modes, strict=True)):
        s = songs[si]
        start = int(rng.integers(0, max(1, len(s.tokens) - WINDOW // 2)))
        end = min(len(s.tokens), start + WINDOW)
        shift = int(rng.integers(0, 12))
        toks = transpose_tokens(s.tokens, shift)
        mel = np.roll(s.melody, shift, axis=1)
        f = beat_features(mel, s.in_bar, MODES[mode][0])
        n = end - start
        prev[b, :n] = np.concatenate([[BOS], toks[:-1]])[start:end]
        prev[b, :n][rng.random(n) < PREVIOUS_DROPOUT] = BOS
        feats[b, :n] = f[start:end]
        t = toks[start:end].copy()
        t[t == NO_CHORD] = -100
        target[b, :n] = t
    return prev, feats, target


def emission_table(songs: list[SongBeats]) -> np.ndarray:
    """``(N_TOKENS, 12)`` log P(melody pitch class | chord).

    Melody durations are counted per chord quality relative to the root (pooled over roots,
    add-0.5 smoothed) and rolled back to every root.
    """
    q_count = len(QUALITIES)
    profile = np.full((q_count, 12), 0.5)
    for s in songs:
        for tok, hist in zip(s.tokens, s.melody, strict=True):
            if tok in (NO_CHORD, BOS):
                continue
            root, q = divmod(int(tok) - 1, q_count)
            profile[q] += np.roll(hist, -root)
    profile /= profile.sum(axis=1, keepdims=True)
    table = np.full((N_TOKENS, 12), np.log(1.0 / 12.0))
    for tok in range(1, N_TOKENS):
        root, q = divmod(tok - 1, q_count)
        table[tok] = np.roll(np.log(profile[q]), root)
    return table.astype(np.float32)


def evaluate_nll(model, songs: list[SongBeats]) -> dict[str, float]:
    """Mean NLL per annotated beat on whole songs, per melody mode (no dropout, true previous chords)."""
    import torch

    model.eval()
    out = {}
    with torch.no_grad():
        for seen, _ in MODES:
            total, count = 0.0, 0
            for s in songs:
                prev = torch.tensor(np.concatenate([[BOS], s.tokens[:-1]])[None])
                feats = torch.tensor(beat_features(s.melody, s.in_bar, seen)[None])
                logits = model(prev, feats)[0]
                mask = torch.tensor(s.tokens != NO_CHORD)
                lp = torch.log_softmax(logits, -1)[mask, torch.tensor(s.tokens)[mask]]
                total -= float(lp.sum())
                count += int(mask.sum())
            out["".join("1" if v else "0" for v in seen)] = total / max(1, count)
    model.train()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pop909", default=str(ROOT.parent / "shared" / "data" / "pop909"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=50, help="batches per epoch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--embed", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(weights_dir() / WEIGHTS))
    ap.add_argument("--emission-only", action="store_true", help="recompute only the emission table of --out")
    args = ap.parse_args()

    import torch
    from safetensors.torch import save_file

    t0 = time.perf_counter()
    # One thread: the same floating-point sums on any machine (so the same weights), and no
    # OpenMP spin-waiting when the two cores are shared.
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    CACHE.mkdir(exist_ok=True)
    cache = CACHE / "pop909_train_beats.npz"
    if cache.exists():
        with np.load(cache) as z:  # each z[name] reads the file again: read every array once
            ids, bounds, tokens, melody, in_bar = (z[k] for k in ("ids", "bounds", "tokens", "melody", "in_bar"))
        songs = [
            SongBeats(int(i), tokens[a:b], melody[a:b], in_bar[a:b])
            for i, a, b in zip(ids, bounds[:-1], bounds[1:], strict=True)
        ]
    else:
        songs = load_beats(args.pop909, "train")
        bounds = np.cumsum([0] + [len(s.tokens) for s in songs])
        np.savez(
            cache,
            ids=np.array([s.song_id for s in songs]),
            bounds=bounds,
            tokens=np.concatenate([s.tokens for s in songs]),
            melody=np.concatenate([s.melody for s in songs]),
            in_bar=np.concatenate([s.in_bar for s in songs]),
        )
    assert all(s.song_id <= 818 for s in songs), "held-out songs must never be trained on"
    train = [s for s in songs if not is_validation(s.song_id)]
    valid = [s for s in songs if is_validation(s.song_id)]
    print(f"{len(train)} training songs, {len(valid)} validation, read in {time.perf_counter() - t0:.0f} s")

    if args.emission_only:
        from safetensors.torch import load_file

        from tunesmith.models.nn import load_metadata

        tensors = load_file(args.out)
        tensors["emission"] = torch.from_numpy(emission_table(train))
        save_file(tensors, args.out, metadata=load_metadata(args.out))
        print(f"updated the emission table of {args.out}")
        return
    model = build(args.hidden, args.embed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    rng = np.random.default_rng(args.seed)
    best, best_state, history = math.inf, None, []
    for epoch in range(args.epochs):
        losses = []
        for _ in range(args.steps):
            prev, feats, target = (torch.tensor(a) for a in make_batch(train, rng, args.batch))
            logits = model(prev, feats)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, N_TOKENS), target.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        sched.step()
        val = evaluate_nll(model, valid)
        mean_val = float(np.mean(list(val.values())))
        history.append({"epoch": epoch + 1, "train_nll": float(np.mean(losses)), "valid_nll": val})
        mark = ""
        if mean_val < best:
            best, mark = mean_val, " *"
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        shown = " ".join(f"{k}:{v:.3f}" for k, v in val.items())
        took = time.perf_counter() - t0
        print(f"epoch {epoch + 1:3d}  train {np.mean(losses):.3f}  valid {shown}{mark}  ({took:.0f} s)")
    config = {
        "qualities": list(QUALITIES),
        "hidden": args.hidden,
        "embed": args.embed,
        "seed": args.seed,
        "epochs": args.epochs,
        "steps_per_epoch": args.steps,
        "batch": args.batch,
        "window_beats": WINDOW,
        "train_songs": len(train),
        "validation_songs": len(valid),
        "best_valid_nll": best,
        "trained_s": round(time.perf_counter() - t0, 1),
    }
    tensors = {k: v.contiguous() for k, v in best_state.items()}
    tensors["emission"] = torch.from_numpy(emission_table(train))
    save_file(tensors, args.out, metadata={"config": json.dumps(config)})
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s; best valid NLL {best:.3f}")
    (CACHE / "chord_history.json").write_text(json.dumps(history, indent=1))


if __name__ == "__main__":
    main()
