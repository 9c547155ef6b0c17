"""Safe default policies (MISSION §4), created by a data migration and restorable from the admin.

UNTRUSTED and VERIFIED peers get nothing: every type blocks. Secrets block at every tier except a
few that PRIVILEGED peers receive redacted. Personal data is redacted at ATTESTED and becomes
visible (or a keyed hash, so two organisations can match a value without revealing it) only as
trust grows.
"""

from __future__ import annotations

from federation import tier_policy

B, R, H, P = "BLOCK", "REDACT", "HASH", "PASS"

# type: (threshold, UNTRUSTED, VERIFIED, ATTESTED, TRUSTED, PRIVILEGED)
DEFAULT_POLICIES: tier_policy.Defaults = {
    "email": (0.5, B, B, R, H, P),
    "phone": (0.5, B, B, R, H, P),
    "person_name": (0.5, B, B, R, P, P),
    "street_address": (0.5, B, B, R, R, P),
    "ip_address": (0.5, B, B, R, P, P),
    "ssn": (0.5, B, B, B, R, H),
    "credit_card": (0.5, B, B, B, H, H),
    "api_key": (0.5, B, B, B, B, B),
    "jwt": (0.5, B, B, B, B, R),
    "aws_key": (0.5, B, B, B, B, B),
    "password": (0.5, B, B, B, B, R),
    "private_key": (0.5, B, B, B, B, B),
    "database_url": (0.5, B, B, B, B, R),
    "github_token": (0.5, B, B, B, B, B),
}
