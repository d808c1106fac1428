"""A production install is `pip install .` without extras (scripts/bootstrap.sh run does the same).

Every module the platform's own files import, at the top of a file or inside a function, must come
with that install: a module found only through the dev extras works in the suite and fails in
production (the webhook sender's `requests` once did). The test files, benches and scripts may use the
dev extras, and those must be declared there.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a production install runs: the apps, settings, manage.py and the fixtures' generators.
RUNTIME = ("manage.py", "config", "accounts", "loans", "underwriting", "fixtures")
# What only a developer runs, with `pip install -e '.[dev]'`.
DEV = ("tests", "bench", "scripts")
# Scripts run from their own folder, which puts that folder's other files on sys.path.
SCRIPT_FOLDERS = ("bench", "scripts", "fixtures/history", "fixtures/uploads")
SKIPPED_FOLDERS = {".venv", "node_modules", "var", "staticfiles", "build", ".git"}


def _local_names() -> set[str]:
    names = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {"manage", "tests", "bench", "fixtures", "scripts"}
    for folder in SCRIPT_FOLDERS:
        names |= {p.stem for p in (ROOT / folder).glob("*.py")}
    return names


def _python_files(roots: tuple[str, ...]) -> list[Path]:
    files = []
    for name in roots:
        path = ROOT / name
        if path.is_file():
            files.append(path)
            continue
        files += [p for p in path.rglob("*.py") if not SKIPPED_FOLDERS & set(p.relative_to(ROOT).parts)]
    return sorted(files)


def imported_modules(roots: tuple[str, ...]) -> dict[str, list[str]]:
    """Third-party modules imported anywhere in these files (absolute imports, any depth), each with
    the files importing it."""
    local = _local_names()
    found: dict[str, set[str]] = {}
    for path in _python_files(roots):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return {module: sorted(files) for module, files in sorted(found.items())}


# Run by the interpreter under test: which of these modules it cannot find.
_FIND = """
import importlib.util, json, sys
missing = []
for name in json.loads(sys.argv[1]):
    try:
        found = importlib.util.find_spec(name) is not None
    except ImportError:
        found = False
    if not found:
        missing.append(name)
print(json.dumps(missing))
"""


def _missing(python: str, modules: list[str], cwd: Path) -> list[str]:
    result = subprocess.run([python, "-c", _FIND, json.dumps(modules)], cwd=cwd, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_scan_sees_imports_made_inside_functions():
    modules = imported_modules(RUNTIME)

    # The webhook sender imports urllib3 at the top of its module; the training imports scipy inside a function.
    assert modules["urllib3"] == ["loans/webhooks/transport.py"]
    assert modules["scipy.special"] == ["underwriting/modeling/train.py"]
    assert "pytest" not in modules


def test_every_module_the_tests_benches_and_scripts_import_is_in_the_dev_install():
    modules = imported_modules(DEV)

    assert "pytest" in modules and "playwright.sync_api" in modules
    assert _missing(sys.executable, list(modules), ROOT) == []


def _project_copy(target: Path) -> Path:
    """The files pip needs, copied, so that building leaves nothing behind in the checkout."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, target / name)
    for package in ("config", "accounts", "loans", "underwriting"):
        shutil.copytree(ROOT / package, target / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@pytest.mark.install
def test_a_fresh_install_without_extras_has_every_module_the_platform_imports(tmp_path):
    # Given a new virtualenv with only `pip install .` (no extras)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(_project_copy(tmp_path / "src"))],
        capture_output=True, text=True, timeout=1200,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    # Then every module any runtime file imports is found, and the dev extras really are absent
    runtime = imported_modules(RUNTIME)
    assert _missing(python, list(runtime), tmp_path) == [], {m: runtime[m] for m in _missing(python, list(runtime), tmp_path)}
    assert _missing(python, ["pytest", "factory", "playwright", "time_machine"], tmp_path) == [
        "pytest", "factory", "playwright", "time_machine"]

    # And the site starts on it: every app, URL, view and admin module imports, the checks pass
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(DEBUG="true", VAR_DIR=str(tmp_path / "var"), PYTHONDONTWRITEBYTECODE="1")
    check = subprocess.run([python, "manage.py", "check", "--fail-level", "WARNING"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
