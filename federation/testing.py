"""pytest plugin (`-p federation.testing`, set in pyproject.toml).

Loaded before pytest-django reads the settings, so the whole test session runs against a
throwaway, initialised node home with its own secret — never the operator's ~/.accord.
The database and broker still follow FEDERATION_DATABASE_URL / FEDERATION_REDIS_URL, so the
same suite runs on both topologies.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from federation.home import init_home

TEST_HOME = Path(tempfile.mkdtemp(prefix="accord-test-home-"))
os.environ["FEDERATION_HOME"] = str(TEST_HOME)
os.environ["FEDERATION_SECRET_KEY"] = secrets.token_urlsafe(32)
os.environ.pop("FEDERATION_SECRET_KEY_FILE", None)
init_home(TEST_HOME, display_name="test-node", port=8000, compliance_modes=("gdpr",))
(TEST_HOME / "static").mkdir()
atexit.register(shutil.rmtree, TEST_HOME, ignore_errors=True)
