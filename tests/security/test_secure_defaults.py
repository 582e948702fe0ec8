"""Secure by default: DEBUG is off unless asked for, the development keys only run in
development, and even in development the technical error pages hold no secret and no
personal data. Plain HTTP never loses a request body to a redirect, and X-Forwarded-Proto is
believed only when the operator says a proxy sets it.

The defaults are read by fresh processes without pytest (pytest itself counts as development).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.test import override_settings
from rest_framework.test import APIClient

from patrons import services as patron_services
from tests.conftest import bearer
from tests.patrons.conftest import RINGS_ISBN, TOLKIEN, submission_body
from tests.processes import PROJECT_ROOT

GOOD_SECRET_KEY = secrets.token_urlsafe(64)
GOOD_HMAC_SECRET_KEY = secrets.token_urlsafe(48)
DB_PASSWORD = "dbCanaryPw7731"
REDIS_PASSWORD = "redisCanaryPw4419"
BEARER_CANARY = "olcs_CanaryBearer0000000000000000000000"
EMAIL_CANARY = "body.canary.8812@example.org"
NAME_CANARY = "Bodycanary Ninetwelve"
# Everything settings.py reads that could change these outcomes; each case sets what it needs.
SETTINGS_ENV = (
    "TESTING",
    "DEBUG",
    "SECRET_KEY",
    "HMAC_SECRET_KEY",
    "HMAC_SECRET_KEYS",
    "ALLOWED_HOSTS",
    "REDIS_URL",
    "SECURE_SSL_REDIRECT",
    "TRUST_X_FORWARDED_PROTO",
    "SERVER_TIMING",
)


def fresh_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """This process's environment without pytest's or settings' variables, on a scratch SQLite file."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_ENV and not key.startswith("PYTEST")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="olcs.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        LOG_LEVEL="WARNING",
    )
    env.update(values)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


READ_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps({name: getattr(settings, name, 'missing') for name in "
    "('DEBUG', 'SECURE_SSL_REDIRECT', 'SECURE_PROXY_SSL_HEADER', 'SERVER_TIMING', 'SESSION_COOKIE_SECURE')}))"
)


def settings_of(env: dict[str, str]) -> dict:
    done = run(["-c", READ_SETTINGS], env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


# --- DEBUG off by default, development keys only in development -----------------------------------


@pytest.mark.slow
def test_with_debug_unset_a_process_runs_in_production_mode(tmp_path):
    values = settings_of(
        fresh_env(tmp_path, SECRET_KEY=GOOD_SECRET_KEY, HMAC_SECRET_KEY=GOOD_HMAC_SECRET_KEY)
    )
    assert values == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_PROXY_SSL_HEADER": None,
        "SERVER_TIMING": False,
        "SESSION_COOKIE_SECURE": True,
    }


@pytest.mark.slow
@pytest.mark.parametrize("debug", [None, "", "false", "0"])
def test_the_development_keys_are_refused_unless_debug_is_true(tmp_path, debug):
    env = fresh_env(tmp_path) if debug is None else fresh_env(tmp_path, DEBUG=debug)
    done = run(["manage.py", "check"], env)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "SECRET_KEY must be set" in done.stderr
    assert "DEBUG=true" in done.stderr  # the message says how to run in development


@pytest.mark.slow
def test_a_server_with_debug_unset_and_the_development_keys_does_not_start(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT_ROOT,
        env=fresh_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode != 0
    assert "SECRET_KEY must be set to a random value" in stderr


@pytest.mark.slow
def test_debug_true_is_development_mode_on_the_development_keys(tmp_path):
    env = fresh_env(tmp_path, DEBUG="true")
    assert run(["manage.py", "check"], env).returncode == 0
    values = settings_of(env)
    assert values["DEBUG"] is True and values["SERVER_TIMING"] is True
    assert values["SECURE_SSL_REDIRECT"] is False


# --- The technical pages of development hold no secret and no personal data ------------------------

SECRET_URLS = {
    "DATABASE_URL": f"postgres://olcs:{DB_PASSWORD}@db.internal:5432/olcs",
    "REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
}
# Settings as a deployment on PostgreSQL and Redis has them (only their shape matters to the page).
DEPLOYED_SETTINGS = {
    **SECRET_URLS,
    "Q_CLUSTER": {"name": "olcs", "redis": SECRET_URLS["REDIS_URL"]},
    "SOME_BACKUP_TARGET": f"s3://backup:{DB_PASSWORD}@bucket.internal/olcs",
}
NEEDLES = [DB_PASSWORD, REDIS_PASSWORD, BEARER_CANARY, EMAIL_CANARY, NAME_CANARY, EMAIL_CANARY.split("@")[0]]


def leaked(text: str) -> list[str]:
    lowered = text.lower()
    return [needle for needle in NEEDLES if needle.lower() in lowered]


@pytest.mark.django_db
def test_a_forced_500_in_development_shows_no_secret_and_no_patron_data(library_a, fake_ol, monkeypatch):
    fake_ol.add_work("/works/OL27448W", "The Lord of the Rings", authors=[TOLKIEN], isbns=[RINGS_ISBN])

    def catalog_on_fire(**kwargs):
        raise RuntimeError("the catalog is on fire")

    monkeypatch.setattr(patron_services, "link_catalog_books", catalog_on_fire)
    client = APIClient(raise_request_exception=False)
    client.credentials(**bearer(library_a.raw_key))
    body = submission_body([{"isbn": RINGS_ISBN}], email=EMAIL_CANARY, name=NAME_CANARY)
    with override_settings(DEBUG=True, **DEPLOYED_SETTINGS):
        response = client.post(
            f"/tenants/{library_a.slug}/submissions/?note={EMAIL_CANARY}",
            body,
            format="json",
            HTTP_X_BACKUP=BEARER_CANARY,
            HTTP_COOKIE=f"sessionid={BEARER_CANARY}",
        )
    page = response.content.decode()
    assert response.status_code == 500
    assert "the catalog is on fire" in page  # it is the technical page, with the frames
    assert "link_catalog_books" in page
    assert leaked(page) == []
    # The raw key of the request is no more shown than the canaries.
    assert library_a.raw_key not in page


@pytest.mark.django_db
def test_a_bad_host_in_development_shows_no_secret_and_no_request_body(library_a):
    client = APIClient(raise_request_exception=False)
    with override_settings(DEBUG=True, **DEPLOYED_SETTINGS):
        response = client.post(
            f"/tenants/{library_a.slug}/submissions/",
            json.dumps(submission_body([{"isbn": RINGS_ISBN}], email=EMAIL_CANARY, name=NAME_CANARY)),
            content_type="application/json",
            HTTP_HOST="evil.example",
            HTTP_AUTHORIZATION=f"Bearer {BEARER_CANARY}",
        )
        form = client.post(
            f"/tenants/{library_a.slug}/submissions/",
            {"email": EMAIL_CANARY, "name": NAME_CANARY},
            HTTP_HOST="evil.example",
        )
    for answer in (response, form):
        page = answer.content.decode()
        assert answer.status_code == 400
        assert "DisallowedHost" in page and "ALLOWED_HOSTS" in page
        assert leaked(page) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def development_server(tmp_path: Path, command: list[str], port: int, **values: str) -> Iterator[str]:
    env = fresh_env(tmp_path, DEBUG="true", REDIS_URL=SECRET_URLS["REDIS_URL"], **values)
    # An extra secret in the process environment: runserver copies it into every request's META.
    env["OLCS_BACKUP_URL"] = DEPLOYED_SETTINGS["SOME_BACKUP_TARGET"]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                # The first answer loads the application (a gunicorn worker does so lazily).
                requests.get(f"{base}/", timeout=10, headers={"Host": "evil.example"})
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
@pytest.mark.parametrize("server", ["runserver", "gunicorn"])
def test_a_real_development_server_shows_no_secret_on_a_bad_host(tmp_path, server):
    port = free_port()
    if server == "runserver":
        # runserver reads the migrations from its database at start: a scratch SQLite file.
        command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        values = {}
    else:
        # gunicorn connects on the first query only, which a bad Host never reaches.
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        command = [gunicorn, "olcs.wsgi", "-w", "1", "-b", f"127.0.0.1:{port}"]
        values = {"DATABASE_URL": SECRET_URLS["DATABASE_URL"]}
    with development_server(tmp_path, command, port, **values) as base:
        response = requests.post(
            f"{base}/tenants/demo/submissions/",
            json=submission_body([{"isbn": RINGS_ISBN}], email=EMAIL_CANARY, name=NAME_CANARY),
            headers={"Host": "evil.example", "Authorization": f"Bearer {BEARER_CANARY}"},
            timeout=30,
        )
    page = response.text
    assert response.status_code == 400
    assert "DisallowedHost" in page
    assert leaked(page) == []


# --- Plain HTTP: a redirect only where it loses nothing ---------------------------------------------


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_plain_http_write_is_refused_in_json_not_redirected(library_a, library_b, method):
    for library in (library_a, library_b):
        client = APIClient()
        client.credentials(**bearer(library.raw_key))
        path = f"/tenants/{library.slug}/submissions/"
        response = getattr(client, method)(path, {"email": "a@example.org"}, format="json")
        assert response.status_code == 403, response.content
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "https_required"
        assert set(response.json()) == {"detail", "code"}
        assert "Location" not in response
        assert response["X-Request-ID"]


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_reads_are_redirected_and_https_writes_go_through(library_a):
    client = APIClient()
    client.credentials(**bearer(library_a.raw_key))
    path = f"/tenants/{library_a.slug}/submissions/"
    for method in ("get", "head"):
        response = getattr(client, method)(path)
        assert response.status_code == 301
        assert response["Location"] == f"https://testserver{path}"
    secure = client.post(path, {"email": "a@example.org"}, format="json", secure=True)
    assert secure.status_code == 400 and secure.json()["code"] == "invalid"
    # /health stays exempt, whatever the method.
    assert client.get("/health").status_code == 200
    assert client.post("/health").status_code == 405


# --- X-Forwarded-Proto: believed only when the operator opts in ---------------------------------------


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=3600)
def test_x_forwarded_proto_from_a_client_is_not_believed_by_default(library_a):
    client = APIClient()
    client.credentials(**bearer(library_a.raw_key))
    path = f"/tenants/{library_a.slug}"
    forged = client.get(path, HTTP_X_FORWARDED_PROTO="https")
    assert forged.status_code == 301  # still plain HTTP: redirected
    forged_write = client.post(f"{path}/submissions/", {}, format="json", HTTP_X_FORWARDED_PROTO="https")
    assert forged_write.status_code == 403 and forged_write.json()["code"] == "https_required"
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        trusted = client.get(path, HTTP_X_FORWARDED_PROTO="https")
        assert trusted.status_code == 200
        assert trusted["Strict-Transport-Security"] == "max-age=3600; includeSubDomains" or trusted[
            "Strict-Transport-Security"
        ].startswith("max-age=3600")
        assert client.get(path, HTTP_X_FORWARDED_PROTO="http").status_code == 301


@pytest.mark.slow
@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("false", None), ("true", ["HTTP_X_FORWARDED_PROTO", "https"])],
)
def test_the_proxy_header_is_an_opt_in(tmp_path, value, expected):
    env = fresh_env(tmp_path, SECRET_KEY=GOOD_SECRET_KEY, HMAC_SECRET_KEY=GOOD_HMAC_SECRET_KEY)
    if value is not None:
        env["TRUST_X_FORWARDED_PROTO"] = value
    assert settings_of(env)["SECURE_PROXY_SSL_HEADER"] == expected
