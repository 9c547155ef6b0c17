from django.apps import AppConfig


class DefenceConfig(AppConfig):
    name = "defence"
    verbose_name = "AI-defence gates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from defence.models import ThreatPolicy

        auditlog.register(ThreatPolicy)
        from defence import signals  # noqa: F401 - connects the receivers
