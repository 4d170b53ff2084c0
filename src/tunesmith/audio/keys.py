"""Key profiles for Krumhansl–Schmuckler key finding (shared by audio analysis and music theory)."""

from __future__ import annotations

import numpy as np

# Krumhansl-Kessler key profiles (probe-tone ratings, Krumhansl 1990), C first.
KRUMHANSL_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KRUMHANSL_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
