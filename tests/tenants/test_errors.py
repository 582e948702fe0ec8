"""The contract's error shape everywhere: DRF errors, Django's own errors, bodies, methods."""

from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    text = response.content.decode()
    assert "Traceback" not in text and 'File "' not in text and "SELECT" not in text
    assert response["X-Request-ID"]


@pytest.mark.parametrize("body", ['{"name": "x", "slug": ', "{bad json}", "\x00\x01", "[1, 2", "nul"])
def test_malformed_json_is_400_parse_error(platform_client, body):
    response = platform_client.post("/tenants/", body, content_type="application/json")

    assert_error_shape(response, 400, "parse_error")
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("body", ["[]", '"a string"', "42", "null"])
def test_json_that_is_not_an_object_is_400(platform_client, body):
    response = platform_client.post("/tenants/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "parse_error"}
    assert not Tenant.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "application/xml"],
)
def test_other_content_types_are_415(platform_client, content_type):
    response = platform_client.post("/tenants/", "name=a&slug=ab", content_type=content_type)

    assert_error_shape(response, 415, "unsupported_media_type")
    assert not Tenant.objects.exists()


def test_body_over_the_limit_is_413_before_it_is_read(platform_client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    payload = '{"name": "' + "x" * 2000 + '", "slug": "big"}'

    response = platform_client.post("/tenants/", payload, content_type="application/json")

    assert_error_shape(response, 413, "payload_too_large")
    assert not Tenant.objects.exists()


def test_huge_unicode_name_is_a_clean_400(platform_client):
    response = platform_client.post("/tenants/", {"name": "📚" * 5000, "slug": "huge"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_wrong_method_is_405_in_shape(platform_client, library_a):
    for method, path in [
        ("put", "/tenants/"),
        ("patch", "/tenants/alexandria"),
        ("delete", "/tenants/alexandria/api-keys"),
    ]:
        response = getattr(platform_client, method)(path, {}, format="json")
        assert_error_shape(response, 405, "method_not_allowed")


def test_unknown_paths_are_json_404(api_client):
    for path in ["/nope", "/tenants/a/b/c/d", "/static-nothing", "/%E2%98%83"]:
        assert_error_shape(api_client.get(path), 404, "not_found")


def test_unexpected_error_is_json_500_without_details(platform_key, settings):
    client = Client(raise_request_exception=False)
    with mock.patch("tenants.views.visible_tenants", side_effect=ZeroDivisionError("secret detail")):
        response = client.get("/tenants/", HTTP_AUTHORIZATION=f"Bearer {platform_key.raw}")

    assert_error_shape(response, 500, "server_error")
    assert "secret detail" not in response.content.decode()
    assert "ZeroDivisionError" not in response.content.decode()


def test_database_outage_in_a_view_is_503(platform_client):
    with mock.patch("tenants.views.visible_tenants", side_effect=OperationalError("database is locked")):
        response = platform_client.get("/tenants/")

    assert_error_shape(response, 503, "service_unavailable")
    assert "locked" not in response.content.decode()


def test_validation_errors_use_dotted_paths(platform_client, library_a):
    response = platform_client.post(
        "/tenants/alexandria/api-keys/", {"name": "k", "scopes": ["catalog:read", "nope"]}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["scopes.1"]
    assert body["detail"].startswith("Invalid input")
