"""Adaptive calibration: analysts' verdicts move a detector's confidence (Beta-Binomial).

A detector reports a raw confidence ``p`` for a finding. We treat ``p`` as the prior mean of a
Beta distribution over "this kind of finding is real", worth ``PRIOR_STRENGTH`` pseudo-reviews:
Beta(k·p, k·(1 - p)). Each analyst verdict on that detector's findings is one Bernoulli
observation: *confirmed* counts as a success, *false positive* as a failure. The calibrated
confidence is the posterior mean::

    (k·p + confirmed) / (k + confirmed + false_positive)

so ten false positives against a detector that says 0.9 bring it to (9 + 0) / 20 = 0.45, and ten
confirmations of one that says 0.6 raise it to (6 + 10) / 20 = 0.8. Evidence is used only once
there are at least ``MIN_SAMPLES`` verdicts, taken from the finding's own detector when it has
enough, else from all detectors of its type. *Missed* spans have no detection to rescore; they are
counted for the type's estimated recall, shown beside the calibration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from pii.engine.types import Detection

PRIOR_STRENGTH = 10.0
MIN_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class Evidence:
    confirmed: int = 0
    false_positive: int = 0
    missed: int = 0

    @property
    def samples(self) -> int:
        """Verdicts on detections (a missed span is not a verdict on any detection)."""
        return self.confirmed + self.false_positive

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.samples if self.samples else None

    @property
    def recall(self) -> float | None:
        found = self.confirmed + self.missed
        return self.confirmed / found if found else None


def posterior(confidence: float, evidence: Evidence, *, prior_strength: float = PRIOR_STRENGTH) -> float:
    k = prior_strength
    return (k * confidence + evidence.confirmed) / (k + evidence.samples)


@dataclass(frozen=True)
class Calibration:
    """Per-detector and per-type evidence; ``apply`` rescales detections' confidences."""

    by_detector: Mapping[str, Evidence] = field(default_factory=dict)
    by_type: Mapping[str, Evidence] = field(default_factory=dict)
    min_samples: int = MIN_SAMPLES
    prior_strength: float = PRIOR_STRENGTH

    def evidence_for(self, detection: Detection) -> tuple[str, Evidence] | None:
        """The evidence that applies to a detection and where it came from, or None."""
        own = self.by_detector.get(detection.detector)
        if own is not None and own.samples >= self.min_samples:
            return f"detector:{detection.detector}", own
        pooled = self.by_type.get(detection.type)
        if pooled is not None and pooled.samples >= self.min_samples:
            return f"type:{detection.type}", pooled
        return None

    def confidence(self, detection: Detection) -> float:
        found = self.evidence_for(detection)
        if found is None:
            return detection.confidence
        return posterior(detection.confidence, found[1], prior_strength=self.prior_strength)

    def apply(self, detections: Iterable[Detection]) -> list[Detection]:
        if not self.by_detector and not self.by_type:
            return list(detections)
        return [replace(d, confidence=self.confidence(d)) for d in detections]


UNCALIBRATED = Calibration()
