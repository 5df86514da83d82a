#!/usr/bin/env python3
"""Regenerate the facts in ``docs/architecture.md`` that the code knows: the module list (each
module's docstring summary), the imports between packages, the client's retry budgets and the
connection defaults. Only the marked blocks change.

Re-runnable: ``python scripts/gen_architecture_docs.py [--check]``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "airflow_provider_bitrix24"
OUTPUT = ROOT / "docs" / "architecture.md"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _generated import write_or_check  # noqa: E402

# Packages listed with a line per module; the rest get their own summary line only.
MODULE_BY_MODULE = ("client", "hooks", "polling", "sensors", "triggers", "plugins", "oauth", "emulator")
# In operators/, modules other than one-per-resource ones (listed by docs/operators.md).
OPERATOR_MACHINERY = ("base", "direct", "transfers", "_files")
# Subpackages summarised in one line.
SUMMARISED = ("emulator/handlers",)


def summary(path: Path) -> str:
    """The first sentence of a module's docstring, on one line, in Markdown."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    paragraph = re.sub(r":[a-z]+:`\.?([^`]+)`", r"`\1`", paragraph).replace("``", "`")
    match = re.match(r"(.+?(?<!\.)(?<!e\.g)(?<!i\.e)\.)(?=\s|$)", paragraph)
    return (match.group(1) if match else paragraph).rstrip(".")


def entry(indent: str, name: str, text: str, note: str = "") -> str:
    return f"{indent}- `{name}`{note}" + (f": {text}" if text else "")


def module_lines() -> list[str]:
    lines = [entry("", "get_provider_info.py", summary(PACKAGE / "get_provider_info.py"))]
    for package in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
        lines.append(entry("", f"{package.name}/", summary(package / "__init__.py")))
        if package.name == "operators":
            modules = [package / f"{m}.py" for m in OPERATOR_MACHINERY]
            resources = sorted(
                p.stem for p in package.glob("*.py") if p.stem not in {*OPERATOR_MACHINERY, "__init__"}
            )
            lines += [entry("  ", m.name, summary(m)) for m in modules if m.exists()]
            lines.append(
                f"  - one module per resource ({len(resources)}): {', '.join(f'`{r}`' for r in resources)}"
            )
            continue
        if package.name not in MODULE_BY_MODULE:
            continue
        for module in sorted(package.glob("*.py")):
            if module.name != "__init__.py":
                lines.append(entry("  ", module.name, summary(module)))
        for sub in sorted(p for p in package.iterdir() if (p / "__init__.py").exists()):
            relative = sub.relative_to(PACKAGE).as_posix()
            count = len([m for m in sub.glob("*.py") if m.name != "__init__.py"])
            note = f" ({count} modules)" if relative in SUMMARISED else ""
            lines.append(entry("  ", f"{sub.name}/", summary(sub / "__init__.py"), note))
    return lines


def default_lines() -> list[str]:
    from airflow_provider_bitrix24.client.ratelimit import DEFAULT_BURST, DEFAULT_PER_SECOND
    from airflow_provider_bitrix24.hooks.bitrix24 import DEFAULTS

    def number(value: float) -> str:
        return f"{value:g}"

    rows = [
        ("rate_limit", f'`{{"burst": {DEFAULT_BURST}, "per_second": {number(DEFAULT_PER_SECOND)}}}`'),
        *((key, f"`{number(value)}`") for key, value in DEFAULTS.items()),
    ]
    return ["| Extra | Default |", "|---|---|", *(f"| `{key}` | {value} |" for key, value in rows)]


def budget_lines() -> list[str]:
    """The fields of the client's retry policy and their defaults."""
    from dataclasses import fields

    from airflow_provider_bitrix24.client.policy import RetryPolicy

    return [
        "| Budget | Default |",
        "|---|---|",
        *(f"| `{f.name}` | `{f.default:g}` |" for f in fields(RetryPolicy)),
    ]


def layer_lines() -> list[str]:
    """Which of the package's layers each layer imports today (import-linter's graph, functions included)."""
    import grimp

    graph = grimp.build_graph(PACKAGE.name)
    layers = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    lines = ["| Package | Imports from the package |", "|---|---|"]
    for layer in layers:
        used = [
            other
            for other in layers
            if other != layer
            and graph.direct_import_exists(
                importer=f"{PACKAGE.name}.{layer}", imported=f"{PACKAGE.name}.{other}", as_packages=True
            )
        ]
        lines.append(f"| `{layer}` | {', '.join(f'`{u}`' for u in used) or 'nothing'} |")
    return lines


def replace_block(text: str, name: str, lines: list[str]) -> str:
    begin = f"<!-- generated by scripts/gen_architecture_docs.py: {name} -->"
    end = f"<!-- end of generated {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{OUTPUT.name}: markers for {name!r} are missing")
    return pattern.sub(lambda _: "\n".join([begin, *lines, end]), text)


def render(text: str) -> str:
    text = replace_block(text, "modules", module_lines())
    text = replace_block(text, "layers", layer_lines())
    text = replace_block(text, "budgets", budget_lines())
    return replace_block(text, "defaults", default_lines())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/architecture.md is out of date")
    args = parser.parse_args(argv)
    text = render(OUTPUT.read_text(encoding="utf-8"))
    return write_or_check(OUTPUT, text, script="gen_architecture_docs.py", check=args.check, root=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
