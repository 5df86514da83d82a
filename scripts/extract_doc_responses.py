#!/usr/bin/env python3
"""Extract the documented response shape of every method the emulator serves.

Each method's doc page (``methods.tsv`` names it) shows a success reply under its "Response
handling" heading. Only facts go into the package: the JSON types and key names of ``result``
(see :mod:`airflow_provider_bitrix24.emulator.shapes` for the notation) and whether the example
carries ``total``/``next``. Values and prose stay in the reference.

Output: ``airflow_provider_bitrix24/emulator/response_shapes.json``.
Re-runnable: ``python scripts/extract_doc_responses.py [--docs PATH] [--check]``; without
``--docs`` the reference is found at ``../shared/reference/b24restdocs`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _generated import write_or_check  # noqa: E402

from airflow_provider_bitrix24.catalogue import methods  # noqa: E402
from airflow_provider_bitrix24.emulator.shapes import shape_of  # noqa: E402

DEFAULT_DOCS = ROOT.parent / "shared" / "reference" / "b24restdocs"
OUTPUT = ROOT / "airflow_provider_bitrix24" / "emulator" / "response_shapes.json"

# Headings under which pages show the success reply.
_RESPONSE_HEADING = re.compile(
    r"^#{2,4}\s+(response handling|response on success|successful response|"
    r"structure of a successful response)\b",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^(#{1,6})\s")
_FENCE = re.compile(r"^\s*```\s*(\w*)")
# A line of prose inside an example ("48 more leads ..."), but not a bare JSON literal.
_PROSE_LINE = re.compile(r"(?m)^(?!\s*(?:true|false|null|-?\d[\d.eE+-]*),?\s*$)\s*[A-Za-z0-9][^\"{}\[\]:]*$")


def _sections(text: str) -> list[list[str]]:
    """The lines of every response section (up to the next heading of the same or a higher level)."""
    found: list[list[str]] = []
    current: list[str] | None = None
    level = 0
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading and _RESPONSE_HEADING.match(line):
            current, level = [], len(heading.group(1))
            found.append(current)
            continue
        if heading and current is not None and len(heading.group(1)) <= level:
            current = None
        if current is not None:
            current.append(line)
    return found


def _json_blocks(lines: list[str]) -> list[str]:
    """The bodies of the fenced blocks that may hold JSON (tagged json/js or untagged)."""
    blocks: list[str] = []
    body: list[str] | None = None
    keep = False
    for line in lines:
        fence = _FENCE.match(line)
        if fence and body is None:
            body, keep = [], fence.group(1).lower() in ("json", "js", "javascript", "")
        elif fence and body is not None:
            if keep:
                blocks.append("\n".join(body))
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def _lenient_json(text: str) -> object:
    """Parse a doc example: tolerate ``//`` comments, ``...`` elisions and trailing commas."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    cleaned = re.sub(r'(?m)^((?:[^"\n]|"(?:[^"\\\n]|\\.)*")*?)\s*//.*$', r"\1", text)
    cleaned = re.sub(r"(?m)^\s*\.\.\.\s*,?\s*$", "", cleaned)
    cleaned = re.sub(r",\s*\.\.\.\s*", "", cleaned)
    cleaned = _PROSE_LINE.sub("", cleaned)
    cleaned = re.sub(r"([}\]])(\s*\n\s*[{\[])", r"\1,\2", cleaned)  # a comma left out between items
    cleaned = re.sub(r",(\s*[}\]])", r"\1", cleaned)
    return json.loads(cleaned)


def documented_reply(page: Path) -> dict | None:
    """The first success envelope (an object with ``result``) the page's response sections show."""
    text = page.read_text(encoding="utf-8")
    for section in _sections(text):
        for block in _json_blocks(section):
            try:
                reply = _lenient_json(block)
            except ValueError:
                continue
            if isinstance(reply, dict) and "result" in reply and "error" not in reply:
                return reply
    return None


def served_methods() -> list[str]:
    from airflow_provider_bitrix24.emulator.handlers import load_all
    from airflow_provider_bitrix24.emulator.registry import HANDLERS

    load_all()
    documented = methods()
    return sorted(name for name in HANDLERS if name in documented and name != "batch")


def build(docs: Path) -> tuple[dict, list[str]]:
    documented = methods()
    shapes: dict[str, dict] = {}
    missing: list[str] = []
    for name in served_methods():
        page = docs / documented[name].doc
        reply = documented_reply(page) if page.is_file() else None
        if reply is None:
            missing.append(name)
            continue
        entry: dict = {"result": shape_of(reply["result"])}
        if "total" in reply or "next" in reply:
            entry["paged"] = True
        shapes[name] = entry
    return shapes, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="the b24restdocs checkout")
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args(argv)
    if not args.docs.is_dir():
        print(f"reference docs not found at {args.docs}", file=sys.stderr)
        return 2
    shapes, missing = build(args.docs)
    text = json.dumps(shapes, indent=1, sort_keys=True) + "\n"
    print(f"{len(shapes)} methods with a documented reply; {len(missing)} without: {', '.join(missing)}")
    return write_or_check(OUTPUT, text, script="extract_doc_responses.py", check=args.check, root=ROOT)


if __name__ == "__main__":
    sys.exit(main())
