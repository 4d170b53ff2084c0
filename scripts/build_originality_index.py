"""Build the originality index (``models/weights/originality.npz``) from the melody model's training tunes.

The tunes are exactly those ``scripts/train_melody.py`` reads (POP909 songs 001–818
and the folk tunes of music21's corpus outside the held-out tenth, validation slices
included), read through the same cache in ``.cache-train/``. Each becomes its chain
of steps (interval and length ratio; ``tunesmith.models.originality``); the index
stores the step codes of all of them. Deterministic: the same corpora give the same
bytes (zip timestamps aside, which ``numpy.savez_compressed`` fixes).

Usage::

    python scripts/build_originality_index.py [--pop909 ../shared/data/pop909]

About 30 s with the corpora cached (see ``scripts/train_melody.py`` for the first read).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tunesmith.models import melody_data as md  # noqa: E402
from tunesmith.models.nn import weights_dir  # noqa: E402
from tunesmith.models.originality import INDEX, OriginalityIndex  # noqa: E402

CACHE = ROOT / ".cache-train"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pop909", default=str(ROOT.parent / "shared" / "data" / "pop909"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", default=str(weights_dir() / INDEX))
    args = ap.parse_args()
    t0 = time.perf_counter()
    tunes = md.load_pop909_cached(args.pop909, CACHE, held_out=False, workers=args.workers)
    tunes += md.load_folk(CACHE, ("train", "valid"), workers=args.workers)
    assert not any(t.split == "test" for t in tunes), "held-out tunes are not part of the training set"
    counts: dict[str, int] = {}
    for t in tunes:
        counts[t.tag] = counts.get(t.tag, 0) + 1
    meta = {
        "tunes": len(tunes),
        "tunes_per_style": counts,
        "notes": int(sum(len(t.notes) for t in tunes)),
        "corpora": ["POP909 001-818 (melody track)", *[f"music21 {c}" for c in md.FOLK_COLLECTIONS]],
        "split": "POP909 <= 818; folk running index i % 10 != 9",
    }
    index = OriginalityIndex.build([(t.source, t.notes) for t in tunes], meta)
    index.meta["steps"] = int(len(index.codes) - len(tunes))
    index.meta["alphabet"] = len(index.alphabet)
    index.meta["depth"] = index.depth
    index.save(args.out)
    size = Path(args.out).stat().st_size
    print(
        f"indexed {len(tunes)} tunes ({index.meta['notes']} notes, {len(index.alphabet)} distinct steps, "
        f"{index.depth} steps per key) -> {args.out} ({size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
