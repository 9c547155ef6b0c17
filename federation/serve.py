"""`python -m federation.serve DAPHNE-ARGS…`: Daphne with the `accordmtls:` endpoint available.

Twisted finds endpoint parsers through its plugin path; adding our plugin folder to it here
(rather than writing into the installed Twisted) keeps the plugin inside our package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import twisted.plugins

PLUGIN_DIR = str(Path(__file__).resolve().parent / "twisted_plugins")


def main(argv: list[str] | None = None) -> None:
    if PLUGIN_DIR not in twisted.plugins.__path__:
        twisted.plugins.__path__.append(PLUGIN_DIR)
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
