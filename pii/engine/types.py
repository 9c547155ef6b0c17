"""What a detection is. Pure Python: no Django imports anywhere under ``pii.engine``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The canonical type names (MISSION §4), used in policies, reports, the CLI and the REST API.
TYPES: tuple[str, ...] = (
    "email",
    "ssn",
    "credit_card",
    "api_key",
    "jwt",
    "aws_key",
    "phone",
    "person_name",
    "ip_address",
    "street_address",
    "password",
    "private_key",
    "database_url",
    "github_token",
)

# Secrets: credentials whose mere presence across the boundary is an incident.
SECRET_TYPES: frozenset[str] = frozenset(
    {"api_key", "jwt", "aws_key", "password", "private_key", "database_url", "github_token"}
)


@dataclass(frozen=True, slots=True)
class Detection:
    """One finding: ``text[start:end]`` (Python string offsets) is probably a ``type`` value."""

    type: str
    start: int
    end: int
    confidence: float  # 0.0-1.0, after validators and context words
    detector: str  # which detector found it, e.g. "credit_card.luhn"

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "confidence": round(self.confidence, 4),
            "detector": self.detector,
        }


class ScanError(ValueError):
    """The input cannot be scanned (too large, not text); ``code`` is an UPPER_CASE reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
