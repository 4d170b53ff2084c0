"""Interpolated Kneser–Ney n-gram models over integer tokens: the baselines the learned models must beat.

A smoothed n-gram is the honest yardstick for a sequence model of chords or
melodies: counted from the same training data, it gives every token a
probability (so perplexities compare), and it is what a symbolic-music
system without a network would use.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

_START = -1  # padding before a sequence's first token


class KneserNey:
    """An order-``order`` interpolated Kneser–Ney model over tokens ``0 .. vocab - 1``.

    Parameters
    ----------
    order : int
        Tokens of context plus one (2 = bigram).
    vocab : int
        Number of distinct tokens; unseen ones share the uniform floor.
    discount : float
        Absolute discount subtracted from every count (0 < D < 1).
    """

    def __init__(self, order: int, vocab: int, discount: float = 0.75) -> None:
        if order < 1:
            raise ValueError("order must be >= 1")
        self.order, self.vocab, self.discount = order, vocab, discount
        # counts[k][context] = Counter of next tokens, for contexts of length k (k = order - 1 uses raw
        # counts, shorter ones continuation counts: in how many distinct contexts the n-gram appears).
        self.counts: list[dict[tuple[int, ...], Counter[int]]] = [defaultdict(Counter) for _ in range(order)]

    def fit(self, sequences: Iterable[Sequence[int]]) -> KneserNey:
        """Count every sequence (each is one run of tokens; no n-gram crosses two sequences)."""
        top = self.order - 1
        pad = [_START] * top  # contexts at a sequence's start are padded, as in :meth:`distribution`
        extensions: list[set[tuple[int, ...]]] = [set() for _ in range(top)]
        for seq in sequences:
            s = pad + [int(t) for t in seq]
            for i in range(top, len(s)):
                self.counts[top][tuple(s[i - top : i])][s[i]] += 1
                for k in range(top):  # a left extension, k tokens of context, the token
                    extensions[k].add(tuple(s[i - k - 1 : i + 1]))
        # Lower orders use continuation counts: in how many distinct contexts a gram follows.
        for k in range(top):
            for gram in extensions[k]:
                self.counts[k][gram[1:-1]][gram[-1]] += 1
        self._tables = [
            {ctx: (np.array(list(c.keys())), np.array(list(c.values()), dtype=np.float64)) for ctx, c in level.items()}
            for level in self.counts
        ]
        return self

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """Probabilities of every next token after ``context`` (only its last ``order - 1`` tokens count)."""
        p = np.full(self.vocab, 1.0 / self.vocab)
        top = self.order - 1
        ctx = tuple([_START] * top + [int(t) for t in context])[len(context) :] if top else ()
        for k in range(0, top + 1):
            sub = ctx[len(ctx) - k :] if k else ()
            table = self._tables[k].get(sub)
            if table is None:
                continue
            toks, cnt = table
            total = cnt.sum()
            d = self.discount
            mass = d * len(toks) / total  # what the discount frees, given to the lower order
            q = p * mass
            q[toks] += np.maximum(cnt - d, 0.0) / total
            p = q
        return p
