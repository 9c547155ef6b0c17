"""What the PII and AI-defence policies share: one row per kind (a PII type, a threat category)
with a threshold and an action for each of the five trust tiers, safe defaults written by a data
migration and restorable from the admin, and an admin grid where every change is audited."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import models, transaction

TIER_FIELDS = ("untrusted", "verified", "attested", "trusted", "privileged")  # index = tier number

# kind: (threshold, UNTRUSTED, VERIFIED, ATTESTED, TRUSTED, PRIVILEGED)
Defaults = dict[str, tuple[float, str, str, str, str, str]]


def action_field(choices: Any, default: str, help_text: str, max_length: int = 16) -> models.CharField:
    return models.CharField(max_length=max_length, choices=choices, default=default, help_text=help_text)


class TierActions:
    """Mixin for the policy models: the action at a tier, out-of-range tiers clamped."""

    def action_for(self, tier: int) -> str:
        return getattr(self, TIER_FIELDS[max(0, min(tier, len(TIER_FIELDS) - 1))])

    def actions(self) -> list[str]:
        return [self.action_for(tier) for tier in range(len(TIER_FIELDS))]


def default_fields(defaults: Defaults, kind: str) -> dict[str, object]:
    threshold, *actions = defaults[kind]
    return {"threshold": threshold, **dict(zip(TIER_FIELDS, actions, strict=True))}


def create_defaults(app_label: str, model_name: str, key: str, defaults: Defaults) -> Callable[[Any, Any], None]:
    """A RunPython step that writes the defaults for the kinds that have no row yet."""

    def run(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        for kind in defaults:
            model.objects.get_or_create(**{key: kind}, defaults=default_fields(defaults, kind))

    return run


def set_policy(
    model: type[models.Model],
    key: str,
    kind: str,
    *,
    actor: str,
    audit_action: str,
    allowed_actions: Iterable[str],
    threshold: float | None = None,
    actions: dict[int, str],
    minimum_threshold: float = 0.0,
) -> Any:
    """Change one kind's threshold and/or its action at some tiers, audited (the CLI's way; the
    admin edits the grid). Raises ValueError naming what is wrong; nothing is saved then."""
    from compliance.services import record_event

    with transaction.atomic():
        policy = model.objects.select_for_update().filter(**{key: kind}).first()
        if policy is None:
            raise ValueError(f"unknown {key.replace('_', ' ')} {kind!r}")
        changed = []
        if threshold is not None:
            if not minimum_threshold <= threshold <= 1.0:
                raise ValueError(f"a threshold is between {minimum_threshold:g} and 1")
            policy.threshold = threshold
            changed.append("threshold")
        allowed = list(allowed_actions)
        for tier, action in actions.items():
            if action not in allowed:
                raise ValueError(f"unknown action {action!r}: use one of {', '.join(allowed)}")
            setattr(policy, TIER_FIELDS[tier], action)
            changed.append(TIER_FIELDS[tier])
        if changed:
            policy.save()
            record_event(
                action=audit_action,
                actor=actor,
                subject=kind,
                details={"changed": sorted(changed), "threshold": policy.threshold, "actions": policy.actions()},
            )
    return policy


def restore_defaults(model: type[models.Model], key: str, defaults: Defaults) -> int:
    for kind in defaults:
        model.objects.update_or_create(**{key: kind}, defaults=default_fields(defaults, kind))
    return len(defaults)
