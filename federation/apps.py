from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation node"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from federation.models import ApiToken, LocalNode

        # Admin-editable models: django-auditlog keeps field-level history; compliance.signals
        # copies a summary of every change into the hash-chained trail.
        auditlog.register(LocalNode)
        auditlog.register(ApiToken, exclude_fields=["digest", "last_used_at"])
