"""The only code that touches a patron's plaintext email and name.

Plaintext enters through the two serializer fields at the bottom, which hand it on wrapped in
`Personal` (its repr, str and format never show the value, so a debug page, an exception
report or a careless log argument cannot leak it), and leaves this module only as:

- keyed hashes: HMAC-SHA256 under the deployment's key ring (`settings.HMAC_SECRET_KEYS`), with
  the library's id and the purpose in the message, so the same person in two libraries gives
  two unrelated hashes and an email hash can never be matched against a name hash;
- the masked email (`j***@example.com`), the only form a person ever sees again.

A plain SHA-256 of an email or a name is reversible with a list of candidates; a keyed hash is
not, without the key. Each hash records the version of the key that made it, so keys can be
rotated (docs/privacy.md): lookups try every configured key, new hashes use the newest one.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import EmailValidator
from rest_framework import serializers

EMAIL_MAX_LENGTH = 254  # RFC 5321's limit for a path, what Django's EmailField uses
NAME_MAX_LENGTH = 200
MASKED_MAX_LENGTH = 260  # one character, "***@" and a domain of at most 253 characters


class Personal:
    """Personal data in transit from the request to this module's hash functions.

    It never shows its value: not in repr or str (tracebacks with locals, debug pages, log
    arguments), not in f-strings, and it refuses to be pickled (a task queue, a cache).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "<personal data>"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __reduce__(self):
        raise TypeError("personal data is never pickled")


@dataclass(frozen=True)
class KeyedHash:
    """An HMAC-SHA256 hex digest and the version of the key that made it."""

    version: int
    digest: str

    def __repr__(self) -> str:
        # Hashes are pseudonyms: they stay out of logs and reports too.
        return f"KeyedHash(version={self.version}, digest=<hidden>)"


@dataclass(frozen=True, repr=False)
class PatronDigests:
    """What is kept of a patron's email and name: hashes and the masked email."""

    email_candidates: tuple[KeyedHash, ...]  # one per configured key, newest first
    name: KeyedHash  # under the newest key
    email_masked: str

    @property
    def email(self) -> KeyedHash:
        """The email's hash under the newest key: what new and upgraded rows store."""
        return self.email_candidates[0]

    def __repr__(self) -> str:
        return f"PatronDigests(email_masked={self.email_masked!r}, versions={[c.version for c in self.email_candidates]})"


# --- Keys -------------------------------------------------------------------------------------


def key_ring() -> dict[int, bytes]:
    """The configured keys by version (settings.HMAC_SECRET_KEYS), read at each call so tests
    and a reloaded configuration take effect."""
    ring = getattr(settings, "HMAC_SECRET_KEYS", None) or {}
    if not ring or any(
        not isinstance(version, int) or version < 1 or not key for version, key in ring.items()
    ):
        raise ImproperlyConfigured("HMAC_SECRET_KEYS must map versions (1, 2, ...) to non-empty keys.")
    return {version: key.encode("utf-8") for version, key in ring.items()}


def current_key_version() -> int:
    """The version new hashes are made with: the highest configured one."""
    return max(key_ring())


def configured_key_versions() -> list[int]:
    return sorted(key_ring())


def _digest(key: bytes, purpose: str, tenant_id: int, value: str) -> str:
    # NUL separators: no choice of library id and value can imitate another pair.
    message = f"olcs:patron-{purpose}\x00{int(tenant_id)}\x00{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- Normalisation and masking ------------------------------------------------------------------


def _email(email: Personal) -> str:
    # API.md: the same email "case-insensitive, trimmed" is the same patron.
    return email._value.strip().lower()


def _name(name: Personal) -> str:
    # Compatibility forms, case and runs of spaces do not make another person.
    return " ".join(unicodedata.normalize("NFKC", name._value).casefold().split())


def _mask(normalized_email: str) -> str:
    local, _, domain = normalized_email.rpartition("@")
    return f"{local[:1]}***@{domain}"[:MASKED_MAX_LENGTH]


# --- Hashes -----------------------------------------------------------------------------------


def email_candidates(*, tenant_id: int, email: Personal) -> tuple[KeyedHash, ...]:
    """The email's hash in this library under every configured key, newest key first."""
    normalized = _email(email)
    ring = key_ring()
    return tuple(
        KeyedHash(version, _digest(ring[version], "email", tenant_id, normalized))
        for version in sorted(ring, reverse=True)
    )


def patron_digests(*, tenant_id: int, email: Personal, name: Personal) -> PatronDigests:
    """Everything OLCS keeps of a patron's email and name in one library."""
    ring = key_ring()
    newest = max(ring)
    return PatronDigests(
        email_candidates=email_candidates(tenant_id=tenant_id, email=email),
        name=KeyedHash(newest, _digest(ring[newest], "name", tenant_id, _name(name))),
        email_masked=_mask(_email(email)),
    )


def stored_hash_matches(
    *, digest: str | None, version: int | None, candidates: tuple[KeyedHash, ...]
) -> bool:
    """Whether a stored (digest, key version) is one of the candidates, in constant time.

    The database finds rows by the hash's index; this confirms without a timing side channel.
    """
    if not digest or version is None:
        return False
    expected = next((c.digest for c in candidates if c.version == version), None)
    return expected is not None and hmac.compare_digest(digest.encode("ascii"), expected.encode("ascii"))


# --- Where plaintext enters: the request's fields -------------------------------------------------


class _PersonalField(serializers.CharField):
    """A write-only text field whose validated value is `Personal`. Its errors never quote
    what was sent."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def __init__(self, **kwargs) -> None:
        kwargs["write_only"] = True
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        return Personal(value) if isinstance(value, str) else value


class PatronEmailField(_PersonalField):
    """A patron's email address (Django's EmailValidator), at most 254 characters."""

    default_error_messages = {"invalid": "Enter a valid email address."}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)
        self.validators.append(EmailValidator(message=self.error_messages["invalid"]))


class PatronNameField(_PersonalField):
    """A patron's name: any script, at most 200 characters, not blank."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", NAME_MAX_LENGTH)
        super().__init__(**kwargs)


class PatronEmailFormField(forms.EmailField):
    """The same for a Django form (the admin's "find a patron"): cleans to `Personal`, and its
    widget never renders a value back into the page."""

    widget = forms.EmailInput(attrs={"autocomplete": "off"})

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)

    def clean(self, value) -> Personal:
        return Personal(super().clean(value))

    def bound_data(self, data, initial):
        return None
