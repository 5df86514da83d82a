#!/usr/bin/env python3
"""Extract each catalogue action's example request from its method's doc page into test data.

For every action, the method it calls last (its first alternative) has a page in the REST docs
(``../shared/reference/b24restdocs`` beside the clone). Its "Code examples" show the request in
several languages; this script keeps the first one it can read without guessing:

1. the ``cURL (Webhook)`` tab: the JSON after ``-d``, sent to a URL ending in the method's name;
2. else the ``cURL (OAuth)`` tab, without its ``auth`` key;
3. else ``BX24.callMethod("<method>", {...})`` whose object is a plain literal (quoted or bare
   keys, strings, numbers, booleans, null, arrays and objects; no variables or calls).

A row with alternative methods (a selector such as ``entity`` or ``mode``) gets one more case
per further alternative, keyed ``action_id:choice``, from that method's own page.

Only facts are written (action id, method, parameters, which tab they came from), to
``tests/conformance/doc_examples.json``, so the conformance suite runs on a clone without the
docs. Actions whose page shows no readable example are listed with the reason.

Re-runnable: ``python scripts/extract_doc_examples.py [--reference FOLDER] [--check]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _generated import write_or_check  # noqa: E402

from airflow_provider_bitrix24.catalogue import actions, methods  # noqa: E402

DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"  # beside the clone
OUTPUT = ROOT / "tests" / "conformance" / "doc_examples.json"

TAB = re.compile(r"^\s*- (?P<name>[^\n]+?)\s*\n\s*\n\s*```[^\n]*\n(?P<code>.*?)\n\s*```", re.M | re.S)
CURL_BODY = re.compile(r"-d\s+'(?P<body>.*?)'\s*[\\/]?\s*\n\s*(?P<url>\S+)", re.S)


# Chains whose caller's input goes to the first call (the later calls use its result).
FIRST_CALL_TAKES_INPUT = {
    "file_copy_file",  # copyto, then rename the copy when newName is given
    "file_move_file",  # moveto, then rename
    "spa_get_spa_status",  # the type's categories, then the stages of each
    "duplicate_find_duplicates",  # the record, then a search by its phones and e-mails
}


def target_method(action: Any) -> str | None:
    """The method whose example drives the action: the call that takes the caller's input
    (its last call unless listed above), first alternative."""
    if action.is_generic or not action.steps:
        return None
    step = 0 if action.action_id in FIRST_CALL_TAKES_INPUT else -1
    return action.steps[step][0]


def _curl(code: str, method: str) -> dict | None:
    found = CURL_BODY.search(code)
    if not found or not found["url"].rstrip("/").lower().endswith("/" + method):
        return None
    try:
        body = json.loads(found["body"])
    except json.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


JS_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)"""
    r"""|(?P<word>[A-Za-z_$][\w$]*)|(?P<punct>[{}\[\]:,]))""",
)


def js_literal(text: str) -> Any:
    """The value of a plain JavaScript object literal; ValueError for anything else."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = re.sub(r"//[^\n]*", "", text)  # line comments
    while pos < len(text.rstrip()):
        found = JS_TOKEN.match(text, pos)
        if not found:
            raise ValueError(f"not a plain literal at {text[pos : pos + 20]!r}")
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        pos = found.end()
    value, end = _js_value(tokens, 0)
    if end != len(tokens):
        raise ValueError("trailing tokens")
    return value


def _js_value(tokens: list[tuple[str, str]], i: int) -> tuple[Any, int]:
    kind, text = tokens[i]
    if kind == "string":
        inner = text[1:-1]
        if text[0] == "'":
            inner = inner.replace("\\'", "'").replace('"', '\\"')
        return json.loads(f'"{inner}"'), i + 1
    if kind == "number":
        return json.loads(text), i + 1
    if kind == "word":
        words = {"true": True, "false": False, "null": None}
        if text not in words:
            raise ValueError(f"variable or call {text!r}")
        return words[text], i + 1
    if text == "[":
        items: list[Any] = []
        i += 1
        while tokens[i][1] != "]":
            item, i = _js_value(tokens, i)
            items.append(item)
            if tokens[i][1] == ",":
                i += 1
        return items, i + 1
    if text == "{":
        obj: dict[str, Any] = {}
        i += 1
        while tokens[i][1] != "}":
            key_kind, key = tokens[i]
            if key_kind == "string":
                key = json.loads('"' + key[1:-1].replace('"', '\\"') + '"')
            elif key_kind not in ("word", "number"):
                raise ValueError(f"bad key {key!r}")
            if tokens[i + 1][1] != ":":
                raise ValueError("shorthand property")
            obj[key], i = _js_value(tokens, i + 2)
            if tokens[i][1] == ",":
                i += 1
        return obj, i + 1
    raise ValueError(f"unexpected {text!r}")


def _bx24(text: str, method: str) -> dict | None:
    call = re.search(rf"BX24\.callMethod\(\s*['\"]{re.escape(method)}['\"]\s*,\s*", text, re.I)
    if not call:
        return None
    start = call.end()
    if text[start : start + 1] != "{":
        return None
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            try:
                value = js_literal(text[start : end + 1])
            except (ValueError, IndexError, json.JSONDecodeError):
                return None
            return value if isinstance(value, dict) else None
    return None


def example_of(page: str, method: str) -> tuple[dict, str] | tuple[None, str]:
    """``(params, source)`` of the page's first readable example for ``method``."""
    tabs = [(m["name"].strip(), m["code"]) for m in TAB.finditer(page)]
    for wanted in ("cURL (Webhook)", "cURL (OAuth)"):
        for name, code in tabs:
            if name == wanted:
                body = _curl(code, method)
                if body is not None:
                    body.pop("auth", None)
                    return body, "curl-webhook" if "Webhook" in wanted else "curl-oauth"
    body = _bx24(page, method)
    if body is not None:
        return body, "bx24"
    return None, "no readable example request for this method on its page"


def extract(reference: Path) -> dict:
    """Cases keyed by action id, and by ``action_id:choice`` for each further alternative of a
    row with a selector (its own method, with that method's example)."""
    docs = reference / "b24restdocs"
    cases: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for action in actions():
        method = target_method(action)
        if method is None or action.not_offered:
            missing[action.action_id] = "the action calls no documented method of its own"
            continue
        choices = [(action.action_id, None, method)]
        if action.selector:
            step = action.steps.index(next(s for s in action.steps if method in s))
            choices += [
                (f"{action.action_id}:{choice}", choice, alternative)
                for choice, alternative in zip(action.choices[1:], action.steps[step][1:], strict=True)
            ]
        for key, choice, name in choices:
            page = (docs / methods()[name].doc).read_text(encoding="utf-8")
            params, source = example_of(page, name)
            if params is None:
                missing[key] = f"{name}: {source}"
                continue
            cases[key] = {"method": name, "params": params, "source": source}
            if choice is not None:
                cases[key]["choice"] = choice
    return {"examples": cases, "without_example": missing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the reference folder")
    parser.add_argument("--check", action="store_true", help="fail if the committed data is stale")
    args = parser.parse_args(argv)
    data = extract(args.reference)
    text = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    print(f"{len(data['examples'])} cases with an example, {len(data['without_example'])} without")
    return write_or_check(OUTPUT, text, script="extract_doc_examples.py", check=args.check, root=ROOT)


if __name__ == "__main__":
    sys.exit(main())
