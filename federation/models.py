"""This node: its registered identity, the manifests it signed, API tokens, worker liveness."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class LocalNode(models.Model):
    """The node identity as registered in the database (keys stay in the node home)."""

    node_id = models.CharField(max_length=64, unique=True, editable=False)
    public_key = models.CharField(max_length=64, editable=False, help_text="base64 ed25519 public key")
    display_name = models.CharField(max_length=200)
    tls_fingerprint = models.CharField(max_length=80, editable=False)
    is_current = models.BooleanField(default=True, editable=False)
    created_at = models.DateTimeField(editable=False, help_text="when `federation init` created the identity")
    registered_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "node"

    def __str__(self) -> str:
        return f"{self.display_name} ({self.node_id})"


class SignedManifest(models.Model):
    """Every manifest this node issued; the newest valid one is what peers fetch."""

    node = models.ForeignKey(LocalNode, on_delete=models.PROTECT, related_name="manifests")
    issued_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField()
    document = models.JSONField(help_text="the exact signed JSON served at /.well-known/federation/manifest.json")

    class Meta:
        ordering = ["-issued_at"]
        get_latest_by = "issued_at"

    def __str__(self) -> str:
        return f"manifest of {self.node.node_id} issued {self.issued_at:%Y-%m-%d %H:%M:%S}"


class ApiToken(models.Model):
    """A REST API token. Only an HMAC of the token is stored; the prefix finds the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class WorkerHeartbeat(models.Model):
    """Last sign of life of each Celery worker, written by a beat-scheduled task."""

    worker = models.CharField(max_length=200, unique=True)
    last_seen = models.DateTimeField()
    via = models.CharField(max_length=16, help_text="'ready' at worker start, 'beat' on each scheduled beat")

    def __str__(self) -> str:
        return f"{self.worker} @ {self.last_seen:%H:%M:%S}"
