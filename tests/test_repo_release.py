"""Release facts: the version is written once (pyproject.toml), the licence and changelog exist, the
declared dependencies are exactly what the package imports, and every data file ships in the wheel."""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
from importlib.metadata import packages_distributions, version
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest brings tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "airflow_provider_bitrix24"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# Import names whose distribution ``packages_distributions`` cannot tell (Airflow's meta package).
DISTRIBUTION_OF = {"airflow": "apache-airflow"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return canonical(match.group(0))


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in the package (functions included) -> importing files."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != PACKAGE.name:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_version_is_written_once_in_pyproject():
    from airflow_provider_bitrix24 import __version__
    from airflow_provider_bitrix24.get_provider_info import get_provider_info

    assert __version__ == PROJECT["version"] == version(PROJECT["name"])
    assert get_provider_info()["versions"] == [PROJECT["version"]]
    literal = re.compile(r"""["']\d+\.\d+\.\d+["']""")
    for path in (PACKAGE / "__init__.py", PACKAGE / "get_provider_info.py"):
        assert not literal.search(path.read_text()), f"{path.name} writes a version literal"


def test_licence_is_the_apache_2_text_pyproject_declares():
    text = (ROOT / "LICENSE").read_text()
    assert PROJECT["license"] == "Apache-2.0"
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert PROJECT["license-files"] == ["LICENSE"]


def test_changelog_describes_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "Keep a Changelog" in text
    assert re.search(rf"^## \[{re.escape(PROJECT['version'])}\]", text, re.MULTILINE)
    assert re.search(r"^## \[Unreleased\]", text, re.MULTILINE)


def test_project_urls_point_at_files_that_exist():
    for label, target in PROJECT["urls"].items():
        if "://" not in target:
            assert (ROOT / target).is_file(), f"{label}: {target}"


def test_dependencies_are_what_the_package_imports():
    imports = third_party_imports()
    provider = packages_distributions()
    imported = {
        canonical(DISTRIBUTION_OF.get(top) or provider.get(top, [top])[0]): files
        for top, files in imports.items()
    }
    declared = {requirement_name(r) for r in PROJECT["dependencies"]}
    undeclared = {dist: sorted(files) for dist, files in imported.items() if dist not in declared}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    assert declared <= set(imported), f"declared but never imported: {sorted(declared - set(imported))}"


def test_every_data_file_in_the_package_ships_in_the_wheel():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"][PACKAGE.name]
    data = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    ]
    missing = [f for f in data if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert not missing, f"add to [tool.setuptools.package-data]: {missing}"


def test_deprecations_fail_the_suite_except_named_third_party_ones():
    filters = PYPROJECT["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert filters[:2] == ["error::DeprecationWarning", "error::FutureWarning"]
    for rule in filters[2:]:
        action, message, category = rule.split(":")[:3]
        assert action == "ignore" and message and category, f"too broad: {rule}"
