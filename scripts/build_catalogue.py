#!/usr/bin/env python3
"""Build the catalogue's package data from the reference folder (``../shared/reference`` beside
the clone): ``actions.tsv``, ``methods.tsv`` and ``corrections.tsv`` under
``airflow_provider_bitrix24/catalogue/``.

The reference ``actions.tsv`` mixes facts (methods, parameter names, tags) with explanatory prose.
Only facts go into the package: the notes column is reduced to flags, the deprecated successor
method, the upload encoding and the choices of ``a|b`` rows. The prose stays in the reference.

``methods.tsv`` is the reference index plus a ``pages`` column: the evidence on the method's doc
page that it returns one page of a longer list (``start`` among its parameters, or ``next`` /
``total`` in its documented response). Actions page by that fact about their method, not by a
flag of their own.

Where the reference index or action catalogue and a method's doc page disagree, the page wins:
each such correction is applied here and listed, with its reason, in ``corrections.tsv``.

Re-runnable: ``python scripts/build_catalogue.py [--reference FOLDER] [--check]``.
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
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"  # beside the clone
CATALOGUE = ROOT / "airflow_provider_bitrix24" / "catalogue"
OUTPUT = CATALOGUE / "actions.tsv"
METHODS = CATALOGUE / "methods.tsv"
CORRECTIONS = CATALOGUE / "corrections.tsv"

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

# Top-level filter keys of user.get: any user field (user-get.md), with filter prefixes.
_USER_FIELDS = (
    "ID,ACTIVE,EMAIL,NAME,LAST_NAME,SECOND_NAME,LOGIN,XML_ID,IS_ONLINE,NAME_SEARCH,USER_TYPE,"
    "TIME_ZONE,DATE_REGISTER,LAST_LOGIN,LAST_ACTIVITY_DATE,TIMESTAMP_X,PERSONAL_*,WORK_*,UF_*"
)

# Where a doc page contradicts the reference: (method or action id, column) -> (value, reason).
METHOD_CORRECTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("crm.product.list", "optional"): (
        "order,filter,select,start",
        "the page takes the common list-method parameters (it links to their description)",
    ),
    ("imbot.register", "required"): (
        "CODE,PROPERTIES",
        "EVENT_HANDLER may be given in place of the EVENT_* URLs, so none of them is required alone",
    ),
    ("imbot.register", "optional"): (
        "TYPE,OPENLINE,EVENT_HANDLER,EVENT_MESSAGE_ADD,EVENT_WELCOME_MESSAGE,EVENT_BOT_DELETE,"
        "EVENT_MESSAGE_UPDATE,EVENT_MESSAGE_DELETE,CLIENT_ID",
        "the EVENT_* URLs move here from required (see above)",
    ),
}
ROW_CORRECTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("user_get", "required"): (
        "FILTER{ID}|ID",
        "user.get takes its filter keys at the top level too, as the page's first example does",
    ),
    ("user_get", "optional"): (
        f"select,IMAGE_RESIZE,ADMIN_MODE,sort,order,{_USER_FIELDS}",
        "user.get filters by any user field at the top level",
    ),
    ("user_get_all", "optional"): (
        f"FILTER,sort,order,ADMIN_MODE,select,IMAGE_RESIZE,start,{_USER_FIELDS}",
        "user.get filters by any user field at the top level",
    ),
    ("chatbot_register_bot", "required"): (
        "CODE,EVENT_HANDLER|EVENT_MESSAGE_ADD,EVENT_HANDLER|EVENT_WELCOME_MESSAGE,"
        "EVENT_HANDLER|EVENT_BOT_DELETE,PROPERTIES{NAME|LAST_NAME}",
        "EVENT_HANDLER stands for every EVENT_* URL; without it each required URL is needed",
    ),
    ("user_field_config_get_list", "optional"): (
        "select{...},order,filter,start",
        "select is an object (the page's type and example), not a list",
    ),
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
    """Flags stated by the notes; ``PAGED`` is not among them (see :func:`paged`)."""
    tags = [
        ("BINARY-UP", "BINARY-UP"),
        ("BINARY-DOWN", "BINARY-DOWN"),
        ("APP-ONLY", "APP-ONLY"),
        ("DEPRECATED", "DEPRECATED"),
        ("NO DOCUMENTED METHOD", "NO-DOCUMENTED-METHOD"),
        ("NOT OFFERED", "NOT-OFFERED"),
        ("Webhook calls need CLIENT_ID", "WEBHOOK-CLIENT-ID"),
    ]
    return [flag for marker, flag in tags if marker in notes]


def pages_evidence(doc_root: Path, row: dict) -> str:
    """Why a method returns one page of a longer list, from its doc page: ``start`` among its
    parameters, or ``next``/``total`` at the top of its documented response; else empty."""
    names = {n.lower() for n in (row["required"] + "," + row["optional"]).split(",")}
    if "start" in names:
        return "start"
    text = (doc_root / row["doc"]).read_text(encoding="utf-8")
    found = re.search(r"^#+ Response", text, re.M)
    response = text[found.start() :] if found else ""
    for key in ("next", "total"):
        if re.search(rf'^\s{{0,8}}"{key}":\s*\d', response, re.M):
            return key
    return ""


def build_methods(reference: Path) -> list[dict]:
    with (reference / "methods.tsv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for (method, column), (value, _reason) in METHOD_CORRECTIONS.items():
        row = next(r for r in rows if r["method"] == method)
        row[column] = value
    for row in rows:
        row["pages"] = pages_evidence(reference / "b24restdocs", row)
    return rows


def paged(methods_cell: str, pages: dict[str, str]) -> bool:
    """A one-call action pages when its method does (each alternative of that call)."""
    steps = methods_cell.split(",")
    return len(steps) == 1 and all(pages.get(m) for m in steps[0].split("|"))


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


def build(reference: Path, method_rows: list[dict]) -> list[dict]:
    with (reference / "actions.tsv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    pages = {r["method"]: r["pages"] for r in method_rows}
    documented = set(pages)
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
                **{column: cell(row, column) for column in ("required", "optional")},
                "flags": ",".join((["PAGED"] if paged(methods, pages) else []) + flags_of(row["notes"])),
                "successor": successor_of(row["notes"]),
                "upload": upload_of(row),
                "selector": selector,
                "choices": choices,
            }
        )
    return out


def cell(row: dict, column: str) -> str:
    corrected = ROW_CORRECTIONS.get((row["action_id"], column))
    if corrected:
        return corrected[0]
    rewritten = ROW_REWRITES.get(row["action_id"], {}).get(column)
    return rewritten if rewritten is not None else PARAM_REWRITES.get(row[column], row[column])


def corrections(reference: Path) -> list[dict]:
    """Every correction as a row: what, which column, the reference's value, ours, and why."""
    with (reference / "methods.tsv").open(newline="", encoding="utf-8") as fh:
        index = {r["method"]: r for r in csv.DictReader(fh, delimiter="\t")}
    with (reference / "actions.tsv").open(newline="", encoding="utf-8") as fh:
        catalogue = {r["action_id"]: r for r in csv.DictReader(fh, delimiter="\t")}
    out = []
    for table, source, fixes in (
        ("methods.tsv", index, METHOD_CORRECTIONS),
        ("actions.tsv", catalogue, ROW_CORRECTIONS),
    ):
        for (name, column), (value, reason) in fixes.items():
            out.append(
                {
                    "table": table,
                    "name": name,
                    "column": column,
                    "reference": source[name][column],
                    "package": value,
                    "reason": reason,
                }
            )
    return out


def render(rows: list[dict], columns: list[str]) -> str:
    lines = ["\t".join(columns)]
    lines += ["\t".join(row[c] for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the reference folder")
    parser.add_argument("--check", action="store_true", help="fail if a committed file is stale")
    args = parser.parse_args(argv)
    method_rows = build_methods(args.reference)
    outputs = {
        METHODS: render(method_rows, ["method", "doc", "required", "optional", "pages"]),
        OUTPUT: render(build(args.reference, method_rows), COLUMNS),
        CORRECTIONS: render(
            corrections(args.reference), ["table", "name", "column", "reference", "package", "reason"]
        ),
    }
    codes = [
        write_or_check(path, text, script="build_catalogue.py", check=args.check, root=ROOT)
        for path, text in outputs.items()
    ]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
