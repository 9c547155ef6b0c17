"""PII pipeline: detection engine (``pii.engine``, pure Python) and its policies, calibration and audit (Django)."""
