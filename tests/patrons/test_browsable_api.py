"""The browsable API (librarians in a browser) renders the submission pages and never echoes
what was sent."""

from __future__ import annotations

import pytest

from tests.patrons.conftest import RINGS_ISBN, submission_body

pytestmark = pytest.mark.django_db


def test_submission_and_patron_pages_render_as_html(client_a, submit):
    created = submit([{"isbn": RINGS_ISBN}], email="html.reader@example.org").json()

    for path in (
        "/tenants/alexandria/submissions/",
        f"/tenants/alexandria/submissions/{created['id']}",
        "/tenants/alexandria/patrons/",
        f"/tenants/alexandria/patrons/{created['patron']['id']}",
    ):
        response = client_a.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, path
        assert "text/html" in response["Content-Type"]
        assert "h***@example.org" in response.content.decode()
        assert "html.reader" not in response.content.decode()


def test_an_invalid_submission_in_html_does_not_echo_the_email_or_name(client_a):
    response = client_a.post(
        "/tenants/alexandria/submissions/",
        submission_body([{"isbn": "9780618640158"}], email="echo.me@example.org", name="Echo Mename"),
        format="json",
        HTTP_ACCEPT="text/html",
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "echo.me" not in page and "Echo Mename" not in page
