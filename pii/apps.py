from django.apps import AppConfig


class PiiConfig(AppConfig):
    name = "pii"
    verbose_name = "PII pipeline"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from pii.models import PiiPolicy

        auditlog.register(PiiPolicy)
        from pii import signals  # noqa: F401 - connects the receivers
