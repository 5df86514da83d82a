"""scripts/test.py, the README's test command, without creating a venv or running anything:
every step runs, any failure fails the command, and CI runs the oldest supported Airflow too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
# subprocess is only replaced here, never called: the unit tier's guard would fail these tests if it were.
pytestmark = pytest.mark.unit


def load_test_script(monkeypatch, pin: str = ""):
    monkeypatch.setenv("B24_AIRFLOW_VERSION", pin)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.delitem(sys.modules, "_venv", raising=False)
    spec = importlib.util.spec_from_file_location("b24_script_test", SCRIPTS / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recorder:
    """Stands in for subprocess.run: records commands, answers each with an exit code."""

    def __init__(self, codes: dict[str, int] | None = None):
        self.codes = codes or {}
        self.commands: list[list[str]] = []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        name = Path(command[0]).name if Path(command[0]).name != "python" else command[2]
        return subprocess.CompletedProcess(command, self.codes.get(name, 0), stdout="", stderr="")

    def names(self) -> list[str]:
        return [Path(c[0]).name if Path(c[0]).name != "python" else c[2] for c in self.commands]


def install(monkeypatch, script, codes=None) -> tuple[Recorder, list[str]]:
    recorder = Recorder(codes)
    pins: list[str] = []

    def fake_venv(pin: str = script.AIRFLOW_PIN) -> Path:
        pins.append(pin)
        return Path(f"/venv-{pin or 'newest'}/bin/python")

    monkeypatch.setattr(script, "ensure_venv", fake_venv)
    monkeypatch.setattr(script.subprocess, "run", recorder)
    return recorder, pins


def test_checks_then_pytest_with_arguments_passed_through(monkeypatch):
    script = load_test_script(monkeypatch)
    recorder, pins = install(monkeypatch, script)
    assert script.main(["-k", "something"]) == 0
    assert recorder.names() == ["ruff", "ruff", "mypy", "lint-imports", "pytest"]
    assert recorder.commands[1][1:3] == ["format", "--check"]
    assert recorder.commands[-1][-3:] == ["pytest", "-k", "something"]
    assert pins == [""]  # no second Airflow outside CI


@pytest.mark.parametrize("failing", ["ruff", "mypy", "lint-imports", "pytest"])
def test_any_failing_step_fails_the_command_and_the_rest_still_run(monkeypatch, failing):
    script = load_test_script(monkeypatch)
    recorder, _ = install(monkeypatch, script, {failing: 1})
    assert script.main([]) == 1
    assert recorder.names() == ["ruff", "ruff", "mypy", "lint-imports", "pytest"]


def test_no_tests_collected_is_a_failure(monkeypatch):
    script = load_test_script(monkeypatch)
    install(monkeypatch, script, {"pytest": 5})
    assert script.main(["-k", "nothing-matches"]) == 1


@pytest.mark.parametrize("how", ["env", "flag"])
def test_ci_runs_the_suite_on_the_oldest_airflow_too(monkeypatch, how):
    script = load_test_script(monkeypatch)
    recorder, pins = install(monkeypatch, script)
    argv = ["-x"]
    if how == "env":
        monkeypatch.setenv("CI", "true")
    else:
        argv.append("--all-airflow")
    assert script.main(argv) == 0
    assert pins == ["", script.OLDEST_AIRFLOW]
    pytest_runs = [c for c in recorder.commands if c[1:3] == ["-m", "pytest"]]
    assert [c[0] for c in pytest_runs] == [
        "/venv-newest/bin/python",
        f"/venv-{script.OLDEST_AIRFLOW}/bin/python",
    ]
    assert all(c[3:] == ["-x"] for c in pytest_runs)  # the flag is ours, not pytest's


def test_failure_on_the_oldest_airflow_fails_the_command(monkeypatch):
    script = load_test_script(monkeypatch)
    recorder, _ = install(monkeypatch, script)
    monkeypatch.setenv("CI", "true")

    def run(command, **kwargs):
        recorder.commands.append(command)
        failed = command[0].startswith(f"/venv-{script.OLDEST_AIRFLOW}/")
        return subprocess.CompletedProcess(command, 1 if failed else 0, stdout="", stderr="")

    monkeypatch.setattr(script.subprocess, "run", run)
    assert script.main([]) == 1


def test_a_pinned_airflow_runs_only_pytest_on_that_release(monkeypatch):
    script = load_test_script(monkeypatch, pin="3.2.0")
    recorder, pins = install(monkeypatch, script)
    monkeypatch.setenv("CI", "true")
    assert script.main([]) == 0
    assert recorder.names() == ["pytest"]
    assert pins == ["3.2.0"]


def test_ci_script_runs_exactly_the_readme_test_command():
    readme = (SCRIPTS.parent / "README.md").read_text()
    ci = (SCRIPTS.parent / ".ci" / "run").read_text()
    assert "python3 scripts/test.py" in readme
    commands = [line for line in ci.splitlines() if "scripts/" in line]
    assert commands == ["python3 scripts/test.py"]


def test_pre_commit_runs_the_same_checks_as_the_test_command(monkeypatch):
    yaml = pytest.importorskip("yaml")
    script = load_test_script(monkeypatch)
    config = yaml.safe_load((SCRIPTS.parent / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"].split() for repo in config["repos"] for hook in repo["hooks"]]
    checks = [[Path(command[0]).name, *command[1:]] for _, command in script.checks(Path(".venv/bin/python"))]
    hooks = [[Path(entry[0]).name, *entry[1:]] for entry in entries]
    # The same tools and subcommands in the same order; file selection differs (pre-commit passes files).
    assert [c[:2] for c in checks] == [h[:2] for h in hooks]
