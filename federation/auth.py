"""REST token authentication: `Authorization: Bearer acc_<prefix>_<secret>` (or `Token …`)."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any, NoReturn

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from compliance.models import Outcome
from compliance.services import record_event
from federation.models import ApiToken
from federation.services import TOKEN_PREFIX, token_digest

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # avoid a write on every request


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be '<Bearer|Token> <token>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from exc
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            self._refuse(request, "", "malformed")
        row = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
        # Compare against a digest even when the prefix is unknown, so timing tells nothing.
        expected = row.digest if row else "0" * 64
        if not hmac.compare_digest(expected, token_digest(token)) or row is None:
            self._refuse(request, parts[1], "unknown_token")
        if not row.is_active:
            self._refuse(request, row.prefix, "revoked" if row.revoked_at else "expired")
        if not row.user.is_active:
            self._refuse(request, row.prefix, "user_inactive")
        now = timezone.now()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        return row.user, row

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="accord"'

    @staticmethod
    def _refuse(request: Request, prefix: str, reason: str) -> NoReturn:
        record_event(
            action="auth.token_refused",
            outcome=Outcome.DENIED,
            subject=prefix,
            details={"reason": reason, "client": request.META.get("REMOTE_ADDR", ""), "path": request.path[:200]},
        )
        raise exceptions.AuthenticationFailed(f"Invalid token ({reason}).")
