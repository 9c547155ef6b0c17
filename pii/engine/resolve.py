"""Overlap resolution: one detection per region of text, chosen deterministically.

Candidates are ranked by (specificity, confidence, length, earliest start, type, detector) and
taken greedily, skipping any that overlaps one already taken. Specificity encodes containment:
a private key block or a database URL holds passwords, emails and IPs that must not be
reported separately, and a prefixed token beats a value found only through a context word.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from pii.engine.types import TYPES, Detection

# Higher wins an overlap before confidence is compared.
_TYPE_SPECIFICITY: dict[str, int] = {
    "private_key": 5,  # a block: contains anything
    "database_url": 4,  # contains password, email, ip_address
    "jwt": 3,  # contains api_key-looking parts
    "aws_key": 3,
    "github_token": 3,
    "api_key": 3,
    "email": 2,
    "credit_card": 2,
    "ssn": 2,
    "ip_address": 2,
    "phone": 2,
    "password": 1,
    "person_name": 0,
    "street_address": 0,
}
_TYPE_ORDER = {t: i for i, t in enumerate(TYPES)}


def specificity(det: Detection) -> int:
    """How specific a detector is: detectors driven only by a name (``*.context``, ``*.column``) rank with passwords."""
    base = _TYPE_SPECIFICITY.get(det.type, 0)
    if det.detector.endswith((".context", ".column")) and base > 1:
        return 1
    return base


def _rank(det: Detection) -> tuple[int, float, int, int, int, str]:
    return (
        -specificity(det),
        -det.confidence,
        -(det.end - det.start),
        det.start,
        _TYPE_ORDER.get(det.type, len(_TYPE_ORDER)),
        det.detector,
    )


def resolve(candidates: Iterable[Detection]) -> list[Detection]:
    """Non-overlapping detections sorted by start, the best of every overlapping group kept."""
    # The same type on the same span from two detectors: keep the more confident one before ranking.
    best: dict[tuple[str, int, int], Detection] = {}
    for c in candidates:
        if c.end > c.start:
            key = (c.type, c.start, c.end)
            held = best.get(key)
            if held is None or (c.confidence, c.detector) > (held.confidence, held.detector):
                best[key] = c
    by_start = sorted(best.values(), key=lambda d: (d.start, d.end))
    kept: list[Detection] = []
    # Split into clusters of transitively overlapping candidates; only those compete with each other.
    cluster: list[Detection] = []
    reach = -1
    for det in by_start:
        if cluster and det.start >= reach:
            kept.extend(_resolve_cluster(cluster))
            cluster = []
        cluster.append(det)
        reach = max(reach, det.end) if len(cluster) > 1 else det.end
    if cluster:
        kept.extend(_resolve_cluster(cluster))
    return kept


def _resolve_cluster(cluster: list[Detection]) -> list[Detection]:
    if len(cluster) == 1:
        return cluster
    starts: list[int] = []  # kept spans, sorted by start (they never overlap, so ends are sorted too)
    ends: list[int] = []
    kept: list[Detection] = []
    for det in sorted(cluster, key=_rank):
        i = bisect_left(starts, det.start)
        # Only the neighbours can overlap: the kept span starting before, and the one starting at/after.
        if i > 0 and ends[i - 1] > det.start:
            continue
        if i < len(starts) and starts[i] < det.end:
            continue
        starts.insert(i, det.start)
        ends.insert(i, det.end)
        kept.insert(i, det)
    return kept
