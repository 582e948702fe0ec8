"""The production guard: with DEBUG false, a process refuses to start on the repository's
development keys, and `check --deploy` stays clean with production settings.

Each case is a fresh process without pytest, the one thing that exempts a process from the
guard (the TESTING variable does not).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from olcs.settings import DEV_HMAC_SECRET_KEY, DEV_SECRET_KEY

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET_KEY = secrets.token_urlsafe(64)
GOOD_HMAC_SECRET_KEY = secrets.token_urlsafe(48)
# Everything settings.py reads that could change the outcome; each case sets what it needs.
SETTINGS_ENV = (
    "TESTING",
    "DEBUG",
    "SECRET_KEY",
    "HMAC_SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "CSRF_TRUSTED_ORIGINS",
)


def production_env(**values: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_ENV and not key.startswith("PYTEST")
    }
    env.update(DJANGO_SETTINGS_MODULE="olcs.settings", DEBUG="false", **values)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def start_django(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(["-c", "import django; django.setup()"], env)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"SECRET_KEY": DEV_SECRET_KEY, "HMAC_SECRET_KEY": GOOD_HMAC_SECRET_KEY},
        {"SECRET_KEY": "too-short-" + "x" * 30, "HMAC_SECRET_KEY": GOOD_HMAC_SECRET_KEY},
    ],
    ids=["no keys", "development key", "short key"],
)
def test_production_refuses_a_missing_or_known_secret_key(keys):
    result = start_django(production_env(**keys))

    assert result.returncode != 0
    error = last_line(result.stderr)
    assert error.startswith("django.core.exceptions.ImproperlyConfigured: SECRET_KEY "), result.stderr


@pytest.mark.parametrize(
    "hmac_key", [None, DEV_HMAC_SECRET_KEY, "x" * 31], ids=["no key", "development key", "short key"]
)
def test_production_refuses_a_missing_or_known_hmac_key(hmac_key):
    keys = {"SECRET_KEY": GOOD_SECRET_KEY}
    if hmac_key is not None:
        keys["HMAC_SECRET_KEY"] = hmac_key

    result = start_django(production_env(**keys))

    assert result.returncode != 0
    error = last_line(result.stderr)
    assert error.startswith("django.core.exceptions.ImproperlyConfigured: HMAC_SECRET_KEY "), result.stderr


def test_production_starts_with_random_keys():
    result = start_django(production_env(SECRET_KEY=GOOD_SECRET_KEY, HMAC_SECRET_KEY=GOOD_HMAC_SECRET_KEY))

    assert result.returncode == 0, result.stderr


def test_testing_variable_does_not_disable_the_guard():
    result = start_django(production_env(TESTING="true"))

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in last_line(result.stderr)


def test_development_starts_on_the_development_keys():
    env = production_env()
    env["DEBUG"] = "true"

    assert start_django(env).returncode == 0


def test_check_deploy_is_clean_with_production_settings():
    env = production_env(
        ALLOWED_HOSTS="olcs.example.org",
        SECRET_KEY=GOOD_SECRET_KEY,
        HMAC_SECRET_KEY=GOOD_HMAC_SECRET_KEY,
    )

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
