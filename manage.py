#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import sys


def main() -> None:
    from federation.cli import bootstrap_env

    bootstrap_env(sys.argv[1:])  # `--home DIR` must pick the node before settings load
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
