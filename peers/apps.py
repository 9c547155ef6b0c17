from django.apps import AppConfig


class PeersConfig(AppConfig):
    name = "peers"
    verbose_name = "Peers"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from peers.models import Peer

        auditlog.register(Peer, exclude_fields=["manifest", "last_seen_at", "updated_at"])
