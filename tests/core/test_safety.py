"""Resend safety is data: every documented method is classified, and what changes state is never
sent twice, whatever its name says."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, Bitrix24WriteMayHaveSucceeded, OAuth2Auth
from airflow_provider_bitrix24.client.auth import MemoryTokenStore
from airflow_provider_bitrix24.client.methods import RESEND_SAFETY, is_read_method, is_resend_safe
from airflow_provider_bitrix24.emulator.handlers.sensors_support import offline_events, queue_offline_event

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_METHODS = ROOT / "airflow_provider_bitrix24" / "catalogue" / "methods.tsv"
REFERENCE = ROOT.parent / "shared" / "reference"
FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05}


def _methods(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [row["method"] for row in csv.DictReader(handle, delimiter="\t")]


def _method_tables() -> list[Path]:
    reference = REFERENCE / "methods.tsv"
    return [PACKAGE_METHODS, reference] if reference.exists() else [PACKAGE_METHODS]


@pytest.mark.parametrize("table", _method_tables(), ids=lambda p: p.parent.name)
def test_every_documented_method_is_classified(table):
    unclassified = [m for m in _methods(table) if m not in RESEND_SAFETY]
    assert not unclassified, f"{len(unclassified)} methods without a resend decision: {unclassified[:10]}"


def test_the_committed_table_is_what_the_script_builds():
    if not (REFERENCE / "methods.tsv").exists():
        pytest.skip("the reference docs are not next to the repository")
    script = ROOT / "scripts" / "build_resend_safety.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check", "--reference", str(REFERENCE)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("method", "safe"),
    [
        # The docs describe these as reads.
        ("crm.deal.list", True),
        ("CRM.DEAL.GET", True),
        ("crm.deal.fields", True),
        ("user.current", True),
        ("event.offline.list", True),  # "without making changes to its state"
        ("crm.enum.ownertype", True),  # named like a noun, documented as a read
        # Named like reads, documented as changing state.
        ("event.offline.get", False),  # deletes (clear=1) or reserves (clear=0) what it returns
        ("im.notify.read.list", False),  # marks notifications read
        ("imbot.v2.event.get", False),  # confirms (drops) the events before the offset
        ("disk.storage.getforapp", False),  # creates the storage when missing
        ("salescenter.payment.getpublicurl", False),  # generates a link
        # Writes and anything undocumented.
        ("crm.deal.add", False),
        ("crm.deal.delete", False),
        ("tasks.task.complete", False),
        ("batch", False),  # decided per command by the client
        ("some.unknown.get", False),
        ("", False),
    ],
)
def test_resend_decisions(method, safe):
    assert is_resend_safe(method) is safe
    assert is_read_method(method) is safe  # the older name answers the same


def test_event_offline_get_is_not_resent_after_a_lost_reply(emu):
    """The portal ran event.offline.get (and deleted the events) but the reply was lost: a resend
    would return an empty list as if nothing had happened. The caller must hear about it instead."""
    for i in range(3):
        queue_offline_event(emu.portal, "ONCRMDEALADD", {"FIELDS": {"ID": i}}, message_id=f"deal-{i}")
    access, refresh = emu.issue_tokens()
    auth = OAuth2Auth(
        emu.client_id, emu.client_secret, refresh, access, token_url=emu.token_url, store=MemoryTokenStore()
    )
    emu.inject_fault(kind="drop_after", method="event.offline.get")
    with Bitrix24Client(emu.url, auth, **FAST) as client, pytest.raises(Bitrix24WriteMayHaveSucceeded):
        client.call("event.offline.get", {"clear": 1})
    sent = [r for r in emu.requests if r.method == "event.offline.get"]
    assert len(sent) == 1, "event.offline.get was sent again after its reply was lost"
    assert offline_events(emu.portal) == []  # the one call did run: the events are gone
