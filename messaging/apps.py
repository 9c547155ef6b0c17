from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messages and memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from messaging.models import MemoryEntry

        auditlog.register(MemoryEntry, exclude_fields=["value", "updated_at"])  # values may be sensitive
        from messaging import signals  # noqa: F401 - connects the receivers
