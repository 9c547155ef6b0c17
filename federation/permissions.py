"""Secure-by-default API permissions: authenticated, and model permissions even for reads."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class StrictModelPermissions(permissions.DjangoModelPermissions):
    """Like DjangoModelPermissions, but GET/HEAD/OPTIONS need the model's `view` permission."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class HasPermission(permissions.BasePermission):
    """For views without a queryset: `permission_classes = [HasPermission.of("app.codename")]`."""

    required: tuple[str, ...] = ()

    @classmethod
    def of(cls, *perms: str) -> type[HasPermission]:
        return type(f"Has_{'_'.join(p.replace('.', '_') for p in perms)}", (cls,), {"required": perms})

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(self.required))
