"""The librarians' admin: each library sees and changes only its own keys, members and itself."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.models import ApiKey, Membership, Tenant, hash_api_key
from tests.conftest import Library
from tests.factories import ApiKeyFactory, MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

ADMIN = Membership.Role.ADMIN
LIBRARIAN = Membership.Role.LIBRARIAN
ISSUED_KEY = re.compile(r'id="issued-api-key"[^>]*value="([^"]+)"')


def staff_user(**fields):
    # force_login needs no password; hashing one costs most of a test's time.
    return UserFactory(password=None, **fields)


def member(tenant: Tenant, role: str = LIBRARIAN, **user_fields):
    return MembershipFactory(tenant=tenant, role=role, user=staff_user(**user_fields)).user


def login(client: Client, user) -> Client:
    client.force_login(user)
    return client


def changelist_rows(response) -> list:
    return list(response.context["cl"].result_list)


def add_key_form(tenant: Tenant | None, **overrides) -> dict:
    return {
        "name": "Kiosk",
        "tenant": tenant.pk if tenant else "",
        "scopes": ["catalog:read"],
        "expires_at_0": "",
        "expires_at_1": "",
        **overrides,
    }


def revoke_action(*keys: ApiKey) -> dict:
    return {"action": "revoke_selected", "index": 0, "_selected_action": [key.pk for key in keys]}


@pytest.fixture
def admin_a(library_a: Library):
    """Library admin of library A."""
    return member(library_a.tenant, ADMIN, username="ada")


@pytest.fixture
def librarian_a(library_a: Library):
    """Plain librarian of library A."""
    return member(library_a.tenant, LIBRARIAN, username="alan")


@pytest.fixture
def admin_b(library_b: Library):
    return member(library_b.tenant, ADMIN, username="barbara")


# --- each library sees its own rows ---------------------------------------------------------


@pytest.mark.parametrize("user_fixture", ["admin_a", "librarian_a"])
def test_librarians_see_only_their_librarys_api_keys(
    client, request, library_a, library_b, admin_b, user_fixture
):
    login(client, request.getfixturevalue(user_fixture))

    response = client.get(reverse("admin:tenants_apikey_changelist"))

    assert response.status_code == 200
    assert changelist_rows(response) == [library_a.key]
    page = response.content.decode()
    assert library_a.key.prefix in page
    assert library_b.key.prefix not in page
    assert library_a.key.key_hash not in page


def test_librarians_see_only_their_librarys_memberships(client, library_a, library_b, librarian_a, admin_b):
    login(client, librarian_a)

    response = client.get(reverse("admin:tenants_membership_changelist"))

    assert response.status_code == 200
    assert {m.user.username for m in changelist_rows(response)} == {"alan"}
    assert "barbara" not in response.content.decode()


def test_librarians_see_only_their_own_library(client, library_a, library_b, librarian_a):
    login(client, librarian_a)

    response = client.get(reverse("admin:tenants_tenant_changelist"))

    assert changelist_rows(response) == [library_a.tenant]
    assert "Bodleian" not in response.content.decode()


@pytest.mark.parametrize("model", ["apikey", "membership", "tenant"])
@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_another_librarys_objects_are_not_found(client, library_a, library_b, admin_a, admin_b, model, view):
    other = {
        "apikey": library_b.key,
        "membership": Membership.objects.get(user=admin_b),
        "tenant": library_b.tenant,
    }[model]
    login(client, admin_a)

    response = client.get(reverse(f"admin:tenants_{model}_{view}", args=[other.pk]))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_tenant_list_filter_offers_only_the_users_libraries(client, library_a, library_b):
    third = TenantFactory(name="Celsus Library", slug="celsus")
    ApiKeyFactory(tenant=third)
    user = member(library_a.tenant, LIBRARIAN)
    Membership.objects.create(tenant=third, user=user, role=LIBRARIAN)
    login(client, user)

    response = client.get(reverse("admin:tenants_apikey_changelist"))

    tenant_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "tenant")
    assert {label for _, label in tenant_filter.lookup_choices} == {str(library_a.tenant), str(third)}
    # Asking for the other library's rows by hand still yields none of them.
    crafted = client.get(
        reverse("admin:tenants_apikey_changelist"), {"tenant__id__exact": library_b.tenant.pk}
    )
    assert library_b.key not in changelist_rows(crafted)


# --- issuing keys -----------------------------------------------------------------------------


def test_tenant_picker_offers_only_libraries_the_user_administers(client, library_a, library_b, admin_a):
    third = TenantFactory(name="Celsus Library", slug="celsus")
    Membership.objects.create(tenant=third, user=admin_a, role=LIBRARIAN)
    login(client, admin_a)

    response = client.get(reverse("admin:tenants_apikey_add"))

    assert response.status_code == 200
    picker = response.context["adminform"].form.fields["tenant"]
    assert list(picker.queryset) == [library_a.tenant]
    assert picker.required  # no platform keys for librarians
    page = response.content.decode()
    assert "Alexandria Public Library" in page
    assert "Bodleian" not in page and "Celsus" not in page


def test_adding_a_key_to_another_library_is_rejected(client, library_a, library_b, admin_a):
    login(client, admin_a)
    before = set(ApiKey.objects.values_list("pk", flat=True))

    response = client.post(reverse("admin:tenants_apikey_add"), add_key_form(library_b.tenant))

    assert response.status_code == 200
    assert "tenant" in response.context["adminform"].form.errors
    assert set(ApiKey.objects.values_list("pk", flat=True)) == before
    assert "issued-api-key" not in response.content.decode()


def test_library_admin_cannot_issue_a_platform_key(client, library_a, admin_a):
    login(client, admin_a)

    response = client.post(reverse("admin:tenants_apikey_add"), add_key_form(None))

    assert "tenant" in response.context["adminform"].form.errors
    assert not ApiKey.objects.filter(tenant=None).exists()


def test_issued_key_is_shown_once_and_only_its_hash_is_stored(client, library_a, admin_a):
    login(client, admin_a)
    expires = timezone.now() + timedelta(days=30)

    response = client.post(
        reverse("admin:tenants_apikey_add"),
        add_key_form(
            library_a.tenant,
            scopes=["catalog:read", "submissions:write"],
            expires_at_0=expires.strftime("%Y-%m-%d"),
            expires_at_1="12:00:00",
        ),
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "it will not be shown again" in page
    raw_key = ISSUED_KEY.search(page).group(1)
    key = ApiKey.objects.get(name="Kiosk")
    assert key.tenant == library_a.tenant
    assert key.scopes == ["catalog:read", "submissions:write"]
    assert key.expires_at.date() == expires.date()
    assert key.created_by == admin_a
    assert hash_api_key(raw_key) == key.key_hash
    assert raw_key.startswith(key.prefix)
    assert raw_key not in str(ApiKey.objects.filter(pk=key.pk).values().get())

    # Never again: not on the list, the key's page, in a message, the session or the admin log.
    later = client.get(reverse("admin:tenants_apikey_changelist")).content.decode()
    later += client.get(reverse("admin:tenants_apikey_change", args=[key.pk])).content.decode()
    assert key.prefix in later
    assert raw_key not in later
    for session in Session.objects.all():
        assert raw_key not in session.session_data
        assert raw_key not in repr(session.get_decoded())
    for entry in LogEntry.objects.all():
        assert raw_key not in entry.object_repr + entry.change_message


def test_issued_key_authenticates_against_the_api(client, library_a, admin_a):
    login(client, admin_a)
    page = client.post(reverse("admin:tenants_apikey_add"), add_key_form(library_a.tenant)).content.decode()
    raw_key = ISSUED_KEY.search(page).group(1)

    response = Client().get("/tenants/alexandria", HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    assert response.status_code == 200
    assert response.json()["slug"] == "alexandria"


def test_key_without_scopes_or_with_past_expiry_is_rejected(client, library_a, admin_a):
    login(client, admin_a)
    before = ApiKey.objects.count()

    no_scopes = client.post(reverse("admin:tenants_apikey_add"), add_key_form(library_a.tenant, scopes=[]))
    past = client.post(
        reverse("admin:tenants_apikey_add"),
        add_key_form(library_a.tenant, expires_at_0="2001-01-01", expires_at_1="00:00:00"),
    )

    assert "scopes" in no_scopes.context["adminform"].form.errors
    assert "expires_at" in past.context["adminform"].form.errors
    assert ApiKey.objects.count() == before


def test_existing_keys_are_read_only(client, library_a, admin_a):
    login(client, admin_a)
    url = reverse("admin:tenants_apikey_change", args=[library_a.key.pk])

    page = client.get(url)
    post = client.post(url, {"name": "Renamed", "scopes": ["catalog:read"]})

    assert page.status_code == 200
    assert reverse("admin:tenants_apikey_revoke", args=[library_a.key.pk]) in page.content.decode()
    assert post.status_code == 403
    library_a.key.refresh_from_db()
    assert library_a.key.name != "Renamed"
    assert len(library_a.key.scopes) > 1


# --- revoking keys ----------------------------------------------------------------------------


def test_revoke_action_revokes_only_selected_keys_of_the_users_library(client, library_a, library_b, admin_a):
    spare = ApiKeyFactory(tenant=library_a.tenant, name="Spare")
    login(client, admin_a)

    response = client.post(
        reverse("admin:tenants_apikey_changelist"), revoke_action(library_a.key, library_b.key)
    )

    assert response.status_code == 302
    library_a.key.refresh_from_db()
    library_b.key.refresh_from_db()
    spare.refresh_from_db()
    assert library_a.key.revoked
    assert not library_b.key.revoked  # crafted: another library's id
    assert not spare.revoked  # not selected


def test_revoke_action_skips_libraries_where_the_user_is_only_a_librarian(
    client, library_a, library_b, admin_a
):
    Membership.objects.create(tenant=library_b.tenant, user=admin_a, role=LIBRARIAN)
    login(client, admin_a)

    client.post(reverse("admin:tenants_apikey_changelist"), revoke_action(library_a.key, library_b.key))

    library_a.key.refresh_from_db()
    library_b.key.refresh_from_db()
    assert library_a.key.revoked
    assert not library_b.key.revoked


def test_revoke_button_asks_then_revokes(client, library_a, admin_a):
    login(client, admin_a)
    url = reverse("admin:tenants_apikey_revoke", args=[library_a.key.pk])

    confirm = client.get(url)
    library_a.key.refresh_from_db()
    assert confirm.status_code == 200
    assert "Yes, revoke it" in confirm.content.decode()
    assert not library_a.key.revoked

    done = client.post(url, follow=True)

    library_a.key.refresh_from_db()
    assert library_a.key.revoked
    page = done.content.decode()
    assert "revoked" in page
    assert f'href="{url}"' not in page  # no second revoke offered
    assert LogEntry.objects.filter(object_id=str(library_a.key.pk), change_message="Revoked.").exists()


def test_revoking_another_librarys_key_is_not_found(client, library_a, library_b, admin_a):
    login(client, admin_a)

    response = client.post(reverse("admin:tenants_apikey_revoke", args=[library_b.key.pk]))

    assert response.status_code == 404
    library_b.key.refresh_from_db()
    assert not library_b.key.revoked


def test_plain_librarian_can_look_at_keys_but_not_add_or_revoke_them(client, library_a, librarian_a):
    login(client, librarian_a)
    before = ApiKey.objects.count()

    changelist = client.get(reverse("admin:tenants_apikey_changelist"))
    change_page = client.get(reverse("admin:tenants_apikey_change", args=[library_a.key.pk]))
    add_page = client.get(reverse("admin:tenants_apikey_add"))
    add_post = client.post(reverse("admin:tenants_apikey_add"), add_key_form(library_a.tenant))
    crafted_action = client.post(reverse("admin:tenants_apikey_changelist"), revoke_action(library_a.key))
    revoke = client.post(reverse("admin:tenants_apikey_revoke", args=[library_a.key.pk]))

    assert changelist.status_code == 200
    assert "revoke_selected" not in changelist.content.decode()
    assert change_page.status_code == 200
    assert reverse("admin:tenants_apikey_revoke", args=[library_a.key.pk]) not in change_page.content.decode()
    assert add_page.status_code == 403
    assert add_post.status_code == 403
    assert crafted_action.status_code == 200  # no action to run: the list again
    assert revoke.status_code == 403
    assert ApiKey.objects.count() == before
    library_a.key.refresh_from_db()
    assert not library_a.key.revoked


def test_library_admin_cannot_delete_keys(client, library_a, admin_a):
    login(client, admin_a)

    changelist = client.get(reverse("admin:tenants_apikey_changelist"))
    delete = client.post(reverse("admin:tenants_apikey_delete", args=[library_a.key.pk]), {"post": "yes"})

    assert "delete_selected" not in changelist.content.decode()
    assert "revoke_selected" in changelist.content.decode()
    assert delete.status_code == 403
    assert ApiKey.objects.filter(pk=library_a.key.pk).exists()


def test_key_changelist_query_count_does_not_grow_with_keys(
    client, library_a, admin_a, django_assert_max_num_queries
):
    login(client, admin_a)
    url = reverse("admin:tenants_apikey_changelist")
    client.get(url)  # warm the session and the content types cache
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    ApiKeyFactory.create_batch(10, tenant=library_a.tenant)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)

    assert len(changelist_rows(response)) == 11


# --- memberships ------------------------------------------------------------------------------


def test_library_admin_cannot_add_accounts_nor_tell_which_exist(
    client, library_a, library_b, admin_a, admin_b
):
    login(client, admin_a)
    url = reverse("admin:tenants_membership_add")
    barbara = admin_b  # library B's admin: an existing account of another library
    attempts = [
        {"username": "barbara", "tenant": library_a.tenant.pk, "role": LIBRARIAN},
        {"username": "nobody", "tenant": library_a.tenant.pk, "role": LIBRARIAN},
        {"user": barbara.pk, "tenant": library_a.tenant.pk, "role": ADMIN},
        {"user": 987654, "tenant": library_a.tenant.pk, "role": ADMIN},
    ]

    page = client.get(url)
    answers = [client.post(url, form) for form in attempts]

    assert page.status_code == 403
    # The same answer whether the account exists or not: nothing to probe.
    assert {(answer.status_code, answer.content) for answer in answers} == {(403, answers[0].content)}
    assert list(barbara.memberships.values_list("tenant__slug", flat=True)) == ["bodleian"]
    assert not Membership.objects.for_tenant(library_a.tenant).exclude(user=admin_a).exists()


def test_library_admin_is_told_who_adds_members(client, library_a, admin_a):
    login(client, admin_a)

    response = client.get(reverse("admin:tenants_membership_changelist"))

    html = response.content.decode()
    assert 'id="adding-members"' in html and "ask the platform" in html
    assert reverse("admin:tenants_membership_add") not in html


def test_superuser_adds_an_existing_account_to_a_library(client, library_a, library_b, admin_b, superuser):
    newcomer = staff_user(username="newcomer")
    login(client, superuser)
    url = reverse("admin:tenants_membership_add")

    page = client.get(url)
    added = client.post(url, {"username": "newcomer", "tenant": library_a.tenant.pk, "role": LIBRARIAN})
    twice = client.post(url, {"username": "newcomer", "tenant": library_a.tenant.pk, "role": ADMIN})
    unknown = client.post(url, {"username": "nobody", "tenant": library_a.tenant.pk, "role": LIBRARIAN})

    # A username to type, not a list of every account.
    assert "user" not in page.context["adminform"].form.fields
    assert "barbara" not in page.content.decode()
    assert added.status_code == 302
    assert "username" in twice.context["adminform"].form.errors
    assert "username" in unknown.context["adminform"].form.errors
    assert list(newcomer.memberships.values_list("tenant__slug", "role")) == [("alexandria", LIBRARIAN)]

    # The new member works in library A and sees none of library B's rows.
    login(client, newcomer)
    keys = client.get(reverse("admin:tenants_apikey_changelist"))
    assert {key.tenant_id for key in changelist_rows(keys)} == {library_a.tenant.pk}


def test_library_admin_changes_a_members_role(client, library_a, admin_a, librarian_a):
    membership = Membership.objects.get(user=librarian_a)
    login(client, admin_a)

    response = client.post(
        reverse("admin:tenants_membership_change", args=[membership.pk]),
        {"role": ADMIN, "tenant": TenantFactory(slug="elsewhere").pk},
    )

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == ADMIN
    assert membership.tenant == library_a.tenant  # the library is not editable


def test_plain_librarian_cannot_change_memberships(client, library_a, admin_a, librarian_a):
    membership = Membership.objects.get(user=admin_a)
    login(client, librarian_a)

    add = client.get(reverse("admin:tenants_membership_add"))
    change = client.post(
        reverse("admin:tenants_membership_change", args=[membership.pk]), {"role": LIBRARIAN}
    )
    delete = client.post(reverse("admin:tenants_membership_delete", args=[membership.pk]), {"post": "yes"})

    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    membership.refresh_from_db()
    assert membership.role == ADMIN


# --- libraries --------------------------------------------------------------------------------


def test_library_admin_renames_their_library_but_not_its_slug(client, library_a, admin_a):
    login(client, admin_a)

    response = client.post(
        reverse("admin:tenants_tenant_change", args=[library_a.tenant.pk]),
        {"name": "Alexandria Central", "slug": "hijacked"},
    )

    assert response.status_code == 302
    library_a.tenant.refresh_from_db()
    assert library_a.tenant.name == "Alexandria Central"
    assert library_a.tenant.slug == "alexandria"


def test_librarians_cannot_add_delete_or_rename_libraries(client, library_a, admin_a, librarian_a):
    login(client, admin_a)
    add = client.post(reverse("admin:tenants_tenant_add"), {"name": "Mine", "slug": "mine"})
    delete = client.post(reverse("admin:tenants_tenant_delete", args=[library_a.tenant.pk]), {"post": "yes"})
    login(client, librarian_a)
    rename = client.post(reverse("admin:tenants_tenant_change", args=[library_a.tenant.pk]), {"name": "X"})

    assert (add.status_code, delete.status_code, rename.status_code) == (403, 403, 403)
    assert list(Tenant.objects.values_list("slug", "name")) == [("alexandria", "Alexandria Public Library")]


# --- superusers and outsiders -----------------------------------------------------------------


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.org", password=None)


def test_superuser_sees_every_librarys_rows(
    client, library_a, library_b, platform_key, admin_a, admin_b, superuser
):
    login(client, superuser)

    keys = client.get(reverse("admin:tenants_apikey_changelist"))
    memberships = client.get(reverse("admin:tenants_membership_changelist"))
    tenants = client.get(reverse("admin:tenants_tenant_changelist"))
    other = client.get(reverse("admin:tenants_apikey_change", args=[library_b.key.pk]))

    assert set(changelist_rows(keys)) == {library_a.key, library_b.key, platform_key}
    assert {m.user.username for m in changelist_rows(memberships)} == {"ada", "barbara"}
    assert set(changelist_rows(tenants)) == {library_a.tenant, library_b.tenant}
    assert other.status_code == 200


def test_superuser_issues_a_platform_key(client, superuser):
    login(client, superuser)

    response = client.post(reverse("admin:tenants_apikey_add"), add_key_form(None))

    raw_key = ISSUED_KEY.search(response.content.decode()).group(1)
    key = ApiKey.objects.get(key_hash=hash_api_key(raw_key))
    assert key.is_platform
    assert key.scopes == []


def test_superuser_creates_a_library_and_sees_its_first_key_once(client, superuser):
    login(client, superuser)

    response = client.post(reverse("admin:tenants_tenant_add"), {"name": "Celsus Library", "slug": "celsus"})

    assert response.status_code == 200
    raw_key = ISSUED_KEY.search(response.content.decode()).group(1)
    tenant = Tenant.objects.get(slug="celsus")
    assert tenant.api_keys.get().key_hash == hash_api_key(raw_key)
    for session in Session.objects.all():
        assert raw_key not in repr(session.get_decoded())


def test_staff_without_memberships_gets_no_library_data(client, library_a):
    outsider = staff_user(username="visitor")
    login(client, outsider)

    index = client.get(reverse("admin:index"))

    assert index.status_code == 200
    assert index.context["app_list"] == []
    assert client.get(reverse("admin:app_list", args=["tenants"])).status_code == 404
    for model in ("apikey", "membership", "tenant"):
        assert client.get(reverse(f"admin:tenants_{model}_changelist")).status_code == 403
        assert client.get(reverse(f"admin:tenants_{model}_add")).status_code == 403
    assert client.get(reverse("admin:tenants_apikey_change", args=[library_a.key.pk])).status_code == 404
    assert library_a.key.prefix not in index.content.decode()


def test_non_staff_member_cannot_enter_the_admin(client, library_a):
    user = member(library_a.tenant, ADMIN, is_staff=False)
    login(client, user)

    response = client.get(reverse("admin:tenants_apikey_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_librarians_cannot_see_user_accounts(client, library_a, admin_a):
    login(client, admin_a)

    index = client.get(reverse("admin:index"))
    users = client.get(reverse("admin:auth_user_changelist"))

    app_labels = {app["app_label"] for app in index.context["app_list"]}
    assert "auth" not in app_labels
    assert "tenants" in app_labels
    assert users.status_code == 403


def test_save_guard_refuses_another_library_even_past_the_picker(rf, library_a, library_b, admin_a):
    # The pickers stop this in every form above; the guard holds when a subclass's form does not.
    request = rf.post("/admin/")
    request.user = admin_a
    key_admin = admin.site._registry[ApiKey]

    with pytest.raises(PermissionDenied):
        key_admin.ensure_tenant_allowed(request, ApiKey(tenant=library_b.tenant, name="Sneaky"))
    key_admin.ensure_tenant_allowed(request, ApiKey(tenant=library_a.tenant, name="Fine"))


# --- a library always keeps a library admin ---------------------------------------------------------


def test_the_last_library_admin_cannot_be_demoted_or_removed(client, library_a, admin_a, librarian_a):
    own = Membership.objects.get(user=admin_a)
    login(client, admin_a)

    demote = client.post(reverse("admin:tenants_membership_change", args=[own.pk]), {"role": LIBRARIAN})
    assert demote.status_code == 200 and "last library admin" in demote.content.decode()
    delete = client.post(reverse("admin:tenants_membership_delete", args=[own.pk]), {"post": "yes"})
    assert delete.status_code == 302 and delete["Location"].endswith(f"/{own.pk}/change/")
    client.post(
        reverse("admin:tenants_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [own.pk], "post": "yes"},
    )
    own.refresh_from_db()
    assert own.role == ADMIN

    # With a second admin, the first may step down.
    other = Membership.objects.get(user=librarian_a)
    client.post(reverse("admin:tenants_membership_change", args=[other.pk]), {"role": ADMIN})
    client.post(reverse("admin:tenants_membership_change", args=[own.pk]), {"role": LIBRARIAN})
    own.refresh_from_db()
    assert own.role == LIBRARIAN


def test_the_service_refuses_to_remove_the_last_admin(library_a, admin_a):
    from tenants import services

    own = Membership.objects.get(user=admin_a)
    with pytest.raises(services.LastLibraryAdmin):
        services.remove_membership(membership=own)
    with pytest.raises(services.LastLibraryAdmin):
        services.change_membership_role(membership=own, role=LIBRARIAN)
    assert Membership.objects.get(pk=own.pk).role == ADMIN


# --- a form that issues a key, sent twice --------------------------------------------------------


def issue_once_token(client, url: str) -> str:
    html = client.get(url).content.decode()
    return re.search(r'name="issue_once" value="([^"]+)"', html).group(1)


def test_sending_the_key_form_again_issues_no_second_key(client, library_a, admin_a):
    login(client, admin_a)
    url = reverse("admin:tenants_apikey_add")
    form = {"name": "Website", "tenant": library_a.tenant.pk, "scopes": ["catalog:read"]}
    form["issue_once"] = issue_once_token(client, url)

    first = client.post(url, form)
    assert first.status_code == 200 and "olcs_" in first.content.decode()
    again = client.post(url, form)  # a reload of the answer sends the same form

    assert again.status_code == 302 and again["Location"] == reverse("admin:tenants_apikey_changelist")
    assert ApiKey.objects.filter(name="Website").count() == 1
    assert "was already sent" in client.get(again["Location"]).content.decode()
    # A fresh form still works.
    form["issue_once"] = issue_once_token(client, url)
    assert client.post(url, form).status_code == 200
    assert ApiKey.objects.filter(name="Website").count() == 2


def test_sending_the_library_form_again_creates_nothing_more(client, superuser):
    login(client, superuser)
    url = reverse("admin:tenants_tenant_add")
    form = {"name": "Carnegie", "slug": "carnegie", "issue_once": issue_once_token(client, url)}
    assert client.post(url, form).status_code == 200
    again = client.post(url, form)
    assert again.status_code == 302
    assert Tenant.objects.filter(slug="carnegie").count() == 1
    assert ApiKey.objects.filter(tenant__slug="carnegie").count() == 1


def test_a_library_filter_asked_for_is_applied_even_with_one_library(
    client, library_a, library_b, librarian_a
):
    keys_list = reverse("admin:tenants_apikey_changelist")
    login(client, librarian_a)
    own = client.get(keys_list)
    assert own.context["cl"].result_count == ApiKey.objects.filter(tenant=library_a.tenant).count() > 0

    other = client.get(keys_list, {"tenant__id__exact": library_b.tenant.pk})
    assert other.status_code == 200 and other.context["cl"].result_count == 0
