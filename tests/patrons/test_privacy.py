"""Privacy by design, checked from the outside: after real traffic, no table, log line, response,
admin page or exception report holds a canary patron's email or name, in clear or as an
unsalted SHA-256; and the keyed hashes themselves stay in their two columns."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import models
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter

from olcs.logs import JsonFormatter, RequestIdFilter
from patrons import pii, services
from patrons.models import Patron
from tests.factories import MembershipFactory, UserFactory
from tests.patrons.conftest import RINGS_ISBN, TOLKIEN, isbn13, submission_body

pytestmark = pytest.mark.django_db

CANARY_EMAIL = "  Canary.Patron+OLCS@Example.COM "
CANARY_NAME = "Philippa Canarywood"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plaintext_needles() -> list[str]:
    """Every form of the canary that must never be stored, logged or shown (compared lower-case)."""
    email = CANARY_EMAIL.strip().lower()
    forms = {CANARY_EMAIL, CANARY_EMAIL.strip(), email, CANARY_NAME, CANARY_NAME.lower()}
    needles = {email, email.split("@")[0], CANARY_NAME.lower(), "canarywood"}
    needles |= {sha256(form) for form in forms}
    return sorted(needles)


def text_values(model: type[models.Model]) -> Iterator[tuple[str, str]]:
    """(column, text) of every character, text and JSON column of every row of a model."""
    fields = [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField | models.JSONField)
        or field.get_internal_type() in ("CharField", "TextField", "JSONField", "BinaryField")
    ]
    if not fields:
        return
    names = [field.attname for field in fields]
    for row in model._base_manager.values_list(*names):
        for name, value in zip(names, row, strict=True):
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value, default=repr)
            yield f"{model._meta.db_table}.{name}", text
    if model is Session:
        for session in Session.objects.all():
            yield "django_session (decoded)", json.dumps(session.get_decoded(), default=repr)


def find(needles: list[str], haystacks: Iterator[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(where, needle) for where, text in haystacks for needle in needles if needle in text.lower()]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The production JSON formatter on every logger a request or a task writes to, at DEBUG
    (except django.db.backends, which the settings keep at INFO so SQL is never logged)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    names = ["", "django", "django-q", "olcs.request", "patrons", "ingestion", "catalog"]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield stream
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def traffic(fake_ol, submit, run_on_commit, client_a, client_b, library_a, library_b, catalog_book):
    """Everything a canary patron goes through: submissions in two libraries (resolved at once,
    in the background, not found), an invalid submission, lists and details, the admin."""
    fake_ol.add_work("/works/OL27448W", "The Lord of the Rings", authors=[TOLKIEN], isbns=[RINGS_ISBN])
    catalog_book(library_a.tenant, "/works/OL1W", "Already Here", isbns=[isbn13(1)])
    responses = []
    books = [
        {"isbn": isbn13(1)},
        {"isbn": RINGS_ISBN},
        {"isbn": isbn13(404)},
        {"open_library_key": "OL27448W"},
    ]
    for client, slug in ((client_a, "alexandria"), (client_b, "bodleian")):
        response, _ = run_on_commit(
            lambda client=client, slug=slug: submit(
                books, email=CANARY_EMAIL, name=CANARY_NAME, client=client, slug=slug
            )
        )
        responses.append(response)
    # The same patron again, and one to erase.
    responses.append(submit(books[:1], email=CANARY_EMAIL.upper(), name=CANARY_NAME))
    gone = submit(books[:1], email="erase.me@example.org").json()["patron"]["id"]
    responses.append(client_a.delete(f"/tenants/alexandria/patrons/{gone}"))
    # The website's erasure by email: one that is nobody's (204), and a malformed canary (400).
    for email in ("nobody." + CANARY_EMAIL.strip(), CANARY_EMAIL.strip() + "@"):
        responses.append(client_a.post("/tenants/alexandria/patrons/erase", {"email": email}, format="json"))
    assert [response.status_code for response in responses[-2:]] == [204, 400]
    # Invalid: the canary in a malformed email, and in a name too long.
    for body in (
        submission_body(books, email=CANARY_EMAIL.strip() + "@", name=CANARY_NAME),
        submission_body(books, email=CANARY_EMAIL, name=CANARY_NAME + "x" * 300),
        {**submission_body(books, email=CANARY_EMAIL, name=CANARY_NAME), CANARY_EMAIL: CANARY_NAME},
    ):
        invalid = client_a.post("/tenants/alexandria/submissions/", body, format="json")
        assert invalid.status_code == 400
        responses.append(invalid)
    responses.append(
        client_a.post(
            "/tenants/alexandria/submissions/",
            submission_body(books, email="not an email " + CANARY_EMAIL, name=CANARY_NAME),
            format="json",
            HTTP_ACCEPT="text/html",
        )
    )
    for path in ("submissions/", "patrons/"):
        listing = client_a.get(f"/tenants/alexandria/{path}")
        responses.append(listing)
        for item in listing.json()["items"]:
            responses.append(client_a.get(f"/tenants/alexandria/{path}{item['id']}"))
    # A librarian looks at the admin pages and finds the canary by email.
    librarian = UserFactory(username="lib-a", password=None)
    MembershipFactory(tenant=library_a.tenant, user=librarian)
    browser = Client()
    browser.force_login(librarian)
    patron = Patron.objects.for_tenant(library_a.tenant).get()
    for name, args in (
        ("admin:patrons_patron_changelist", []),
        ("admin:patrons_patron_change", [patron.pk]),
        ("admin:patrons_submission_changelist", []),
        ("admin:patrons_requestedbook_changelist", []),
        ("admin:patrons_patron_find", []),
    ):
        page = browser.get(reverse(name, args=args))
        assert page.status_code == 200, name
        responses.append(page)
    found = browser.post(reverse("admin:patrons_patron_find"), {"email": CANARY_EMAIL.strip()}, follow=True)
    assert found.redirect_chain[-1][0] == reverse("admin:patrons_patron_change", args=[patron.pk])
    responses.append(found)
    missing = browser.post(
        reverse("admin:patrons_patron_find"), {"email": "canarywood@example.org"}, follow=True
    )
    responses.append(missing)
    return responses


def test_no_table_holds_the_canary_in_clear_or_as_a_plain_hash(traffic):
    scanned = [pair for model in apps.get_models(include_auto_created=True) for pair in text_values(model)]

    assert find(plaintext_needles(), iter(scanned)) == []
    # The scan reads what is there: the masked email, the books' inputs, the worker's tasks.
    assert ("patrons_patron.email_masked", "c***@example.com") in find(["c***@example.com"], iter(scanned))
    assert {"patrons_submissionitem.input", "django_q_task.name"} <= {where for where, _ in scanned}
    assert Patron.objects.count() == 2  # the canary in each library; the erased patron is gone


def test_keyed_hashes_stay_in_their_columns(traffic):
    patrons = list(Patron.objects.all())
    hashes = [h for patron in patrons for h in (patron.email_hash, patron.name_hash)]
    own_columns = {"patrons_patron.email_hash", "patrons_patron.name_hash"}

    elsewhere = [
        (where, needle)
        for where, needle in find(
            hashes, (pair for model in apps.get_models() for pair in text_values(model))
        )
        if where not in own_columns
    ]

    assert elsewhere == []


def test_no_response_or_admin_page_shows_the_canary_or_a_hash(traffic):
    hashes = [h for patron in Patron.objects.all() for h in (patron.email_hash, patron.name_hash)]
    needles = plaintext_needles() + hashes

    shown = [
        (response.request["PATH_INFO"], needle)
        for response in traffic
        for needle in needles
        if needle in response.content.decode("utf-8").lower() or needle in str(response.headers).lower()
    ]

    assert shown == []
    # The masked email is what people see.
    assert any(b"c***@example.com" in response.content for response in traffic)


def test_the_json_logs_of_submissions_and_their_resolution_hold_no_canary(json_log, traffic, capfd):
    hashes = [h for patron in Patron.objects.all() for h in (patron.email_hash, patron.name_hash)]
    needles = plaintext_needles() + hashes
    lines = json_log.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object

    assert {"submission recorded", "submission resolved", "patron erased"} <= {r["message"] for r in records}
    assert [(line, n) for line in lines for n in needles if n in line.lower()] == []
    captured = capfd.readouterr()
    assert [n for n in needles if n in (captured.out + captured.err).lower()] == []


def from_the_request_handler(tb):
    """The traceback from Django's request handler down: what a production report holds (the
    test client's own frames above it carry the body it sent)."""
    while tb is not None and "django/core/handlers/" not in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    return tb


def test_an_exception_report_of_a_crashed_submission_shows_no_canary(client_a, library_a, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("the catalog is on fire")

    monkeypatch.setattr(services, "link_catalog_books", crash)

    with pytest.raises(RuntimeError) as excinfo:
        client_a.post(
            "/tenants/alexandria/submissions/",
            submission_body([{"isbn": RINGS_ISBN}], email=CANARY_EMAIL, name=CANARY_NAME),
            format="json",
        )

    report = ExceptionReporter(None, excinfo.type, excinfo.value, from_the_request_handler(excinfo.tb))
    functions = [frame["function"] for frame in report.get_traceback_frames()]
    assert "post" in functions and "record_submission" in functions  # the report has every frame
    for text in (report.get_traceback_text(), report.get_traceback_html()):
        assert [needle for needle in plaintext_needles() if needle in text.lower()] == []


def test_personal_data_never_shows_itself():
    secret = pii.Personal(CANARY_EMAIL)

    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)):  # noqa: UP031
        assert "canary" not in shown.lower()
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    digests = pii.patron_digests(tenant_id=1, email=secret, name=pii.Personal(CANARY_NAME))
    assert "canary" not in repr(digests).lower()
    assert digests.email.digest not in repr(digests)
    assert digests.email.digest not in repr(digests.email)


def test_hashes_are_keyed_per_library_and_per_purpose(settings):
    email, name = pii.Personal(CANARY_EMAIL), pii.Personal(CANARY_NAME)
    in_one = pii.patron_digests(tenant_id=1, email=email, name=name)
    in_two = pii.patron_digests(tenant_id=2, email=email, name=name)
    normalized = CANARY_EMAIL.strip().lower()

    assert in_one.email.digest != in_two.email.digest
    assert in_one.name.digest != in_two.name.digest
    assert in_one.email.digest != in_one.name.digest
    assert in_one.email.digest not in {sha256(normalized), sha256(CANARY_EMAIL)}
    assert len(in_one.email.digest) == 64 and int(in_one.email.digest, 16) >= 0
    assert in_one.email_masked == "c***@example.com"
    settings.HMAC_SECRET_KEYS = {1: "another-key-" + "k" * 40}
    assert pii.patron_digests(tenant_id=1, email=email, name=name).email.digest != in_one.email.digest


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("j@example.com", "j***@example.com"),
        ("John.Smith@Example.COM", "j***@example.com"),
        ("  émile@exämple.fr ", "é***@exämple.fr"),
        ("a+tag@sub.domain.example.org", "a***@sub.domain.example.org"),
    ],
)
def test_the_masked_email_is_the_first_character_and_the_domain(email, masked):
    digests = pii.patron_digests(tenant_id=1, email=pii.Personal(email), name=pii.Personal("N"))

    assert digests.email_masked == masked


def test_names_are_compared_without_case_spacing_or_compatibility_forms():
    def name_hash(name: str) -> str:
        return pii.patron_digests(
            tenant_id=1, email=pii.Personal("a@b.org"), name=pii.Personal(name)
        ).name.digest

    assert name_hash("Philippa  Canarywood") == name_hash(" philippa canarywood ")
    full_width = "".join(chr(ord(letter) + 0xFEE0) for letter in "PHILIPPA")
    assert name_hash(full_width) == name_hash("philippa")
    assert name_hash("Philippa") != name_hash("Philipa")
