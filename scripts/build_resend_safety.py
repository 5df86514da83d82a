#!/usr/bin/env python3
"""Build ``airflow_provider_bitrix24/client/resend_safety.tsv``: may a call be resent after a lost reply?

A call whose reply never arrived may still have run on the portal. The client resends it only when
running it twice has the same effect as running it once, which holds for methods that only read.
Every documented method gets one line, ``safe`` or ``unsafe``, with the rule that decided it:

1. ``override``: the explicit list below, each entry with its reason (page text the rules misread);
2. ``name``: the method name's last word is not a reading word (``add``, ``delete``, ``start``...);
3. ``lead``: the page's opening sentence does not say the method returns, retrieves or checks
   something (``marks``, ``generates``, ``cancels``...);
4. ``page``: the page says the method changes state anyway (a title "with cleanup", a parameter
   "whether to delete", an opening paragraph that says it creates, deletes, marks, reserves...);
5. ``read``: name and page both say it only reads.

Methods missing from the table (undocumented ones) count as unsafe in the client.

Re-runnable: ``python scripts/build_resend_safety.py [--reference DIR] [--check]``; the reference
directory (``../shared/reference`` next to the repository by default) holds ``methods.tsv`` and
``b24restdocs/``.
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
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
OUTPUT = ROOT / "airflow_provider_bitrix24" / "client" / "resend_safety.tsv"

# Rule 2: a method name's last word that names a read. Anything else is a write or an action.
READ_WORDS = frozenset(
    {
        "fields",
        "count",
        "info",
        "types",
        "status",
        "statuslist",
        "current",
        "version",
        "children",
        "instances",
        "access",
        "name",
        "items",
        "tail",
        "time",
        "settings",
        "check",
        "checkcontent",
        "subordinates",
        "nearest",
        "availabletoadd",
        "canmovetask",
        "resolveidbypublicurl",
        "profile",
        "methods",
        "scope",
    }
)
READ_PREFIXES = ("get", "list", "search", "find", "is")

# Rule 3: how an opening sentence that describes a read starts, once "The method `x`" is dropped.
READ_LEAD = re.compile(
    r"^(returns|retrieves|gets|checks|searches|finds|performs a search|will return"
    r"|allows you to (retrieve|search)|allows access to|is designed to retrieve|is used to access"
    r"|for reading)\b",
    re.IGNORECASE,
)
LEAD_SUBJECT = re.compile(r"^(the|this|a)\s+(method\s+)?(`[^`]+`\s*)?(method\s+)?", re.IGNORECASE)

# Rule 4: what a page says when a method changes state. Third-person verbs only, so that nouns
# ("records", "changes") and negations ("does not mark") do not count.
CHANGE_IN_TITLE = re.compile(r"\b(cleanup|clean up|delet\w*|clear\w*|mark(s|ed)?|reserv\w*)\b", re.IGNORECASE)
CHANGE_IN_LEAD = re.compile(
    r"\b(deletes|removes|clears|marks|reserves|sends|starts|creates|adds|sets|generates|cancels"
    r"|resets|modifies|writes|saves|launches|executes|locks|subscribes|increments|confirms)\b",
    re.IGNORECASE,
)
CHANGE_IN_PARAMS = re.compile(r"whether to (delete|clear|remove|mark|reserve)|\bconfirms\b", re.IGNORECASE)

# Rule 1: decisions the rules above get wrong, each with the page fact behind it.
_ENUM_READ = "returns a fixed list of values for a CRM field"
OVERRIDES: dict[str, tuple[bool, str]] = {
    # Named like reads, but running them changes what the next call sees.
    "event.offline.get": (False, "deletes the events it returns (clear=1) or reserves them (clear=0)"),
    # Named like actions or nouns, but their pages describe reads only.
    "crm.enum.activitydirection": (True, _ENUM_READ),
    "crm.enum.activitynotifytype": (True, _ENUM_READ),
    "crm.enum.activitypriority": (True, _ENUM_READ),
    "crm.enum.activitystatus": (True, _ENUM_READ),
    "crm.enum.activitytype": (True, _ENUM_READ),
    "crm.enum.addresstype": (True, _ENUM_READ),
    "crm.enum.contenttype": (True, _ENUM_READ),
    "crm.enum.ownertype": (True, "returns the CRM object type identifiers"),
    "crm.enum.settings.mode": (True, "returns the list of CRM operation modes"),
    "crm.requisite.preset.countries": (True, "returns the countries for requisite templates"),
    "humanresources.employee.multidepartment": (True, "returns employees in several departments"),
    "lists.element.get.file.url": (True, "returns a file path"),
    "lists.get.iblock.type.id": (True, "returns an information block type ID"),
    "log.blogpost.getusers.important": (True, "returns who has read an important post"),
    "mail.mailbox.senders": (True, "returns the senders available to the user"),
    "mail.message.thread": (True, "returns the thread of an e-mail"),
    "sonet_group.user.groups": (True, "returns the current user's groups"),
    "userconsent.agreement.text": (True, "returns the text of an agreement"),
}


def page_parts(text: str) -> tuple[str, str, str]:
    """The title, the opening paragraphs (notes left out) and the parameter section of a doc page."""
    lines = text.splitlines()
    title = lines[0].lstrip("# ").strip() if lines else ""
    lead: list[str] = []
    params: list[str] = []
    section = "lead"
    in_note = False
    for line in lines[1:]:
        if line.startswith("## "):
            if section == "lead" and "arameter" in line:
                section = "params"
                continue
            break
        if line.startswith("{% note"):
            in_note = True
            continue
        if line.startswith("{% endnote"):
            in_note = False
            continue
        if in_note or line.startswith((">", "{%")):
            continue
        (lead if section == "lead" else params).append(line.strip())
    return title, " ".join(part for part in lead if part), "\n".join(params)


def opening_sentence(lead: str) -> str:
    """The first sentence of the lead, links reduced to their text, its subject dropped."""
    first = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", lead.split(". ")[0])
    return LEAD_SUBJECT.sub("", first.strip())


def classify(method: str, page: str) -> tuple[bool, str]:
    """``(safe to resend, rule that decided it)`` for one documented method."""
    if method in OVERRIDES:
        safe, reason = OVERRIDES[method]
        return safe, f"override: {reason}"
    last = method.rsplit(".", 1)[-1]
    if last not in READ_WORDS and not last.startswith(READ_PREFIXES):
        return False, f"name: '{last}' is not a read"
    title, lead, params = page_parts(page)
    opening = opening_sentence(lead)
    if not READ_LEAD.match(opening):
        verb = " ".join(opening.split()[:2])
        return False, f"lead: '{verb}'"
    for where, pattern, text in (
        ("title", CHANGE_IN_TITLE, title),
        ("lead", CHANGE_IN_LEAD, lead),
        ("parameters", CHANGE_IN_PARAMS, params),
    ):
        found = pattern.search(text)
        if found:
            return False, f"page: {where} says '{found.group(0)}'"
    return True, "read: name and page"


def build(reference: Path) -> str:
    with (reference / "methods.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    lines = ["method\tresend\trule"]
    for row in sorted(rows, key=lambda r: r["method"]):
        page = (reference / "b24restdocs" / row["doc"]).read_text(encoding="utf-8")
        safe, rule = classify(row["method"], page)
        lines.append(f"{row['method']}\t{'safe' if safe else 'unsafe'}\t{rule}")
    missing = set(OVERRIDES) - {row["method"] for row in rows}
    if missing:
        raise SystemExit(f"overrides for undocumented methods: {sorted(missing)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--check", action="store_true", help="fail if the committed table is stale")
    args = parser.parse_args()
    text = build(args.reference)
    return write_or_check(OUTPUT, text, script="build_resend_safety.py", check=args.check, root=ROOT)


if __name__ == "__main__":
    sys.exit(main())
