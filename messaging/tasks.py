"""Thin Celery tasks for messaging; the logic lives in messaging.services."""

from __future__ import annotations

import logging

from django.core.cache import cache

from federation.celery import app
from messaging import services

logger = logging.getLogger(__name__)
KICK_KEY = "messaging:delivery-kick"
KICK_SECONDS = 1.0  # shorter than the delivery task's linger, so no send falls between the two


def kick() -> None:
    """After a send commits: start a delivery run unless this process started one just now.
    A run lingers longer than the flag lives, so a send the flag suppressed is still seen.
    Never raises: the message is already persisted, and beat's sweep delivers it if the broker
    cannot take this nudge."""
    try:
        if cache.add(KICK_KEY, 1, timeout=KICK_SECONDS):
            deliver.apply_async(kwargs={"linger": services.LINGER_SECONDS}, retry=False)
    except Exception:
        cache.delete(KICK_KEY)
        logger.warning("could not queue a delivery run; beat's sweep will deliver", exc_info=True)


@app.task(name="messaging.tasks.deliver", ignore_result=True)
def deliver(linger: float = 0.0) -> None:
    services.deliver_due(linger=linger)
    if not linger:  # beat's sweep, not a nudge after a send
        services.answer_pending_queries()


@app.task(name="messaging.tasks.answer_memory_query", ignore_result=True)
def answer_memory_query(message_id: str) -> None:
    services.answer_memory_query(message_id=message_id)


@app.task(name="messaging.tasks.purge_seen", ignore_result=True)
def purge_seen() -> None:
    services.purge_seen()
