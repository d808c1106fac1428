import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _settings_probe(env: dict, expr: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SECRET_KEY", "DECISION_HMAC_KEY", "DEBUG", "CELERY_BROKER_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; print(({expr}))"],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True, text=True, timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings_probe({"DEBUG": "false"}, "settings.SECRET_KEY")

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_has_no_default_decision_signing_key():
    result = _settings_probe({"DEBUG": "false", "SECRET_KEY": "x"}, "settings.DECISION_HMAC_KEY")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


def test_embedded_default_is_sqlite_in_wal_mode_with_a_filesystem_broker(tmp_path):
    result = _settings_probe(
        {"DEBUG": "true", "VAR_DIR": str(tmp_path)},
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['OPTIONS']['transaction_mode'],"
        " settings.CELERY_BROKER_URL, __import__('django.db').db.connection.cursor()"
        ".execute('PRAGMA journal_mode').fetchone()[0]",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('django.db.backends.sqlite3', 'IMMEDIATE', 'filesystem://localhost/', 'wal')"


def test_database_url_selects_postgresql_with_jit_off(tmp_path):
    result = _settings_probe(
        {"SECRET_KEY": "x", "DECISION_HMAC_KEY": "y", "DATABASE_URL": "postgres://u@db.internal:5432/lend", "VAR_DIR": str(tmp_path)},
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['OPTIONS']",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('django.db.backends.postgresql', {'options': '-c jit=off'})"
