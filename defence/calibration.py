"""Per-category thresholds from analysts' feedback. Pure Python.

Method: each reviewed detection of a category is a score with a label (confirmed threat or false
positive). For a candidate threshold t, the detections that would still fire are those scoring
≥ t; their precision has a Beta(1 + confirmed, 1 + false positives) posterior (uniform prior),
whose mean is (c + 1) / (n + 2). The calibrated threshold is the lowest t, from the policy's own
threshold up, whose posterior mean precision reaches ``TARGET_PRECISION`` — or just above the
highest false positive when none does (no evidence left against it). With fewer than
``MIN_SAMPLES`` reviews the policy's threshold stands. So false positives at some score lift the
threshold over that score; confirmations at the same scores bring it back down. The threshold
never drops below the policy's (feedback cannot make a gate more trigger-happy than an analyst set
it) nor rises above ``MAX_THRESHOLD`` (allow-listing a fingerprint handles single texts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MIN_SAMPLES = 5
TARGET_PRECISION = 2 / 3
MAX_THRESHOLD = 0.99
STEP = 0.001  # a threshold just above a false positive's score


@dataclass(frozen=True)
class Review:
    score: float
    confirmed: bool


def posterior_precision(confirmed: int, total: int) -> float:
    return (confirmed + 1) / (total + 2)


def calibrated_threshold(base: float, reviews: Iterable[Review]) -> float:
    reviews = list(reviews)
    if len(reviews) < MIN_SAMPLES:
        return base
    candidates = sorted({base, *(min(MAX_THRESHOLD, r.score + STEP) for r in reviews if r.score + STEP > base)})
    for threshold in candidates:
        firing = [r for r in reviews if r.score >= threshold]
        if not firing or posterior_precision(sum(r.confirmed for r in firing), len(firing)) >= TARGET_PRECISION:
            return threshold
    return MAX_THRESHOLD
