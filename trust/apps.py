from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

SECURITY_ADMIN = "security admin"
# What the security-admin role may do with trust (MISSION §8 roles): read everything about peers
# and trust, and change tiers, claims and peer states.
SECURITY_ADMIN_PERMISSIONS = (
    ("trust", "manage_trust"),
    ("trust", "view_claim"),
    ("trust", "add_claim"),
    ("trust", "view_trustevaluation"),
    ("peers", "view_peer"),
    ("peers", "change_peer"),
    ("peers", "view_session"),
)


def ensure_roles(**_: Any) -> None:
    """After migrations (when permissions exist): the security-admin group with its permissions."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=SECURITY_ADMIN)
    wanted = Permission.objects.filter(
        content_type__app_label__in={app for app, _ in SECURITY_ADMIN_PERMISSIONS},
        codename__in={code for _, code in SECURITY_ADMIN_PERMISSIONS},
    )
    group.permissions.add(*wanted)


class TrustConfig(AppConfig):
    name = "trust"
    verbose_name = "Trust: claims, scores and tiers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(ensure_roles, sender=self)
