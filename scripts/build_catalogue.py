#!/usr/bin/env python3
"""Build ``airflow_provider_bitrix24/catalogue/actions.tsv`` from the reference action index.

The reference ``actions.tsv`` mixes facts (methods, parameter names, tags) with explanatory prose.
Only facts go into the package: the notes column is reduced to flags, the deprecated successor
method, the upload encoding and the choices of ``a|b`` rows. The prose stays in the reference.

Re-runnable: ``python scripts/build_catalogue.py [--reference PATH] [--check]``.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _generated import write_or_check  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = Path("/work/shared/reference/actions.tsv")
OUTPUT = ROOT / "airflow_provider_bitrix24" / "catalogue" / "actions.tsv"
METHODS = ROOT / "airflow_provider_bitrix24" / "catalogue" / "methods.tsv"

COLUMNS = [
    "resource",
    "action",
    "action_id",
    "module",
    "operator",
    "methods",
    "required",
    "optional",
    "flags",
    "successor",
    "upload",
    "selector",
    "choices",
]

# resource -> operator module under airflow_provider_bitrix24/operators/
MODULES = {
    "Direct API": "direct",
    "CRM": "crm",
    "Task": "tasks",
    "User": "users",
    "SPA": "spa",
    "Activity": "activity",
    "Automation": "automation",
    "Document Generator": "documentgenerator",
    "Data Storage": "datastorage",
    "Chat": "chat",
    "User Field": "userfields",
    "File": "disk",
    "User Field Config": "userfieldconfig",
    "Duplicate": "duplicates",
    "Timeline": "timeline",
    "Disk": "disk",
    "Workflow": "workflow",
    "Status": "status",
    "Calendar": "calendar",
    "Chatbot": "chatbot",
    "Events": "events",
    "Lists": "lists",
    "Product": "product",
    "Open Lines": "openlines",
    "Telephony": "telephony",
    "Message Service": "messageservice",
    "Notify": "notify",
}

# Class names that do not follow CamelCase(action_id) + "Operator".
OPERATOR_NAMES = {
    "direct_api_call": "Bitrix24CallOperator",
    "direct_api_batch": "Bitrix24BatchOperator",
}

# Free-text parameter cells rewritten into the notation the loader parses.
PARAM_REWRITES = {
    "SESSION_ID (or CHAT_ID)": "SESSION_ID|CHAT_ID",
    "SESSION_ID (or CHAT_ID),TRANSFER_ID|USER_ID|QUEUE_ID": "SESSION_ID|CHAT_ID,TRANSFER_ID|USER_ID|QUEUE_ID",
    "moduleId,field (per field)": "moduleId,fields[]",
    "rights (storage variant)": "rights",
    "STATUS (terminate only)": "STATUS",
}

# Rows whose cells are rewritten as a whole (column -> notation).
ROW_REWRITES = {
    # the method's parameters are optional: many methods take none
    "direct_api_call": {"required": "method", "optional": "params{...}"},
}

# `a|b` rows: the operator argument that picks the alternative and its value per method.
# The close-session row also offers the bot route its sibling row names for bots.
SELECTORS: dict[str, tuple[str, dict[str, str]]] = {}
_USERFIELD_CHOICES = ("lead", "deal", "contact", "company", "quote", "user")
for _op in (
    "get_user_fields",
    "add_user_field",
    "update_user_field",
    "delete_user_field",
    "get_user_field_settings",
    "set_user_field_settings",
):
    SELECTORS[f"user_field_{_op}"] = ("entity", {})  # filled from the method names below
for _row in (
    "file_upload_file",
    "disk_upload_file",
    "file_get_all_files",
    "disk_get_folders",
    "disk_create_folder",
    "disk_add_folder",
):
    SELECTORS[_row] = ("target", {"disk.folder.": "folder", "disk.storage.": "storage"})
for _row in ("file_delete_file", "disk_delete_file", "disk_delete_folder"):
    SELECTORS[_row] = ("mode", {".markdeleted": "trash", ".delete": "delete", ".deletetree": "delete"})
SELECTORS["disk_share_item"] = (
    "share",
    {
        "disk.folder.sharetouser": "user",
        "disk.file.getexternallink": "file_link",
        "disk.folder.getexternallink": "folder_link",
    },
)
SELECTORS["workflow_kill_workflow"] = ("mode", {".kill": "kill", ".terminate": "terminate"})
SELECTORS["open_lines_close_session"] = (
    "closed_by",
    {
        ".operator.finish": "operator",
        ".operator.another.finish": "another_operator",
        ".bot.session.finish": "bot",
    },
)
EXTRA_ALTERNATIVES = {"open_lines_close_session": ["imopenlines.bot.session.finish"]}

METHOD_RE = r"[a-z][a-zA-Z0-9]*(?:\.[a-zA-Z0-9]+)+"


def operator_name(action_id: str) -> str:
    return OPERATOR_NAMES.get(action_id) or "".join(p.capitalize() for p in action_id.split("_")) + "Operator"


def flags_of(notes: str) -> list[str]:
    tags = [
        ("PAGED", "PAGED"),
        ("BINARY-UP", "BINARY-UP"),
        ("BINARY-DOWN", "BINARY-DOWN"),
        ("APP-ONLY", "APP-ONLY"),
        ("DEPRECATED", "DEPRECATED"),
        ("NO DOCUMENTED METHOD", "NO-DOCUMENTED-METHOD"),
        ("NOT OFFERED", "NOT-OFFERED"),
    ]
    return [flag for marker, flag in tags if marker in notes]


def successor_of(notes: str) -> str:
    """The successor method (plus a fixed argument where the notes give one), lower-cased."""
    if "DEPRECATED" not in notes:
        return ""
    tail = notes[notes.index("DEPRECATED") :]
    found = (
        re.search(rf"successor(?: is)?\s+({METHOD_RE})", tail)
        or re.search(rf"({METHOD_RE})(?: \([^)]*\))?(?: with \w+=\d+)? is the documented successor", tail)
        or re.search(rf"has an ({METHOD_RE}) page", tail)
    )
    if not found:
        return ""
    extra = re.search(rf"{re.escape(found.group(1))} with (\w+=\d+)", tail)
    return found.group(1).lower() + (f" {extra.group(1)}" if extra else "")


def upload_of(row: dict) -> str:
    """How a local file is encoded into this row's request (`files` argument of the operator)."""
    notes, optional, required = row["notes"], row["optional"], row["required"]
    if "fileData" in notes:
        return "filedata"  # legacy CRM file fields: {"fileData": [name, base64]}
    if "FILE_CONTENT" in optional or "AVATAR" in required + optional or "PERSONAL_PHOTO" in notes:
        return "base64"  # a bare base64 string
    if "BINARY-UP" in notes or "[name,base64]" in notes:
        return "pair"  # [name, base64]
    return ""


def selector_of(action_id: str, methods: str) -> tuple[str, str]:
    if action_id not in SELECTORS:
        return "", ""
    name, rules = SELECTORS[action_id]
    choices = []
    for method in methods.split(",")[-1].split("|"):
        if name == "entity":
            choices.append(method.split(".")[1] if method.startswith("crm.") else method.split(".")[0])
            continue
        matches = [v for part, v in rules.items() if method.startswith(part) or method.endswith(part)]
        if len(matches) != 1:
            raise SystemExit(f"{action_id}: cannot name the alternative {method}")
        choices.append(matches[0])
    return name, ",".join(choices)


def build(reference: Path) -> list[dict]:
    with reference.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    with METHODS.open(newline="", encoding="utf-8") as fh:
        documented = {r["method"] for r in csv.DictReader(fh, delimiter="\t")}
    out = []
    for row in rows:
        methods = row["methods"]
        if row["action_id"] in EXTRA_ALTERNATIVES:
            methods = "|".join([methods, *EXTRA_ALTERNATIVES[row["action_id"]]])
        for name in re.split(r"[,|]", methods):
            if name not in ("", "*") and name not in documented:
                raise SystemExit(f"{row['action_id']}: {name} is not in methods.tsv")
        selector, choices = selector_of(row["action_id"], methods)
        if "|" in methods and not selector:
            raise SystemExit(f"{row['action_id']}: alternatives without a selector")
        out.append(
            {
                "resource": row["resource"],
                "action": row["action"],
                "action_id": row["action_id"],
                "module": MODULES[row["resource"]],
                "operator": operator_name(row["action_id"]),
                "methods": methods,
                **{
                    column: ROW_REWRITES.get(row["action_id"], {}).get(
                        column, PARAM_REWRITES.get(row[column], row[column])
                    )
                    for column in ("required", "optional")
                },
                "flags": ",".join(flags_of(row["notes"])),
                "successor": successor_of(row["notes"]),
                "upload": upload_of(row),
                "selector": selector,
                "choices": choices,
            }
        )
    return out


def render(rows: list[dict]) -> str:
    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(row[c] for c in COLUMNS) for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args(argv)
    text = render(build(args.reference))
    return write_or_check(OUTPUT, text, script="build_catalogue.py", check=args.check, root=ROOT)


if __name__ == "__main__":
    sys.exit(main())
