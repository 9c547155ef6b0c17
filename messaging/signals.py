"""Keep messaging consistent when a peer is removed (peers does not know about messaging)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from messaging import services
from peers.models import Peer


@receiver(pre_delete, sender=Peer, dispatch_uid="messaging-peer-removed")
def _peer_removed(sender: type[Peer], instance: Peer, **kwargs: Any) -> None:
    services.dead_letter_for_removed_peer(instance)
