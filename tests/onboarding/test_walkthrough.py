"""docs/connections.md "Getting connected", run as written: every ``bash`` block of that section
is read from the page and run in a shell against the emulator (its address and credentials in
place of the placeholders), in a fresh Airflow home with a metadata database. The OAuth path
opens a "browser" through ``$BROWSER``: a script that follows the portal's redirect to the
command's local listener, as a browser would.

The scope table of the same section is checked against the Bitrix24 docs (each method's
"Scope" line) for every method the demo DAGs call, with the emulator granting only those scopes.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conformance.reference import require_reference

from airflow_provider_bitrix24.hooks.bitrix24 import default_token_key

from .conftest import airflow_env

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "connections.md"
EXAMPLES = ROOT / "example_dags"
AUTHORIZE = "python -m airflow_provider_bitrix24.oauth authorize"

FAKE_BROWSER = """\
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=30).read()  # follows the portal's redirect
"""


def walkthrough() -> dict[str, list[str]]:
    """The ``bash`` blocks of "## Getting connected", by ``###`` section."""
    section = DOC.read_text().split("\n## Getting connected\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    heading = ""
    for match in re.finditer(r"(?m)^### ([^\n]+)$|^```bash\n(.*?)^```", section, re.DOTALL):
        if match.group(1):
            heading = match.group(1).strip()
        else:
            blocks.setdefault(heading, []).append(match.group(2))
    return blocks


def documented_scopes() -> set[str]:
    table = DOC.read_text().split("<!-- scopes: start -->", 1)[1].split("<!-- scopes: end -->", 1)[0]
    return set(re.findall(r"(?m)^\| `([a-z_.]+)` \|", table))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_run_here(block: str, emu, redirect_uri: str) -> str:
    """The doc's commands with the emulator in place of the placeholders."""
    script = (
        block.replace("https://your-company.bitrix24.com", emu.url)
        .replace("<webhook code>", emu.webhook_code)
        .replace("local.xxxxxxxx.xxxxxxxx", emu.client_id)
        .replace("<client secret>", emu.client_secret)
        # The emulator is its own authorization server, and the test's listener takes a free port.
        .replace(AUTHORIZE, f"{AUTHORIZE} --token-url {emu.token_url} --redirect-uri {redirect_uri}")
    )
    assert not re.search(r"<[a-z ]+>|your-company|xxxxxxxx", script), script
    return script


@pytest.fixture
def shell(airflow_template, tmp_path, emu, monkeypatch):
    """Run doc blocks as one bash script in a fresh copy of the Airflow home."""
    home = tmp_path / "airflow-home"
    shutil.copytree(airflow_template, home)
    browser = tmp_path / "browser.py"
    browser.write_text(FAKE_BROWSER)
    env = {**airflow_env(home), "BROWSER": f"{sys.executable} {browser} %s"}
    monkeypatch.setattr(emu, "redirect_uri", f"http://127.0.0.1:{free_port()}/callback")

    def run(*blocks: str) -> subprocess.CompletedProcess:
        script = "set -euo pipefail\n" + "\n".join(as_run_here(b, emu, emu.redirect_uri) for b in blocks)
        return subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )

    run.env = env  # type: ignore[attr-defined]
    return run


def test_the_walkthrough_has_the_expected_steps():
    blocks = walkthrough()
    assert list(blocks) == ["Inbound webhook", "Local application (OAuth 2.0)"]
    assert len(blocks["Inbound webhook"]) == 1 and len(blocks["Local application (OAuth 2.0)"]) == 3
    assert {"user", "crm"} <= documented_scopes()


def test_inbound_webhook_walkthrough(shell, emu):
    result = shell(*walkthrough()["Inbound webhook"])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Connection success!" in output
    assert [r.auth_kind for r in emu.calls("user.current")] == ["webhook"]


def test_local_application_walkthrough_with_the_token_store(shell, emu):
    authorize, add_and_test, _json = walkthrough()["Local application (OAuth 2.0)"]
    result = shell(authorize, add_and_test)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "does not exist yet; add it" in output  # the command says how to add the connection
    assert "token_store" not in add_and_test and "token_store" not in output  # the default is found
    assert f"VariableTokenStore('{default_token_key(emu.url, emu.client_id)}')" in output
    assert "Connection success!" in output
    assert [r.auth_kind for r in emu.calls("user.current")] == ["oauth"]
    assert (
        emu.client_secret not in result.stderr.split("Successfully added")[0]
    )  # nothing secret from authorize
    grants = [r.params.get("grant_type") for r in emu.requests if r.method == "oauth/token"]
    assert grants == ["authorization_code"]


def test_local_application_walkthrough_with_the_connection_as_json(shell, emu):
    *_, as_json = walkthrough()["Local application (OAuth 2.0)"]
    result = shell(as_json)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Connection success!" in output
    assert [r.auth_kind for r in emu.calls("user.current")] == ["oauth"]


# -- scopes --------------------------------------------------------------------------------


def doc_pages(reference: Path) -> dict[str, str]:
    pages = {}
    for line in (reference / "methods.tsv").read_text().splitlines()[1:]:
        name, page, *_ = line.split("\t")
        pages[name.lower()] = page
    return pages


def doc_scopes_of(page: str, reference: Path) -> set[str]:
    """The scopes a method's doc page names ("> Scope: `crm`"); empty when it needs none."""
    head = (reference / "b24restdocs" / page).read_text()[:3000]
    found = re.search(r"(?m)^> Scope: (.*)$", head)
    return set(re.findall(r"`([a-z_.]+)`", found.group(1))) - {"basic"} if found else set()


# Runs that reach every method a DAG has: the open-lines example only looks at the chats it is given.
RUN_CONF = {"example_bitrix24_openlines_housekeeping": {"chat_ids": [11], "idle_hours": 0}}


def demo_dags() -> list[tuple[str, str]]:
    dags = []
    for path in sorted(EXAMPLES.glob("example_*.py")):
        text = path.read_text()
        found = re.search(r'dag_id="([^"]+)"', text) or re.search(r"def (example_bitrix24_\w+)\(\)", text)
        if found and '"demo"' in text:
            dags.append((found.group(1), str(path)))
    return dags


def test_documented_scopes_cover_the_demo_dags(shell, emu, tmp_path):
    """A webhook with exactly the documented scopes runs every demo DAG, and every method they
    call has, on its doc page, a scope from the table (or none)."""
    reference = require_reference()
    scopes = documented_scopes()
    result = shell(walkthrough()["Inbound webhook"][0])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import demo
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    demo.seed_sample_data(emu)
    emu.seed("imopenlines.session", [{"CHAT_ID": 11, "USER_CODE": "livechat|1|11|1"}])
    emu.configure(scopes=sorted(scopes))
    env = {
        **shell.env,
        **{f"BITRIX24_{k}_ROOT": (tmp_path / k.lower()).as_uri() for k in ("EXPORT", "IMPORT", "BACKUP")},
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    dags = demo_dags()
    assert len(dags) >= 5
    for dag_id, path in dags:
        conf = ["-c", json.dumps(RUN_CONF[dag_id])] if dag_id in RUN_CONF else []
        run = subprocess.run(
            [airflow, "dags", "test", dag_id, "-f", path, *conf],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = run.stdout + run.stderr
        assert run.returncode == 0 and "state=success" in output, f"{dag_id}: {output[-3000:]}"
    refused = [r.method for r in emu.calls() if r.error == "insufficient_scope"]
    assert not refused
    pages = doc_pages(reference)
    # REST methods only: signed download links and upload URLs are plain HTTP legs.
    called = {r.method for r in emu.calls() if r.method in pages and r.method != "batch"}
    assert {"user.current", "crm.deal.add", "crm.deal.list"} <= called
    needed = {m: doc_scopes_of(pages[m], reference) for m in sorted(called)}
    print(json.dumps({m: sorted(s) for m, s in needed.items()}, indent=1))
    missing = {m: sorted(s) for m, s in needed.items() if s and not s & scopes}
    assert not missing, f"methods whose documented scope is not in the table: {missing}"
    unused = scopes - set().union(*needed.values())
    assert not unused, f"scopes in the table that no demo DAG needs: {sorted(unused)}"
