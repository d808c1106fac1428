"""The size check (scripts/check_sizes.py) run by the test command."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_sizes", ROOT / "scripts" / "check_sizes.py")
check_sizes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_sizes)


def _tree(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "migrations").mkdir(parents=True)
    body = "\n".join(f"    x{i} = {i}" for i in range(59))
    (app / "short.py").write_text(f"def fits():\n{body}\n")  # 60 lines: at the limit
    (app / "long.py").write_text(f"def too_long():\n{body}\n    return x0\n")  # 61 lines
    (app / "big.py").write_text("\n".join(f"V{i} = {i}" for i in range(501)) + "\n")
    (app / "migrations" / "0001_initial.py").write_text("\n".join(f"V{i} = {i}" for i in range(900)) + "\n")
    return tmp_path


def test_a_function_over_60_lines_and_a_module_over_500_are_reported_migrations_are_not(tmp_path):
    found = check_sizes.breaches(_tree(tmp_path), ("app",))

    assert found == [("app/big.py", "app/big.py: 501 lines (at most 500)"),
                     ("app/long.py:too_long", "app/long.py:1 too_long: 61 lines (at most 60)")]


def test_named_exceptions_silence_a_breach_and_a_stale_one_is_an_error(tmp_path):
    found = check_sizes.breaches(_tree(tmp_path), ("app",))

    assert check_sizes.problems(found, {"app/big.py": "why", "app/long.py:too_long": "why"}) == []
    assert check_sizes.problems(found, {"app/big.py": "why", "app/long.py:too_long": "why", "app/short.py:fits": "why"}) == [
        "app/short.py:fits: listed as an exception but within the limits now; remove it from EXCEPTIONS"]
    too_many = {f"app/m{i}.py": "why" for i in range(6)}
    assert check_sizes.problems([], too_many)[-1] == "6 exceptions; at most 5"


def test_the_project_keeps_its_limits():
    assert check_sizes.problems(check_sizes.breaches(), check_sizes.EXCEPTIONS) == []
