"""A local change to policies or calibration drops the cache outright (other processes see the
tables' change stamps move)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pii.models import Calibration, PiiPolicy


@receiver([post_save, post_delete], sender=PiiPolicy)
@receiver([post_save, post_delete], sender=Calibration)
def forget_cached_rules(**_: object) -> None:
    from pii import services

    services.forget_cache()
