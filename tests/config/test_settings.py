import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the suite's own environment sets (scripts/test.sh) and the probes must not inherit.
_SETTINGS_FROM_ENV = {
    "DATABASE_URL", "SECRET_KEY", "DECISION_HMAC_KEY", "DEBUG", "CELERY_BROKER_URL", "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "SIMULATED_DISBURSEMENT_PARTNERS",
    "WEBHOOK_ALLOW_PRIVATE_URLS", "VAR_DIR", "CLOCK_AT", "CLOCK_ANCHOR",
}
# A key such as an operator generates (50+ characters, many distinct): Django's W009 stays quiet.
STRONG_KEY = "k3Q9vX2mR7tL0pW5zB8nC1yF4hJ6sD-aE_gU0iO2kM5qT8wV1xZ3cN7bH9rY4uP6j"


def _settings_probe(env: dict, expr: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in _SETTINGS_FROM_ENV
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


def _check_deploy(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS_FROM_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120,
    )


def test_deploy_check_passes_in_production_with_only_a_secret_key(tmp_path):
    result = _check_deploy({"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stdout + result.stderr
    # The one thing left to say is informational: decisions need their signing key.
    report = result.stdout + result.stderr
    assert "underwriting.I001" in report
    assert "WARNINGS" not in report and "ERRORS" not in report


def test_deploy_check_fails_when_https_is_switched_off_without_a_reason(tmp_path):
    result = _check_deploy({"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path), "SECURE_SSL_REDIRECT": "false"})

    assert result.returncode == 1
    assert "security.W008" in result.stderr


def test_production_is_https_only_by_default(tmp_path):
    result = _settings_probe(
        {"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path)},
        "settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " settings.SECURE_HSTS_PRELOAD, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE,"
        " settings.SECURE_PROXY_SSL_HEADER, settings.ALLOWED_HOSTS",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(True, 31536000, True, True, True, True, None, ['localhost', '127.0.0.1', '[::1]'])"


def test_plain_http_request_is_redirected_to_https_with_hsts_on_the_answer(tmp_path):
    result = _settings_probe(
        {"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path)},
        "[(r.status_code, r.headers.get('Location'), r.headers.get('Strict-Transport-Security'))"
        " for r in (__import__('django.test', fromlist=['Client']).Client().get('/login/', HTTP_HOST='localhost'),"
        " __import__('django.test', fromlist=['Client']).Client().get('/favicon.ico', HTTP_HOST='localhost',"
        " secure=True))]",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "[(301, 'https://localhost/login/', None), "
        "(302, '/static/favicon.svg', 'max-age=31536000; includeSubDomains; preload')]"
    )


def test_each_https_default_can_be_switched_off_for_a_proxy_or_plain_http(tmp_path):
    result = _settings_probe(
        {"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path), "SECURE_SSL_REDIRECT": "false",
         "SECURE_HSTS_SECONDS": "0", "SESSION_COOKIE_SECURE": "no", "CSRF_COOKIE_SECURE": "off",
         "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"},
        "settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE,"
        " settings.CSRF_COOKIE_SECURE, settings.SECURE_PROXY_SSL_HEADER",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(False, 0, False, False, ('HTTP_X_FORWARDED_PROTO', 'https'))"


def test_a_malformed_proxy_header_setting_stops_the_start_with_its_name(tmp_path):
    result = _settings_probe(
        {"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path), "SECURE_PROXY_SSL_HEADER": "https"},
        "settings.SECURE_PROXY_SSL_HEADER",
    )

    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https', got 'https'" in result.stderr


def test_disbursement_is_simulated_only_for_partners_named_in_the_environment(tmp_path):
    unset = _settings_probe({"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path)},
                            "settings.SIMULATED_DISBURSEMENT_PARTNERS")
    named = _settings_probe({"SECRET_KEY": STRONG_KEY, "VAR_DIR": str(tmp_path),
                             "SIMULATED_DISBURSEMENT_PARTNERS": "demo, sandbox"},
                            "settings.SIMULATED_DISBURSEMENT_PARTNERS")

    assert (unset.returncode, named.returncode) == (0, 0), unset.stderr + named.stderr
    assert (unset.stdout.strip(), named.stdout.strip()) == ("[]", "['demo', 'sandbox']")
