"""Safe default gate policies (MISSION §5), created by a data migration and restorable from the admin.

Low tiers get no benefit of the doubt: a detected threat from or to an UNTRUSTED, VERIFIED or
ATTESTED peer is blocked, except that ATTESTED peers' prompt injection and tool injection are held
for an analyst (indirect injection is the commonest false alarm on real documents). Better-known
peers have their threats held for review; only PRIVILEGED peers' injections and jailbreaks are
merely flagged. Attempts to pull secrets or data out are never just flagged.
"""

from __future__ import annotations

from federation import tier_policy

A, F, Q, B = "allow", "flag", "quarantine", "block"

# category: (threshold, UNTRUSTED, VERIFIED, ATTESTED, TRUSTED, PRIVILEGED)
DEFAULT_POLICIES: tier_policy.Defaults = {
    "prompt_injection": (0.5, B, B, Q, Q, F),
    "jailbreak": (0.5, B, B, B, Q, F),
    "secret_exfiltration": (0.5, B, B, B, Q, Q),
    "tool_injection": (0.5, B, B, Q, Q, F),
    "data_exfiltration": (0.5, B, B, B, Q, Q),
}
