"""A local change to policies, calibration or the allow-list drops the gate's cache outright (other
processes see the tables' change stamps move)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from defence.models import AllowedFingerprint, ThreatCalibration, ThreatPolicy


@receiver([post_save, post_delete], sender=ThreatPolicy)
@receiver([post_save, post_delete], sender=ThreatCalibration)
@receiver([post_save, post_delete], sender=AllowedFingerprint)
def forget_cached_config(**_: object) -> None:
    from defence import services

    services.forget_cache()
