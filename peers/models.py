"""Remote nodes we know of, and the authenticated sessions we hold with them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TrustTier(models.IntegerChoices):
    UNTRUSTED = 0, "UNTRUSTED"
    VERIFIED = 1, "VERIFIED"
    ATTESTED = 2, "ATTESTED"
    TRUSTED = 3, "TRUSTED"
    PRIVILEGED = 4, "PRIVILEGED"


class PeerState(models.TextChoices):
    """The circuit breaker's states: traffic flows only while ACTIVE."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # automatic (cost, failure ratio) or manual; ends after its cooldown
    EVICTED = "evicted"  # explicit operator action; only an explicit reactivation ends it


class DiscoveredVia(models.TextChoices):
    STATIC = "static"
    REGISTRY = "registry"
    DNSSD = "dnssd", "DNS-SD"
    INBOUND = "inbound", "inbound handshake"


class Peer(models.Model):
    """A remote node, known by its verified manifest. Being known grants nothing (tier 0)."""

    node_id = models.CharField(max_length=64, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    public_key = models.CharField(max_length=64, help_text="base64 ed25519 public key from the manifest")
    base_url = models.CharField(max_length=300, blank=True)
    federation_url = models.CharField(max_length=300, blank=True, help_text="wss:// endpoint from the manifest")
    tls_fingerprint = models.CharField(max_length=80, help_text="pinned certificate fingerprint")
    manifest = models.JSONField(help_text="the last verified signed manifest")
    manifest_expires_at = models.DateTimeField()
    trust_tier = models.PositiveSmallIntegerField(choices=TrustTier.choices, default=TrustTier.UNTRUSTED, db_index=True)
    discovered_via = models.CharField(max_length=16, choices=DiscoveredVia.choices, db_index=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=64, blank=True, help_text="reason code of the last failed exchange")
    pinned_tier = models.PositiveSmallIntegerField(
        choices=TrustTier.choices, null=True, blank=True, help_text="operator pin: overrides the earned tier"
    )
    pin_reason = models.CharField(max_length=300, blank=True)
    pinned_by = models.CharField(max_length=150, blank=True)
    pinned_at = models.DateTimeField(null=True, blank=True)
    tier_cap = models.PositiveSmallIntegerField(
        choices=TrustTier.choices, null=True, blank=True, help_text="operator cap: the earned tier never exceeds it"
    )
    cap_reason = models.CharField(max_length=300, blank=True)
    trust_score = models.FloatField(null=True, blank=True, db_index=True)
    trust_inputs = models.JSONField(default=dict, blank=True, help_text="the last evaluation: inputs and reasons")
    trust_evaluated_at = models.DateTimeField(null=True, blank=True)
    interactions = models.PositiveBigIntegerField(default=0, help_text="messages exchanged over all sessions")
    privileged_approved_by = models.CharField(max_length=150, blank=True)
    privileged_approved_at = models.DateTimeField(null=True, blank=True)
    demoted_for = models.CharField(
        max_length=32, blank=True, help_text="safety demotion (threats, HMAC failure, hijack): held until reactivated"
    )
    remote_tier = models.PositiveSmallIntegerField(
        choices=TrustTier.choices, null=True, blank=True, help_text="the tier this peer says it gives us"
    )
    state = models.CharField(max_length=16, choices=PeerState.choices, default=PeerState.ACTIVE, db_index=True)
    state_reason = models.CharField(max_length=300, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    suspended_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name", "node_id"]

    def __str__(self) -> str:
        return f"{self.display_name or 'peer'} ({self.node_id})"

    @property
    def effective_tier(self) -> int:
        """What authorization uses: the operator's pin when there is one, else the earned tier
        under the operator's cap."""
        if self.pinned_tier is not None:
            return self.pinned_tier
        return self.trust_tier if self.tier_cap is None else min(self.trust_tier, self.tier_cap)


class SessionState(models.TextChoices):
    ACTIVE = "active"
    UNHEALTHY = "unhealthy"
    EXPIRED = "expired"
    TERMINATED = "terminated"


LIVE_SESSION_STATES = (SessionState.ACTIVE, SessionState.UNHEALTHY)


class SessionRole(models.TextChoices):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class Session(models.Model):
    """An authenticated session from a completed handshake; its MAC key is stored encrypted."""

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16, choices=SessionRole.choices)
    protocol_version = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=SessionState.choices, default=SessionState.ACTIVE, db_index=True)
    established_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    mac_key_encrypted = models.BinaryField(editable=False)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    heartbeat_seq_sent = models.PositiveBigIntegerField(default=0)
    heartbeat_seq_received = models.PositiveBigIntegerField(default=0)
    missed_heartbeats = models.PositiveIntegerField(default=0)
    heartbeats_ok = models.PositiveBigIntegerField(default=0)
    heartbeats_failed = models.PositiveBigIntegerField(default=0)
    hmac_failures = models.PositiveBigIntegerField(default=0)
    envelopes_refused = models.PositiveBigIntegerField(default=0, help_text="inbound envelopes refused on this session")
    messages_sent = models.PositiveBigIntegerField(default=0)
    messages_received = models.PositiveBigIntegerField(default=0)
    envelope_seq_sent = models.PositiveBigIntegerField(default=0, help_text="last envelope sequence number we used")
    envelope_seq_high = models.PositiveBigIntegerField(default=0, help_text="highest envelope sequence accepted")
    last_latency_ms = models.FloatField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-established_at"]
        indexes = [models.Index(fields=["peer", "state"])]

    def __str__(self) -> str:
        return f"session {self.session_id[:12]}… with {self.peer.node_id} ({self.state})"


class RegistryManifest(models.Model):
    """A signed manifest published to this node's registry (an HTTP directory any node can host).

    Only valid, unexpired, correctly signed manifests get in; the newest per node id is kept.
    Publishing here is not peering: the registry serves manifests to whoever asks.
    """

    node_id = models.CharField(max_length=64, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    document = models.JSONField()
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    published_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["node_id"]

    def __str__(self) -> str:
        return f"{self.display_name or self.node_id} (until {self.expires_at:%Y-%m-%d %H:%M})"
