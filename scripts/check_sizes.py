"""Keeps the code easy to see: modules at most 500 lines, functions at most 60 (from `def` to the end of
the body, docstring included), in the apps and config; migrations are generated and left out.

At most five named exceptions, each with its reason beside it; an exception that is no longer needed
is an error too, so the list only shrinks. Run by scripts/test.sh:

    python scripts/check_sizes.py            # exit 1 and one line per breach
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "underwriting", "loans", "config")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_EXCEPTIONS = 5

# "path" for a module, "path:function" for a function.
EXCEPTIONS: dict[str, str] = {
}


def breaches(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[tuple[str, str]]:
    """(key, message) for every module or function over its limit."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if "migrations" in relative.parts:
                continue
            text = path.read_text(encoding="utf-8")
            lines = len(text.splitlines())
            if lines > MAX_MODULE_LINES:
                found.append((str(relative), f"{relative}: {lines} lines (at most {MAX_MODULE_LINES})"))
            for node in ast.walk(ast.parse(text, filename=str(relative))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append((f"{relative}:{node.name}", f"{relative}:{node.lineno} {node.name}: {length} "
                                      f"lines (at most {MAX_FUNCTION_LINES})"))
    return found


def problems(found: list[tuple[str, str]], exceptions: dict[str, str]) -> list[str]:
    out = [message for key, message in found if key not in exceptions]
    keys = {key for key, _ in found}
    out += [f"{key}: listed as an exception but within the limits now; remove it from EXCEPTIONS"
            for key in exceptions if key not in keys]
    if len(exceptions) > MAX_EXCEPTIONS:
        out.append(f"{len(exceptions)} exceptions; at most {MAX_EXCEPTIONS}")
    return out


def main() -> int:
    found = problems(breaches(), EXCEPTIONS)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
