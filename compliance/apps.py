from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Audit and compliance"

    def ready(self) -> None:
        from compliance import signals  # noqa: F401 - connects the admin-change and login bridges
