"""Where the reference docs live for tests that read them: ``../shared/reference`` beside the
repository. Elsewhere those tests skip, except in CI (``CI`` set), which has the reference and
fails without it rather than passing on nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"


def require_reference() -> Path:
    """The reference folder; a failure in CI, a skip elsewhere, when it is not there."""
    if not (REFERENCE / "methods.tsv").exists():
        message = f"the reference docs are not at {REFERENCE.relative_to(ROOT.parent)} beside the clone"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REFERENCE
