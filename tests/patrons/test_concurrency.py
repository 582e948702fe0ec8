"""Concurrent first submissions of one email make one patron; an erasure racing a submission
leaves either an anonymised submission or a new patron, never an error."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from patrons import pii, services
from patrons.models import Patron, Submission
from patrons.services import BookRequest
from tests.factories import TenantFactory
from tests.patrons.conftest import RINGS_ISBN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def real_concurrency() -> None:
    if connection.vendor == "sqlite":
        # The in-memory test database's shared cache has table locks that ignore the busy
        # timeout; a file database serialises writers (IMMEDIATE transactions), so these races
        # cannot happen there (see tests/tenants/test_sqlite_concurrency.py).
        pytest.skip("needs a database with concurrent writers (PostgreSQL)")


BOOK = BookRequest(kind="isbn", input=RINGS_ISBN, isbn13=RINGS_ISBN)


def in_threads(count: int, action) -> list:
    """Run `action` in `count` threads released at once; returns results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = action(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_first_submissions_of_one_email_make_one_patron(fake_ol):
    tenant = TenantFactory(slug="racing")

    def submit(index: int) -> int:
        email = pii.Personal(["Race@Example.org", "race@example.org ", " RACE@example.org"][index % 3])
        return services.record_submission(
            tenant=tenant, email=email, name=pii.Personal("Racer"), books=[BOOK]
        ).patron_id

    results = in_threads(6, submit)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1
    assert Patron.objects.count() == 1
    assert Submission.objects.filter(patron_id=results[0]).count() == 6


def test_an_erasure_racing_a_submission_never_fails_and_never_links_the_old_patron(fake_ol):
    tenant = TenantFactory(slug="erasing")
    email = pii.Personal("gone@example.org")
    patron = services.record_submission(
        tenant=tenant, email=email, name=pii.Personal("G"), books=[BOOK]
    ).patron

    def act(index: int):
        if index == 0:
            return services.erase_patron(patron=patron)
        return services.record_submission(
            tenant=tenant, email=email, name=pii.Personal("G"), books=[BOOK]
        ).patron_id

    results = in_threads(3, act)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert not Patron.objects.filter(pk=patron.pk).exists()
    # Every submission is either anonymised or belongs to the one new patron.
    owners = set(Submission.objects.values_list("patron_id", flat=True))
    assert patron.pk not in owners
    assert len(owners - {None}) <= 1
