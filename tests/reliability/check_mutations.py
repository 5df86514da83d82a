"""Break the provider on purpose, one guarantee at a time, and check the reliability suite notices.

    python tests/reliability/check_mutations.py [NAME-FRAGMENT ...]

Each mutation is applied to a copy of the package in a temporary folder that is put first on
PYTHONPATH (the working tree is never touched); the test file named for it must then fail.
Prints CAUGHT or MISSED per mutation and exits non-zero if any was missed. A script, not a test:
it runs the suite once per mutation (about two minutes in all).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "airflow_provider_bitrix24"
TESTS = ROOT / "tests" / "reliability"

# (name, file inside the package, text to replace (must occur once), replacement, test file)
MUTATIONS = [
    (
        "write resent after 5xx",
        "client/policy.py",
        "            if not resend_safe:\n                return Raise(\n                    Bitrix24WriteMayHaveSucceeded(",
        "            if False:\n                return Raise(\n                    Bitrix24WriteMayHaveSucceeded(",
        "test_faults.py",
    ),
    (
        "write resent after lost reply",
        "client/policy.py",
        "        if failure.kind == MAYBE_SENT and not resend_safe:",
        "        if False:",
        "test_faults.py",
    ),
    (
        "503 not retried",
        "client/policy.py",
        "        if verdict.kind == THROTTLED and attempts.retries < self.max_retries:",
        "        if False:",
        "test_faults.py",
    ),
    (
        "truncated success not transient",
        "client/policy.py",
        "(status >= 500 or not isinstance(envelope, dict))",
        "status >= 500",
        "test_faults.py",
    ),
    (
        "urllib3 log not scrubbed",
        "client/transport.py",
        'logging.getLogger("urllib3.connectionpool").addFilter(_ScrubFilter())',
        "pass",
        "test_secrets.py",
    ),
    (
        "no cross-process lock",
        "client/auth.py",
        "                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)",
        "                pass",
        "test_tokens.py",
    ),
    (
        "no wait for rotated pair",
        "client/auth.py",
        "                else self._await_rotated_pair(candidates)",
        "                else None",
        "test_tokens.py",
    ),
    (
        "raw batch not checked",
        "client/encoding.py",
        "    if len(commands) > BATCH_LIMIT:\n        raise",
        "    if False:\n        raise",
        "test_bad_input.py",
    ),
    (
        "references not checked",
        "client/encoding.py",
        "            if ref in earlier:\n                continue",
        "            if True:\n                continue",
        "test_bad_input.py",
    ),
    (
        "shapes not checked",
        "catalogue/params.py",
        'SHAPED_NAMES = {"id": "scalar", "filter": "object", "select": "list"}',
        "SHAPED_NAMES = {}",
        "test_bad_input.py",
    ),
    (
        "webhook repr shows code",
        "client/auth.py",
        'return f"WebhookAuth(user_id={self.user_id!r}, code=***)"',
        'return f"WebhookAuth(user_id={self.user_id!r}, code={self._code})"',
        "test_secrets.py",
    ),
    (
        "client limiter ignored",
        "client/transport.py",
        "            if limited and self.bucket is not None:\n                self.bucket.acquire()",
        "            if False:\n                self.bucket.acquire()",
        "test_many_workers.py",
    ),
    (
        "redirect followed",
        "client/transport.py",
        "                allow_redirects=False,\n                stream=True,",
        "                allow_redirects=True,\n                stream=True,",
        "test_faults.py",
    ),
    (
        "first request of a method not alone",
        "client/operating.py",
        "not small_job and any(",
        "False and any(",
        "../core/test_operating_pacer.py",
    ),
    (
        "operating pacer never holds back",
        "client/operating.py",
        "        if used + cost <= self.limit:\n            return 0.0",
        "        if True:\n            return 0.0",
        "../core/test_operating_pacer.py",
    ),
    (
        "error message not scrubbed",
        "client/errors.py",
        '        self.description = scrub(description) if description else ""',
        "        self.description = description",
        "test_secrets.py",
    ),
    (
        "429 not waited",
        "client/policy.py",
        "        if verdict.kind == OPERATING_LIMIT and isinstance(error, Bitrix24OperationLimit):",
        "        if False:",
        "test_faults.py",
    ),
    (
        "halt sends further chunks",
        "client/client.py",
        "                if halt and out.errors:\n                    break",
        "                if False:\n                    break",
        "test_faults.py",
    ),
    (
        "expired token not renewed",
        "client/policy.py",
        "        if verdict.kind == TOKEN_EXPIRED:\n            return Renew(",
        "        if False:\n            return Renew(",
        "test_tokens.py",
    ),
    (
        "airflow retries a lost write",
        "operators/base.py",
        "            raise WriteNotRetried.from_error(exc) from None",
        "            raise",
        "test_secrets.py",
    ),
    (
        "refresh not resent after a blip",
        "client/auth.py",
        "            max_retries=self.refresh_retries, backoff_base=self.refresh_backoff,",
        "            max_retries=0, backoff_base=self.refresh_backoff,",
        "test_tokens.py",
    ),
    (
        "token endpoint 5xx is an auth error",
        "client/auth.py",
        "        except (Bitrix24ServerError, Bitrix24RateLimited, Bitrix24AuthError, Bitrix24PortalMoved):",
        "        except (Bitrix24AuthError, Bitrix24PortalMoved):",
        "test_tokens.py",
    ),
    (
        "partly applied batch retried by airflow",
        "operators/direct.py",
        "            if applied:\n                raise BatchPartlyApplied(",
        "            if False:\n                raise BatchPartlyApplied(",
        "test_faults.py",
    ),
    (
        "operating_reset_at ignored",
        "client/policy.py",
        "        reset = error.reset_at or reset_at",
        "        reset = None",
        "test_faults.py",
    ),
    (
        "refresh endpoint errors hide hint",
        "client/auth.py",
        "It has expired (180 days) or was revoked",
        "Refresh failed",
        "test_tokens.py",
    ),
    (
        "state-changing read resent",
        "client/resend_safety.tsv",
        "event.offline.get\tunsafe\t",
        "event.offline.get\tsafe\t",
        "../core/test_safety.py",
    ),
    (
        "rotated pair saved before use",
        "client/auth.py",
        "                self._unsaved = pair\n                self._save_unsaved()",
        "                self.store.save(pair)",
        "test_tokens.py",
    ),
    (
        "in-memory pair private to each hook",
        "client/auth.py",
        "        return _SHARED_STORES.setdefault(key, MemoryTokenStore())",
        "        return MemoryTokenStore()",
        "test_tokens.py",
    ),
    (
        "host state dir not checked",
        "client/ratelimit.py",
        "    if problem:\n        raise Bitrix24ConfigError(",
        "    if False:\n        raise Bitrix24ConfigError(",
        "../core/test_ratelimit.py",
    ),
    (
        "host state file symlink followed",
        "client/ratelimit.py",
        'os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)',
        "os.O_RDWR | os.O_CREAT",
        "../core/test_ratelimit.py",
    ),
    (
        "absurd stored level obeyed",
        "client/ratelimit.py",
        "        return min(max(level, 0.0), 2 * self.capacity), min(updated, now)",
        "        return level, updated",
        "../core/test_ratelimit.py",
    ),
    (
        "words after a key scrubbed",
        "client/errors.py",
        'rf"(\\b{_CREDENTIAL_KEY}=)',
        'rf"(\\b{_CREDENTIAL_KEY}[=:]\\s*)',
        "../core/test_safety_scrub.py",
    ),
    (
        "adaptive rate never falls",
        "client/ratelimit.py",
        "            self.adaptive = adaptive_refused(self.adaptive, now, self.capacity, self.leak_per_second)",
        "            pass",
        "test_many_workers.py",
    ),
]


def check(name: str, rel: str, old: str, new: str, test: str, workdir: Path) -> bool:
    pkg = workdir / "pkg"
    shutil.rmtree(pkg, ignore_errors=True)
    shutil.copytree(SRC, pkg / SRC.name, ignore=shutil.ignore_patterns("__pycache__"))
    path = pkg / SRC.name / rel
    text = path.read_text()
    if text.count(old) != 1:
        print(f"STALE  {name}: the text to break occurs {text.count(old)} times in {rel}; update this script")
        return False
    path.write_text(text.replace(old, new))
    # Run from workdir: with the repo as the current directory its own package would win.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(TESTS / test), "-q", "-x", "-p", "no:cacheprovider"],
        cwd=workdir,
        env=dict(os.environ, PYTHONPATH=str(pkg)),
        capture_output=True,
        text=True,
    )
    failed = next((line for line in run.stdout.splitlines() if line.startswith("FAILED")), "")
    print(f"{'CAUGHT' if run.returncode else 'MISSED'} {name}  {failed.rsplit('::', 1)[-1]}", flush=True)
    return run.returncode != 0


def main(only: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not only or any(o in m[0] for o in only)]
    with tempfile.TemporaryDirectory(prefix="b24-mutations-") as tmp:
        results = [check(*m, workdir=Path(tmp)) for m in chosen]
    print(f"{sum(results)} of {len(results)} mutations caught")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
