"""Shared by the generator scripts: write a generated file, or with ``--check`` fail if it is stale."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(output: Path, text: str, *, script: str, check: bool, root: Path) -> int:
    """Return the script's exit code: 1 when ``check`` finds ``output`` out of date, else 0."""
    if check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            print(f"{output} is out of date; run scripts/{script}", file=sys.stderr)
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output.relative_to(root)}")
    return 0
