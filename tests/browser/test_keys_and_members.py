"""API keys and memberships in a browser: a library admin issues a key (shown once), sees when it
was last used, revokes it, and changes a member's role once the platform's operator added them;
a plain librarian can only look."""

from __future__ import annotations

from playwright.sync_api import expect

from tenants.models import ApiKey, Membership
from tests.browser.conftest import Role
from tests.factories import ApiKeyFactory, UserFactory

KEYS = "/admin/tenants/apikey/"
MEMBERS = "/admin/tenants/membership/"


def issue_key(staff, tenant, name: str, scopes: list[str]) -> str:
    """Fill the add form; returns the raw key the answer shows."""
    page = staff.page
    staff.goto(KEYS + "add/")
    page.fill("#id_name", name)
    page.select_option("#id_tenant", str(tenant.pk))
    for scope in scopes:
        page.check(f"input[name=scopes][value='{scope}']")
    page.click("input[name=_save]")
    raw = page.locator("#issued-api-key").input_value()
    assert raw.startswith("olcs_")
    return raw


def test_a_library_admin_issues_a_key_that_is_shown_once_then_sees_its_last_use_and_revokes_it(
    logged_in, live_server, library_a, admin_a
):
    ada = logged_in(admin_a)
    page = ada.page

    raw = issue_key(ada, library_a.tenant, "Website", ["catalog:read"])

    expect(page.locator(".errornote")).to_contain_text("it will not be shown again")
    api_key = ApiKey.objects.get(name="Website")
    assert (api_key.tenant, api_key.scopes, api_key.prefix) == (library_a.tenant, ["catalog:read"], raw[:13])
    assert raw.startswith(api_key.prefix)
    # Nowhere else: not in the list, not on the key's page (only its prefix).
    page.click("text=Back to API keys")
    expect(page.locator("#result_list")).to_contain_text("Website")
    assert raw not in page.content()
    page.click("#result_list a:has-text('Website')")
    assert page.url.endswith(f"{KEYS}{api_key.pk}/change/")
    expect(page.locator(".field-prefix")).to_contain_text(api_key.prefix)
    expect(page.locator(".field-last_used_at .readonly")).to_have_text("-")
    assert raw not in page.content()
    page.reload()
    assert raw not in page.content()

    # The library's website uses the key: its page says when.
    answer = page.request.get(
        f"{live_server.url}/tenants/{library_a.slug}/books", headers={"Authorization": f"Bearer {raw}"}
    )
    assert answer.status == 200, answer.text()
    page.reload()
    expect(page.locator(".field-last_used_at .readonly")).not_to_have_text("-")
    page.goto(live_server.url + KEYS)
    expect(page.locator("#result_list tr:has-text('Website') .field-last_used_at")).not_to_have_text("-")

    page.goto(live_server.url + f"{KEYS}{api_key.pk}/change/")
    page.click(".object-tools a:has-text('Revoke')")
    page.click("input[type=submit][value='Yes, revoke it']")

    expect(page.locator("ul.messagelist")).to_contain_text("Revoked the API key")
    expect(page.locator(".field-status .readonly")).to_have_text("revoked")
    expect(page.locator(".object-tools a:has-text('Revoke')")).to_have_count(0)
    refused = page.request.get(
        f"{live_server.url}/tenants/{library_a.slug}/books", headers={"Authorization": f"Bearer {raw}"}
    )
    assert refused.status == 401


def test_a_library_admin_revokes_keys_from_the_list(logged_in, library_a, admin_a):
    first, second = (
        ApiKeyFactory(tenant=library_a.tenant, name="Kiosk"),
        ApiKeyFactory(tenant=library_a.tenant, name="Old app"),
    )
    ada = logged_in(admin_a)
    page = ada.page
    ada.goto(KEYS)

    for api_key in (first, second):
        page.check(f"input[name=_selected_action][value='{api_key.pk}']")
    page.select_option("select[name=action]", "revoke_selected")
    page.click("button[name=index]")

    expect(page.locator("ul.messagelist")).to_contain_text("Revoked 2 API keys.")
    page.click("#changelist-filter a:has-text('Revoked')")
    expect(page.locator("#result_list")).to_contain_text("Kiosk")
    expect(page.locator("#result_list")).to_contain_text("Old app")


def test_a_plain_librarian_sees_keys_but_cannot_issue_or_revoke_them(logged_in, library_a, librarian_a):
    alan = logged_in(librarian_a)
    page = alan.page

    alan.goto(KEYS)
    expect(page.locator("#result_list")).to_contain_text(library_a.key.name)
    expect(page.locator(".object-tools a.addlink")).to_have_count(0)
    expect(page.locator("select[name=action] option[value=revoke_selected]")).to_have_count(0)
    assert alan.goto(KEYS + "add/").status == 403
    assert alan.goto(f"{KEYS}{library_a.key.pk}/revoke/").status == 403
    alan.goto(f"{KEYS}{library_a.key.pk}/change/")
    expect(page.locator(".object-tools a:has-text('Revoke')")).to_have_count(0)


def test_a_superuser_adds_a_member_by_username_and_their_library_admin_changes_their_role(
    logged_in, library_a, admin_a, superuser
):
    UserFactory(username="carl", password=None)
    ada = logged_in(admin_a)

    # A library admin cannot add accounts (nor probe which exist): they are told who does.
    ada.goto(MEMBERS)
    expect(ada.page.locator(".object-tools a.addlink")).to_have_count(0)
    expect(ada.page.locator("#adding-members")).to_contain_text("ask the platform's operator")
    assert ada.goto(MEMBERS + "add/").status == 403

    root = logged_in(superuser)
    page = root.page
    root.goto(MEMBERS)
    page.click(".object-tools a.addlink")
    page.fill("#id_username", "carl")
    page.select_option("#id_tenant", str(library_a.tenant.pk))
    page.select_option("#id_role", Role.LIBRARIAN)
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("added successfully")
    membership = Membership.objects.get(user__username="carl")
    assert (membership.tenant, membership.role) == (library_a.tenant, Role.LIBRARIAN)

    # An unknown account is an error on the superuser's form, not a new account.
    root.goto(MEMBERS + "add/")
    page.fill("#id_username", "nobody")
    page.select_option("#id_tenant", str(library_a.tenant.pk))
    page.click("input[name=_save]")
    expect(page.locator(".field-username .errorlist")).to_contain_text("No account has this username.")

    page = ada.page
    ada.goto(MEMBERS)
    page.click(f"#result_list a[href$='/{membership.pk}/change/']")
    page.select_option("#id_role", Role.ADMIN)
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("changed successfully")
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_a_plain_librarian_sees_the_members_but_cannot_add_one(logged_in, library_a, admin_a, librarian_a):
    alan = logged_in(librarian_a)
    page = alan.page

    alan.goto(MEMBERS)
    expect(page.locator("#result_list")).to_contain_text("ada")
    expect(page.locator("#result_list")).to_contain_text("alan")
    expect(page.locator(".object-tools a.addlink")).to_have_count(0)
    assert alan.goto(MEMBERS + "add/").status == 403
    membership = Membership.objects.get(user=admin_a)
    alan.goto(f"{MEMBERS}{membership.pk}/change/")
    expect(page.locator("input[name=_save]")).to_have_count(0)


def test_reloading_the_issued_key_page_issues_no_second_key(logged_in, library_a, admin_a):
    ada = logged_in(admin_a)
    raw = issue_key(ada, library_a.tenant, "Website", ["catalog:read"])

    # The page answers a POST: a reload sends the form again.
    ada.page.reload()

    assert ada.page.url.endswith(KEYS)
    expect(ada.page.locator("ul.messagelist")).to_contain_text("This form was already sent")
    assert raw not in ada.html()
    assert ApiKey.objects.filter(name="Website").count() == 1
    # A new form is a new key.
    issue_key(ada, library_a.tenant, "Website", ["catalog:read"])
    assert ApiKey.objects.filter(name="Website").count() == 2
