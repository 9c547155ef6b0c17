"""PII detection engine: pure Python, no Django imports, no model or data downloads at run time.

``scan(text)`` returns non-overlapping detections sorted by start offset.
"""

from pii.engine.scanner import Scanner, scan
from pii.engine.types import SECRET_TYPES, TYPES, Detection, ScanError

__all__ = ["SECRET_TYPES", "TYPES", "Detection", "ScanError", "Scanner", "scan"]
