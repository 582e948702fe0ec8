"""The operator in a browser: a superuser sees every library, opens any library's dashboard,
creates libraries and sets a library's own rate limits, which the API then enforces."""

from __future__ import annotations

from playwright.sync_api import expect

from tenants.models import ApiKey, Tenant

TENANTS = "/admin/tenants/tenant/"


def test_a_superuser_picks_any_library_and_sees_every_librarys_rows(
    logged_in, superuser, library_a, library_b, holdings_a, holdings_b
):
    root = logged_in(superuser)
    page = root.page

    root.goto("/admin/")
    expect(page.locator("#olcs-dashboard")).to_have_count(0)
    slugs = page.locator(".library-choice").evaluate_all("els => els.map(e => e.dataset.slug)")
    assert sorted(slugs) == sorted([library_a.slug, library_b.slug])
    page.click(f"button.library-choice[data-slug={library_b.slug}]")
    expect(page.locator("#olcs-dashboard")).to_have_attribute("data-library", library_b.slug)
    expect(page.locator("#card-catalog-size .figure")).to_have_text("3")
    page.click("#library-switch")
    page.click(f"button.library-choice[data-slug={library_a.slug}]")
    expect(page.locator("#olcs-dashboard")).to_have_attribute("data-library", library_a.slug)

    for path in ("/admin/ingestion/ingestionjob/", "/admin/patrons/submission/", TENANTS):
        root.goto(path)
        expect(page.locator("#result_list")).to_contain_text(library_a.tenant.name)
        expect(page.locator("#result_list")).to_contain_text(library_b.tenant.name)
    # Any library's book opens; the list filter offers every library.
    assert root.goto(f"/admin/catalog/book/{holdings_b.revised.pk}/change/").status == 200
    root.goto("/admin/catalog/book/")
    filters = page.locator("#changelist-filter")
    expect(filters).to_contain_text(library_a.tenant.name)
    expect(filters).to_contain_text(library_b.tenant.name)


def test_a_superuser_creates_a_library_and_sees_its_first_key_once(logged_in, superuser):
    root = logged_in(superuser)
    page = root.page

    root.goto(TENANTS)
    page.click(".object-tools a.addlink")
    page.fill("#id_name", "Carthage Reading Room")
    page.fill("#id_slug", "carthage")
    page.click("input[name=_save]")

    raw = page.locator("#issued-api-key").input_value()
    carthage = Tenant.objects.get(slug="carthage")
    key = ApiKey.objects.get(tenant=carthage)
    assert raw.startswith(key.prefix)
    # A reload sends the form again: nothing more is created, and the key is not shown again.
    page.reload()
    expect(page.locator("ul.messagelist")).to_contain_text("This form was already sent")
    assert raw not in page.content()
    assert Tenant.objects.filter(slug="carthage").count() == 1
    assert ApiKey.objects.filter(tenant=carthage).count() == 1
    root.goto(f"{TENANTS}{carthage.pk}/change/")
    expect(page.locator(".field-slug .readonly, #id_slug")).to_have_count(1)
    assert raw not in page.content()


def test_a_superuser_sets_a_librarys_rate_limits_which_the_api_enforces(
    logged_in, live_server, superuser, library_a, library_b, admin_a, settings
):
    settings.RATE_LIMIT_ENABLED = True
    root = logged_in(superuser)
    page = root.page

    root.goto(f"{TENANTS}{library_a.tenant.pk}/change/")
    page.fill("#id_api_rate_limit_requests", "3")
    page.fill("#id_api_rate_limit_window_seconds", "3600")
    page.fill("#id_ingestion_rate_limit_requests", "2")
    page.fill("#id_ingestion_rate_limit_window_seconds", "86400")
    page.click("input[name=_save]")

    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    library_a.tenant.refresh_from_db()
    assert (
        library_a.tenant.api_rate_limit_requests,
        library_a.tenant.api_rate_limit_window_seconds,
        library_a.tenant.ingestion_rate_limit_requests,
        library_a.tenant.ingestion_rate_limit_window_seconds,
    ) == (3, 3600, 2, 86400)

    def call(library) -> int:
        return page.request.get(
            f"{live_server.url}/tenants/{library.slug}/books",
            headers={"Authorization": f"Bearer {library.raw_key}"},
        ).status

    assert [call(library_a) for _ in range(4)] == [200, 200, 200, 429]
    assert [call(library_b) for _ in range(4)] == [200, 200, 200, 200]  # the deployment's default

    # The library's admin sees its limits on the dashboard and on the library's page, read-only.
    ada = logged_in(admin_a)
    ada.goto("/admin/")
    expect(ada.page.locator("#card-rate-limits")).to_contain_text("of 3")
    ada.goto(f"{TENANTS}{library_a.tenant.pk}/change/")
    expect(ada.page.locator(".field-api_rate_limit_requests .readonly")).to_have_text("3")
    expect(ada.page.locator("#id_api_rate_limit_requests")).to_have_count(0)
    expect(ada.page.locator(".object-tools a.addlink")).to_have_count(0)
    assert ada.goto(TENANTS + "add/").status == 403
