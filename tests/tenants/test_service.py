"""Public service endpoints: /, /docs, /openapi.json, and request ids."""

import pytest

import olcs

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/docs", "/docs/", "/openapi.json", "/openapi.json/", "/health"])
def test_public_paths_need_no_credentials_and_ignore_bad_ones(api_client, path):
    plain = api_client.get(path)
    garbage = api_client.get(path, HTTP_AUTHORIZATION="Bearer not-a-key")

    assert plain.status_code == garbage.status_code == 200


def test_root_describes_the_service(api_client):
    assert api_client.get("/").json() == {
        "name": "olcs",
        "version": olcs.__version__,
        "docs": "/docs",
        "openapi": "/openapi.json",
    }


def test_openapi_is_version_3_and_documents_errors(api_client):
    schema = api_client.get("/openapi.json").json()

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["version"] == olcs.__version__
    tenants = schema["paths"]["/tenants/"]
    assert {"201", "400", "401", "403", "409", "413", "415"} <= set(tenants["post"]["responses"])
    assert {"200", "400", "401"} <= set(tenants["get"]["responses"])
    assert "400" not in schema["paths"]["/"]["get"]["responses"]
    detail = schema["paths"]["/tenants/{slug}/api-keys/{key_id}/"]["delete"]["responses"]
    assert {"204", "401", "403", "404"} <= set(detail)
    assert "bearerAuth" in schema["components"]["securitySchemes"]


def test_docs_page_is_swagger_ui_served_locally(api_client):
    page = api_client.get("/docs").content.decode()

    assert "swagger-ui" in page
    assert "cdn" not in page.lower() and "unpkg" not in page and "jsdelivr" not in page
    assert "/openapi.json" in page


def test_swagger_assets_are_served(client):
    page = client.get("/docs").content.decode()
    import re

    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert assets, page
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        b"".join(response.streaming_content) if response.streaming else response.content


def test_every_response_carries_a_request_id(api_client):
    sent = api_client.get("/", HTTP_X_REQUEST_ID="client-chosen-42")
    generated = api_client.get("/tenants/")

    assert sent["X-Request-ID"] == "client-chosen-42"
    assert len(generated["X-Request-ID"]) >= 16
    assert generated.status_code == 401
