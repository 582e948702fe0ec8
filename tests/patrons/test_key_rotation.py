"""Rotating the HMAC key: hashes record their key version, lookups try every configured key,
new hashes use the newest, returning patrons are upgraded; the key report; the settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from olcs.settings import DEV_HMAC_SECRET_KEY, parse_hmac_keys
from patrons import pii, services
from patrons.models import Patron
from tests.patrons.conftest import RINGS_ISBN
from tests.tenants.test_settings import GOOD_SECRET_KEY, last_line, production_env, start_django

OLD_KEY = "old-key-" + "o" * 40
NEW_KEY = "new-key-" + "n" * 40
NEWER_KEY = "newer-key-" + "w" * 40
BOOKS = [{"isbn": RINGS_ISBN}]


def email_hmac(key: str, tenant_id: int, email: str) -> str:
    message = f"olcs:patron-email\x00{tenant_id}\x00{email}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


@pytest.mark.django_db
def test_a_patron_hashed_with_an_old_key_is_found_and_upgraded(submit, library_a):
    with override_settings(HMAC_SECRET_KEYS={1: OLD_KEY}):
        first = submit(BOOKS, email="Rotating@Example.org").json()["patron"]["id"]
    patron = Patron.objects.get(pk=first)
    assert (patron.email_key_version, patron.name_key_version) == (1, 1)
    assert patron.email_hash == email_hmac(OLD_KEY, library_a.tenant.pk, "rotating@example.org")

    with override_settings(HMAC_SECRET_KEYS={1: OLD_KEY, 2: NEW_KEY}):
        # Someone new is hashed with the newest key at once.
        newcomer = Patron.objects.get(pk=submit(BOOKS, email="new@example.org").json()["patron"]["id"])
        assert newcomer.email_key_version == 2
        # The returning patron is recognised under the old key, and moves to the new one.
        again = submit(BOOKS, email=" rotating@EXAMPLE.org").json()["patron"]["id"]

    assert again == first
    patron.refresh_from_db()
    assert (patron.email_key_version, patron.name_key_version) == (2, 2)
    assert patron.email_hash == email_hmac(NEW_KEY, library_a.tenant.pk, "rotating@example.org")
    # With the old key gone, the upgraded patron is still recognised.
    with override_settings(HMAC_SECRET_KEYS={2: NEW_KEY, 3: NEWER_KEY}):
        assert submit(BOOKS, email="rotating@example.org").json()["patron"]["id"] == first
    patron.refresh_from_db()
    assert patron.email_key_version == 3
    assert Patron.objects.count() == 2


@pytest.mark.django_db
def test_removing_a_key_still_in_use_makes_its_patrons_unrecognisable(submit):
    with override_settings(HMAC_SECRET_KEYS={1: OLD_KEY}):
        first = submit(BOOKS, email="left@example.org").json()["patron"]["id"]

    with override_settings(HMAC_SECRET_KEYS={2: NEW_KEY}):
        again = submit(BOOKS, email="left@example.org").json()["patron"]["id"]

    assert again != first  # which is why `manage.py patron_keys` says when a key is free


@pytest.mark.django_db
def test_find_patron_uses_every_configured_key(submit, library_a):
    with override_settings(HMAC_SECRET_KEYS={1: OLD_KEY}):
        first = submit(BOOKS, email="find.me@example.org").json()["patron"]["id"]

    with override_settings(HMAC_SECRET_KEYS={1: OLD_KEY, 2: NEW_KEY}):
        found = services.find_patron(tenant=library_a.tenant, email=pii.Personal("FIND.ME@example.org"))
        assert found is not None and str(found.pk) == first
        assert services.find_patron(tenant=library_a.tenant, email=pii.Personal("other@example.org")) is None
    with override_settings(HMAC_SECRET_KEYS={2: NEW_KEY}):
        assert (
            services.find_patron(tenant=library_a.tenant, email=pii.Personal("find.me@example.org")) is None
        )


def test_a_stored_hash_matches_only_its_own_version():
    candidates = (pii.KeyedHash(2, "b" * 64), pii.KeyedHash(1, "a" * 64))

    assert pii.stored_hash_matches(digest="a" * 64, version=1, candidates=candidates)
    assert not pii.stored_hash_matches(digest="a" * 64, version=2, candidates=candidates)
    assert not pii.stored_hash_matches(digest="a" * 64, version=3, candidates=candidates)
    assert not pii.stored_hash_matches(digest=None, version=1, candidates=candidates)


@pytest.mark.parametrize("ring", [{}, {0: "x" * 40}, {1: ""}, {"1": "x" * 40}])
def test_a_broken_key_ring_is_refused(settings, ring):
    settings.HMAC_SECRET_KEYS = ring

    with pytest.raises(ImproperlyConfigured):
        pii.current_key_version()


@pytest.mark.django_db
def test_the_key_report_says_which_versions_are_still_used(submit, capsys):
    with override_settings(HMAC_SECRET_KEYS={1: OLD_KEY}):
        submit(BOOKS, email="one@example.org")
        submit(BOOKS, email="two@example.org")
    with override_settings(HMAC_SECRET_KEYS={1: OLD_KEY, 2: NEW_KEY, 3: NEWER_KEY}):
        submit(BOOKS, email="one@example.org")  # upgraded to 3
        call_command("patron_keys", "--json")
        report = json.loads(capsys.readouterr().out)
        assert report == {
            "configured_versions": [1, 2, 3],
            "current_version": 3,
            "patrons": 2,
            "email_hashes": {"1": 1, "2": 0, "3": 1},
            "name_hashes": {"1": 1, "2": 0, "3": 1},
            "removable_versions": [2],
            "missing_versions": [],
        }
        call_command("patron_keys")
        text = capsys.readouterr().out
        assert "version 1: 1 email hashes, 1 name hashes" in text
        assert "Version(s) 1 still in use" in text
        assert "No patron uses version(s) 2 any more: they can be removed." in text
    with (
        override_settings(HMAC_SECRET_KEYS={3: NEWER_KEY}),
        pytest.raises(CommandError, match="does not configure"),
    ):
        call_command("patron_keys", "--check")


# --- Settings: HMAC_SECRET_KEYS -------------------------------------------------------------------


def test_key_ring_parsing():
    assert parse_hmac_keys("1:first-key, 2 : second:key:with:colons ") == {
        1: "first-key",
        2: "second:key:with:colons",
    }


@pytest.mark.parametrize(
    "value", ["", "x", "1:", ":key", "0:key", "a:key", "1:key,1:other", "1:key,,2:k", "-1:key"]
)
def test_a_malformed_key_ring_is_refused_without_naming_a_key(value):
    with pytest.raises(ImproperlyConfigured) as error:
        parse_hmac_keys(value)

    assert "key," not in str(error.value) and "other" not in str(error.value)


RING_GOOD = f"1:{secrets.token_urlsafe(40)},2:{secrets.token_urlsafe(40)}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "ring",
    [f"1:{secrets.token_urlsafe(40)},2:short", f"1:{DEV_HMAC_SECRET_KEY},2:{secrets.token_urlsafe(40)}"],
    ids=["a short key", "the development key"],
)
def test_production_refuses_a_weak_key_anywhere_in_the_ring(ring):
    result = start_django(production_env(SECRET_KEY=GOOD_SECRET_KEY, HMAC_SECRET_KEYS=ring))

    assert result.returncode != 0
    error = last_line(result.stderr)
    assert error.startswith(
        "django.core.exceptions.ImproperlyConfigured: HMAC_SECRET_KEYS: the key of version"
    )
    assert ring.split(",")[1].split(":")[1] not in result.stderr


@pytest.mark.slow
def test_production_starts_with_a_good_ring_and_no_hmac_secret_key():
    result = start_django(production_env(SECRET_KEY=GOOD_SECRET_KEY, HMAC_SECRET_KEYS=RING_GOOD))

    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_an_hmac_secret_key_outside_the_ring_is_refused_even_in_development():
    env = production_env(HMAC_SECRET_KEYS=RING_GOOD, HMAC_SECRET_KEY=secrets.token_urlsafe(40))
    env["DEBUG"] = "true"

    result = start_django(env)

    assert result.returncode != 0
    assert "HMAC_SECRET_KEY is not one of the HMAC_SECRET_KEYS" in last_line(result.stderr)
