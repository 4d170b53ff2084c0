"""Train the melody model (``src/tunesmith/models/weights/melody.safetensors``) on POP909 and music21's folk tunes.

Data (``tunesmith.models.melody_data``): the melodies of POP909 songs 001–818 with
their chord and key annotations, and the Essen, O'Neill 1850 and Ryan's Mammoth
tunes of music21's corpus outside the held-out tenth (running index ``i % 10 == 9``),
with estimated chords. Validation (model selection only): POP909 songs whose number
is a multiple of 20 and folk tunes with ``i % 20 == 4``. The held-out songs and tunes
are never read. Each tune is encoded into events (``tunesmith.models.melody``);
windows of :data:`WINDOW` events are drawn at random — half from POP909, a quarter
each from the folk songs and the dance tunes — and the network is trained to predict
each event's pitch and then its duration. The epoch with the best validation NLL
(mean over the three styles) is kept. Deterministic from ``--seed`` (one torch thread).

Usage::

    python scripts/train_melody.py [--pop909 ../shared/data/pop909] [--epochs 24] [--seed 0]

About 15 minutes on the shared 2-core VM with the parsed corpora cached in
``.cache-train/`` (90 s of it encoding the events, cached too); reading them the first
time adds about 20 CPU-minutes of music21 ABC parsing (shared by the two cores, so about
10 minutes) and 40 s of POP909.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tunesmith.atomic import atomic_path  # noqa: E402
from tunesmith.models import melody as mm  # noqa: E402
from tunesmith.models import melody_data as md  # noqa: E402
from tunesmith.models.nn import weights_dir  # noqa: E402

CACHE = ROOT / ".cache-train"
WINDOW = 160
#: Share of training windows drawn from each style tag.
TAG_SHARE = {"pop": 0.5, "song": 0.25, "dance": 0.25}
EVENTS_VERSION = 3  # bump when the event encoding changes (invalidates the encoded cache)


def load_events(pop909: str, workers: int | None = None) -> tuple[list[mm.Events], list[str], list[str]]:
    """Encoded runs of every development tune, their tags and splits (``train``/``valid``), cached."""
    cache = CACHE / "melody_events.npz"
    if cache.exists():
        with np.load(cache) as z:
            arrays = {k: z[k] for k in z.files}
        if int(arrays["version"]) == EVENTS_VERSION and arrays["features"].shape[1] == mm.N_FEATURES:
            b = arrays["bounds"]
            runs = [
                mm.Events(arrays["pitch"][x:y], arrays["dur"][x:y], arrays["onsets"][x:y], arrays["features"][x:y])
                for x, y in itertools.pairwise(b)
            ]
            return runs, arrays["tags"].tolist(), arrays["splits"].tolist()
    tunes = md.load_pop909_cached(pop909, CACHE, held_out=False, workers=workers)
    tunes += md.load_folk(CACHE, ("train", "valid"), workers=workers, progress=_progress)
    assert not any(t.split == "test" for t in tunes), "held-out tunes must never be trained on"
    runs, tags, splits = [], [], []
    for t, encoded in zip(tunes, md.encode_all(tunes, workers), strict=True):
        for r in encoded:
            runs.append(r)
            tags.append(t.tag)
            splits.append(t.split)
    bounds = np.cumsum([0] + [len(r) for r in runs])
    CACHE.mkdir(exist_ok=True)
    np.savez(
        cache,
        version=EVENTS_VERSION,
        bounds=bounds,
        pitch=np.concatenate([r.pitch for r in runs]),
        dur=np.concatenate([r.dur for r in runs]),
        onsets=np.concatenate([r.onsets for r in runs]),
        features=np.concatenate([r.features for r in runs]),
        tags=np.array(tags),
        splits=np.array(splits),
    )
    return runs, tags, splits


def _progress(done: int, total: int) -> None:
    if done % 100 == 0 or done == total:
        print(f"  parsed {done}/{total} folk ABC files", flush=True)


def build(hidden: int, layers: int, embed_pitch: int, embed_dur: int, embed_choice: int, dur_hidden: int):
    """The network (torch), laid out as :class:`tunesmith.models.melody.MelodyModel` reads it."""
    import torch

    class MelodyNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed_pitch = torch.nn.Embedding(mm.N_PITCH + 1, embed_pitch)
            self.embed_dur = torch.nn.Embedding(mm.N_DUR + 1, embed_dur)
            self.embed_choice = torch.nn.Embedding(mm.N_PITCH, embed_choice)
            self.gru = torch.nn.GRU(
                embed_pitch + embed_dur + mm.N_FEATURES, hidden, num_layers=layers, batch_first=True
            )
            self.drop = torch.nn.Dropout(0.2)
            self.pitch_head = torch.nn.Linear(hidden, mm.N_PITCH)
            self.dur_hidden = torch.nn.Linear(hidden + embed_choice, dur_hidden)
            self.dur_head = torch.nn.Linear(dur_hidden, mm.N_DUR)

        def forward(self, prev_p, prev_d, feats, pitch):
            x = torch.cat([self.embed_pitch(prev_p), self.embed_dur(prev_d), feats], dim=-1)
            h, _ = self.gru(x)
            h = self.drop(h)
            logits_p = self.pitch_head(h)
            z = torch.relu(self.dur_hidden(torch.cat([h, self.embed_choice(pitch)], dim=-1)))
            return logits_p, self.dur_head(z)

    return MelodyNet()


def make_batch(
    groups: dict[str, list[mm.Events]], rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``size`` random windows: previous pitch/duration tokens, features, target pitch and duration (-100 = padding)."""
    prev_p = np.full((size, WINDOW), mm.BOS_PITCH, dtype=np.int64)
    prev_d = np.full((size, WINDOW), mm.BOS_DUR, dtype=np.int64)
    feats = np.zeros((size, WINDOW, mm.N_FEATURES), np.float32)
    tp = np.full((size, WINDOW), -100, dtype=np.int64)
    td = np.full((size, WINDOW), -100, dtype=np.int64)
    names = list(TAG_SHARE)
    picks = rng.choice(len(names), size=size, p=[TAG_SHARE[k] for k in names])
    for b in range(size):
        runs, weights = groups[names[picks[b]]], _weights(groups, names[picks[b]])
        r = runs[int(rng.choice(len(runs), p=weights))]
        start = int(rng.integers(0, max(1, len(r) - WINDOW // 2)))
        end = min(len(r), start + WINDOW)
        n = end - start
        pp = np.concatenate([[mm.BOS_PITCH], r.pitch[:-1]])
        pd = np.concatenate([[mm.BOS_DUR], r.dur[:-1]])
        prev_p[b, :n], prev_d[b, :n] = pp[start:end], pd[start:end]
        feats[b, :n] = r.features[start:end]
        tp[b, :n], td[b, :n] = r.pitch[start:end], r.dur[start:end]
    return prev_p, prev_d, feats, tp, td


_WEIGHTS: dict[str, np.ndarray] = {}


def _weights(groups: dict[str, list[mm.Events]], tag: str) -> np.ndarray:
    """Runs are drawn in proportion to their length (every event equally likely to be seen)."""
    if tag not in _WEIGHTS:
        lengths = np.array([len(r) for r in groups[tag]], dtype=np.float64)
        _WEIGHTS[tag] = lengths / lengths.sum()
    return _WEIGHTS[tag]


def evaluate_nll(model, groups: dict[str, list[mm.Events]]) -> dict[str, float]:
    """Mean NLL per event (pitch + duration, nats) of whole runs, per style tag (no dropout)."""
    import torch

    model.eval()
    out = {}
    with torch.no_grad():
        for tag, runs in groups.items():
            total, count = 0.0, 0
            # Runs of similar length batched together (padding ignored) to keep this quick.
            order = sorted(range(len(runs)), key=lambda i: len(runs[i]))
            for k in range(0, len(order), 64):
                chunk = [runs[i] for i in order[k : k + 64]]
                width = max(len(r) for r in chunk)
                pp = np.full((len(chunk), width), mm.BOS_PITCH, dtype=np.int64)
                pd = np.full((len(chunk), width), mm.BOS_DUR, dtype=np.int64)
                ff = np.zeros((len(chunk), width, mm.N_FEATURES), np.float32)
                tp = np.full((len(chunk), width), -100, dtype=np.int64)
                td = np.full((len(chunk), width), -100, dtype=np.int64)
                for b, r in enumerate(chunk):
                    n = len(r)
                    pp[b, 1:n], pd[b, 1:n] = r.pitch[:-1], r.dur[:-1]
                    ff[b, :n], tp[b, :n], td[b, :n] = r.features, r.pitch, r.dur
                lp, ld = model(*(torch.tensor(a) for a in (pp, pd, ff)), torch.tensor(np.maximum(tp, 0)))
                tpt, tdt = torch.tensor(tp), torch.tensor(td)
                nll = torch.nn.functional.cross_entropy(lp.reshape(-1, mm.N_PITCH), tpt.reshape(-1), reduction="sum")
                nll += torch.nn.functional.cross_entropy(ld.reshape(-1, mm.N_DUR), tdt.reshape(-1), reduction="sum")
                total += float(nll)
                count += int((tpt >= 0).sum())
            out[tag] = total / max(1, count)
    model.train()
    return out


def fit_epochs(model, train: dict, valid: dict, args: argparse.Namespace, spent: float) -> int:
    """Epochs that fit ``args.time_budget`` seconds, timed on a copy of the model (the real run is untouched)."""
    import copy

    import torch

    probe = copy.deepcopy(model)
    opt = torch.optim.Adam(probe.parameters(), lr=args.lr)
    rng = np.random.default_rng(12345)
    t0 = time.perf_counter()
    for _ in range(6):
        pp, pd, ff, tp, td = (torch.tensor(a) for a in make_batch(train, rng, args.batch))
        lp, ld = probe(pp, pd, ff, torch.clamp(tp, min=0))
        loss = torch.nn.functional.cross_entropy(lp.reshape(-1, mm.N_PITCH), tp.reshape(-1))
        loss = loss + torch.nn.functional.cross_entropy(ld.reshape(-1, mm.N_DUR), td.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    step = (time.perf_counter() - t0) / 6
    t1 = time.perf_counter()
    evaluate_nll(probe, valid)
    per_epoch = step * args.steps + (time.perf_counter() - t1)
    epochs = max(2, int((args.time_budget - spent - (time.perf_counter() - t0)) / per_epoch))
    print(f"time budget: {step:.3f} s per step, {per_epoch:.0f} s per epoch -> --epochs {epochs}", flush=True)
    return epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pop909", default=str(ROOT.parent / "shared" / "data" / "pop909"))
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--steps", type=int, default=100, help="batches per epoch")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="processes for reading the corpora (default: all cores)")
    ap.add_argument("--out", default=str(weights_dir() / mm.WEIGHTS))
    ap.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="development aid: time a few throw-away steps and set --epochs to fit this many seconds "
        "(the epochs chosen are printed and stored, so the run can be repeated exactly with --epochs)",
    )
    args = ap.parse_args()

    import torch
    from safetensors.torch import save_file

    t0 = time.perf_counter()
    # One thread: the same floating-point sums on any machine (so the same weights), and no
    # OpenMP spin-waiting when the two cores are shared.
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    runs, tags, splits = load_events(args.pop909, args.workers)
    train = {k: [r for r, t, s in zip(runs, tags, splits, strict=True) if t == k and s == "train"] for k in TAG_SHARE}
    valid = {k: [r for r, t, s in zip(runs, tags, splits, strict=True) if t == k and s == "valid"] for k in TAG_SHARE}
    counts = {k: (len(train[k]), sum(len(r) for r in train[k]), len(valid[k])) for k in TAG_SHARE}
    print(f"runs/events/validation runs per style: {counts}; ready in {time.perf_counter() - t0:.0f} s", flush=True)
    seen = sorted({int(d) for rs in train.values() for r in rs for d in np.unique(r.dur)})

    dims = {"embed_pitch": 48, "embed_dur": 32, "embed_choice": 24, "dur_hidden": 128}
    model = build(args.hidden, args.layers, **dims)
    if args.time_budget:
        args.epochs = fit_epochs(model, train, valid, args, time.perf_counter() - t0)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    total_steps = args.epochs * args.steps
    warm = max(1, total_steps // 20)
    # A short warm-up, then a cosine decay to zero over the run.
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))
    )
    rng = np.random.default_rng(args.seed)
    best, best_state, history = math.inf, None, []
    for epoch in range(args.epochs):
        losses = []
        for _ in range(args.steps):
            pp, pd, ff, tp, td = (torch.tensor(a) for a in make_batch(train, rng, args.batch))
            lp, ld = model(pp, pd, ff, torch.clamp(tp, min=0))
            loss = torch.nn.functional.cross_entropy(lp.reshape(-1, mm.N_PITCH), tp.reshape(-1))
            loss = loss + torch.nn.functional.cross_entropy(ld.reshape(-1, mm.N_DUR), td.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        val = evaluate_nll(model, valid)
        mean_val = float(np.mean(list(val.values())))
        history.append({"epoch": epoch + 1, "train_nll": float(np.mean(losses)), "valid_nll": val})
        mark = ""
        if mean_val < best:
            best, mark = mean_val, " *"
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if args.time_budget:  # a run cut short still leaves its best weights
                with atomic_path(args.out) as tmp:
                    save_file({k: v.contiguous() for k, v in best_state.items()}, str(tmp))
        shown = " ".join(f"{k}:{v:.3f}" for k, v in val.items())
        elapsed = time.perf_counter() - t0
        print(f"epoch {epoch + 1:3d}  train {np.mean(losses):.3f}  valid {shown}{mark}  ({elapsed:.0f} s)", flush=True)
    config = {
        "layers": args.layers,
        "hidden": args.hidden,
        **dims,
        "n_features": mm.N_FEATURES,
        "ticks_per_beat": mm.TICKS,
        "pitch_range": [mm.P_LO, mm.P_HI],
        "tags": list(mm.TAGS),
        "durations_seen": seen,
        "seed": args.seed,
        "epochs": args.epochs,
        "steps_per_epoch": args.steps,
        "batch": args.batch,
        "window_events": WINDOW,
        "lr": args.lr,
        "tag_share": TAG_SHARE,
        "train": {k: {"runs": v[0], "events": v[1]} for k, v in counts.items()},
        "validation_runs": {k: v[2] for k, v in counts.items()},
        "best_valid_nll": best,
        "valid_history": history,
        "trained_s": round(time.perf_counter() - t0, 1),
    }
    # GRU layers are saved under the names nn.GRU reads (``gru.weight_ih_l0`` …), as torch names them.
    with atomic_path(args.out) as tmp:
        save_file({k: v.contiguous() for k, v in best_state.items()}, str(tmp), metadata={"config": json.dumps(config)})
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s; best valid NLL {best:.3f}")


if __name__ == "__main__":
    main()
