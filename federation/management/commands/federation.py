"""`python manage.py federation …` is the same program as the `federation` console script."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Operate this Accord federation node (see `federation --help`)."

    def run_from_argv(self, argv: list[str]) -> None:
        from federation.cli import main

        sys.exit(main(argv[2:]))

    def handle(self, *args: object, **options: object) -> None:  # pragma: no cover - run_from_argv does it
        raise NotImplementedError
