"""Who may open which admin page and run which action: every page of every model, six kinds of user.

The users: nobody logged in, a staff account without a library, a librarian and a library
admin of library A, a librarian of library B, and a superuser. Each admin page (list, add,
change, delete, history and the custom pages) is requested for one of A's objects and the
answer compared with the table below: 200 allowed, 403 refused, 404 another library's object
(indistinguishable from a missing one), a redirect to the login page for nobody.

A new registered admin without a row in EXPECTED makes `test_every_admin_is_in_the_table` fail.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import TestCase
from django.urls import reverse

from catalog.models import Book
from catalog.services import upsert_book
from ingestion.models import IngestionJob, TrackedQuery
from patrons import services as patron_services
from patrons.models import Patron, Submission
from patrons.pii import Personal
from tenants.models import ApiKey, Membership, Tenant
from tests.catalog.conftest import content
from tests.factories import ApiKeyFactory, MembershipFactory, TenantFactory, UserFactory

Role = Membership.Role
USERS = ("staff_only", "librarian_a", "admin_a", "librarian_b", "superuser")

# {model label: {page: users allowed}}; every other logged-in user gets 403, except
# those outside library A, who get 404 on A's objects (`OBJECT_PAGES`), as for a missing object.
LIBRARIANS_A = {"librarian_a", "admin_a", "superuser"}
ADMINS_A = {"admin_a", "superuser"}
SUPER = {"superuser"}
# librarian_b may open the list and the add page of the models their own library can use.
WITH_B = {"librarian_b"}
EXPECTED: dict[str, dict[str, set[str]]] = {
    "tenants.tenant": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": SUPER,
        "change": LIBRARIANS_A,
        "delete": SUPER,
    },
    "tenants.apikey": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": ADMINS_A,
        "change": LIBRARIANS_A,
        "delete": SUPER,
        "revoke": ADMINS_A,
    },
    "tenants.membership": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": SUPER,  # accounts are added to libraries by the platform (ADR 0024)
        "change": LIBRARIANS_A,
        "delete": ADMINS_A,
    },
    "catalog.book": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": set(),
        "change": LIBRARIANS_A,
        "delete": SUPER,
    },
    "ingestion.ingestionjob": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": LIBRARIANS_A | WITH_B,
        "change": LIBRARIANS_A,
        "delete": SUPER,
    },
    "ingestion.trackedquery": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": LIBRARIANS_A | WITH_B,
        "change": LIBRARIANS_A,
        "delete": LIBRARIANS_A,
    },
    "patrons.patron": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": set(),
        "change": LIBRARIANS_A,
        "delete": set(),
        "find": LIBRARIANS_A | WITH_B,
    },
    "patrons.submission": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": set(),
        "change": LIBRARIANS_A,
        "delete": SUPER,
    },
    "patrons.requestedbook": {
        "changelist": LIBRARIANS_A | WITH_B,
        "add": set(),
        "change": LIBRARIANS_A,
        "delete": set(),
    },
    # The platform's own tables: superusers only.
    "auth.user": {"changelist": SUPER, "add": SUPER, "change": SUPER, "delete": SUPER},
    "auth.group": {"changelist": SUPER, "add": SUPER, "change": SUPER, "delete": SUPER},
    "django_q.schedule": {"changelist": SUPER, "add": SUPER, "change": SUPER, "delete": SUPER},
    "django_q.success": {"changelist": SUPER, "add": set(), "change": SUPER, "delete": SUPER},
    "django_q.failure": {"changelist": SUPER, "add": set(), "change": SUPER, "delete": SUPER},
    "django_q.ormq": {"changelist": SUPER, "add": set(), "change": SUPER, "delete": SUPER},
}
# Pages about one object: another library's member gets 404 there, not 403.
OBJECT_PAGES = {"change", "delete", "history", "revoke", "diff"}
OUTSIDERS = {"staff_only", "librarian_b"}  # neither is a member of library A
SCOPED = {
    label for label in EXPECTED if label.split(".")[0] in {"tenants", "catalog", "ingestion", "patrons"}
}


class AdminPermissionMatrix(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.a = TenantFactory(name="Library A", slug="library-a")
        cls.b = TenantFactory(name="Library B", slug="library-b")
        make = get_user_model().objects.create_user
        cls.users = {
            "staff_only": make("staff_only", password="x", is_staff=True),
            "librarian_a": make("librarian_a", password="x", is_staff=True),
            "admin_a": make("admin_a", password="x", is_staff=True),
            "librarian_b": make("librarian_b", password="x", is_staff=True),
            "superuser": make("root", password="x", is_staff=True, is_superuser=True),
        }
        MembershipFactory(user=cls.users["librarian_a"], tenant=cls.a, role=Role.LIBRARIAN)
        cls.membership = MembershipFactory(user=cls.users["admin_a"], tenant=cls.a, role=Role.ADMIN)
        MembershipFactory(user=cls.users["librarian_b"], tenant=cls.b, role=Role.LIBRARIAN)
        cls.objects = {label: cls.make_objects(tenant) for label, tenant in (("a", cls.a), ("b", cls.b))}

    @classmethod
    def make_objects(cls, tenant: Tenant) -> dict:
        book, _ = upsert_book(tenant=tenant, open_library_key="/works/OL1W", content=content("Shared Title"))
        upsert_book(
            tenant=tenant, open_library_key="/works/OL1W", content=content("Shared Title", subtitle="v2")
        )
        submission = patron_services.record_submission(
            tenant=tenant,
            email=Personal(f"reader@{tenant.slug}.example"),
            name=Personal("Reader"),
            books=[
                patron_services.BookRequest(kind="work", input="/works/OL1W", open_library_key="/works/OL1W")
            ],
        )
        return {
            "tenants.tenant": tenant,
            "tenants.apikey": ApiKeyFactory(tenant=tenant),
            "tenants.membership": Membership.objects.filter(tenant=tenant, role=Role.LIBRARIAN)
            .order_by("pk")
            .first(),
            "catalog.book": book,
            "ingestion.ingestionjob": IngestionJob.objects.create(tenant=tenant, kind="query", query="dune"),
            "ingestion.trackedquery": TrackedQuery.objects.create(tenant=tenant, query="subject:x", limit=5),
            "patrons.patron": Patron.objects.get(pk=submission.patron_id),
            "patrons.submission": Submission.objects.get(pk=submission.pk),
            "patrons.requestedbook": book,
        }

    # --- helpers ---------------------------------------------------------------------------------

    def url(self, label: str, page: str, obj=None) -> str:
        app, model = label.split(".")
        if page in ("changelist", "add"):
            return reverse(f"admin:{app}_{model}_{page}")
        if page == "find":
            return reverse("admin:patrons_patron_find")
        if page == "revoke":
            return reverse("admin:tenants_apikey_revoke", args=[obj.pk])
        return reverse(f"admin:{app}_{model}_{page}", args=[obj.pk])

    def platform_object(self, label: str):
        from django_q.models import Failure, OrmQ, Schedule, Success

        if label == "auth.user":
            return self.users["staff_only"]
        if label == "auth.group":
            from django.contrib.auth.models import Group

            return Group.objects.get_or_create(name="readers")[0]
        if label == "django_q.schedule":
            return Schedule.objects.create(name="s", func="math.floor")
        model = {"django_q.success": Success, "django_q.failure": Failure, "django_q.ormq": OrmQ}[label]
        if model is OrmQ:
            return OrmQ.objects.create(key="default", payload="x", lock=None)
        return model.objects.create(
            id=label,
            name="t",
            func="math.floor",
            started="2026-01-01T00:00Z",
            stopped="2026-01-01T00:00Z",
            success=model is Success,
        )

    def expect(self, label: str, page: str, user: str) -> int:
        if user in OUTSIDERS and label in SCOPED and page in OBJECT_PAGES:
            return 404
        allowed = EXPECTED[label]["change" if page == "history" else page]
        return 200 if user in allowed else 403

    def status(self, user: str, url: str) -> int:
        self.client.force_login(self.users[user])
        return self.client.get(url).status_code

    # --- the matrix ------------------------------------------------------------------------------

    def test_every_admin_is_in_the_table(self):
        registered = {model._meta.label_lower for model in admin.site._registry}
        self.assertEqual(registered, set(EXPECTED))

    def test_nobody_logged_in_is_sent_to_the_login_page(self):
        for label in EXPECTED:
            for page in ("changelist", "add"):
                response = self.client.get(self.url(label, page))
                self.assertEqual(response.status_code, 302, (label, page))
                self.assertIn(reverse("admin:login"), response["Location"])

    def test_every_page_for_every_user(self):
        failures = []
        for label, pages in EXPECTED.items():
            obj = self.objects["a"][label] if label in SCOPED else self.platform_object(label)
            for page in [*pages, "history"]:
                url = self.url(label, page, obj)
                for user in USERS:
                    want, got = self.expect(label, page, user), self.status(user, url)
                    if want != got:
                        failures.append(f"{user} GET {url} ({label} {page}): want {want}, got {got}")
        self.assertEqual(failures, [])

    def test_the_book_diff_page(self):
        url = self.url("catalog.book", "diff", self.objects["a"]["catalog.book"]) + "?a=1&b=2"
        got = {user: self.status(user, url) for user in USERS}
        self.assertEqual(
            got, {"staff_only": 404, "librarian_a": 200, "admin_a": 200, "librarian_b": 404, "superuser": 200}
        )

    def test_site_pages(self):
        for user in USERS:
            self.assertEqual(self.status(user, reverse("admin:index")), 200, user)
            self.assertEqual(self.status(user, reverse("admin:olcs_library_picker")), 200, user)
        self.client.force_login(self.users["librarian_b"])
        self.assertEqual(
            self.client.post(reverse("admin:olcs_choose_library", args=[self.a.slug])).status_code, 404
        )

    # --- actions ---------------------------------------------------------------------------------

    def run_action(self, user: str, label: str, action: str, obj) -> None:
        self.client.force_login(self.users[user])
        app, model = label.split(".")
        self.client.post(
            reverse(f"admin:{app}_{model}_changelist"),
            {"action": action, admin.helpers.ACTION_CHECKBOX_NAME: [obj.pk], "post": "yes"},
        )

    def test_revoke_keys_needs_a_library_admin_of_that_library(self):
        key = self.objects["a"]["tenants.apikey"]
        for user in ("staff_only", "librarian_a", "librarian_b"):
            self.run_action(user, "tenants.apikey", "revoke_selected", key)
            key.refresh_from_db()
            self.assertIsNone(key.revoked_at, user)
        self.run_action("admin_a", "tenants.apikey", "revoke_selected", key)
        key.refresh_from_db()
        self.assertIsNotNone(key.revoked_at)

    def test_erase_patrons_needs_a_member_of_that_library(self):
        patron = self.objects["a"]["patrons.patron"]
        for user in ("staff_only", "librarian_b"):
            self.run_action(user, "patrons.patron", "erase_selected", patron)
            self.assertTrue(Patron.objects.filter(pk=patron.pk).exists(), user)
        self.run_action("librarian_a", "patrons.patron", "erase_selected", patron)
        self.assertFalse(Patron.objects.filter(pk=patron.pk).exists())

    def test_cancel_and_retry_jobs_need_a_member_of_that_library(self):
        job = self.objects["a"]["ingestion.ingestionjob"]
        for user in ("staff_only", "librarian_b"):
            self.run_action(user, "ingestion.ingestionjob", "cancel_selected", job)
            job.refresh_from_db()
            self.assertEqual(job.status, IngestionJob.Status.PENDING, user)
            self.client.force_login(self.users[user])
            self.client.post(reverse("admin:ingestion_job_cancel", args=[job.pk]))
            job.refresh_from_db()
            self.assertEqual(job.status, IngestionJob.Status.PENDING, user)
        self.run_action("librarian_a", "ingestion.ingestionjob", "cancel_selected", job)
        job.refresh_from_db()
        self.assertEqual(job.status, IngestionJob.Status.CANCELLED)

        failed = IngestionJob.objects.create(
            tenant=self.a,
            kind="keys",
            open_library_keys=["/works/OL1W"],
            status="failed",
            failed_items=["/works/OL1W"],
        )
        before = IngestionJob.objects.count()
        for user in ("staff_only", "librarian_b"):
            self.run_action(user, "ingestion.ingestionjob", "retry_selected", failed)
            self.client.force_login(self.users[user])
            self.client.post(reverse("admin:ingestion_job_retry", args=[failed.pk]))
        self.assertEqual(IngestionJob.objects.count(), before)

    def test_delete_action_is_for_superusers_only_on_catalog_rows(self):
        book = self.objects["a"]["catalog.book"]
        for user in ("librarian_a", "admin_a", "librarian_b"):
            self.run_action(user, "catalog.book", "delete_selected", book)
            self.assertTrue(Book.objects.filter(pk=book.pk).exists(), user)

    def test_membership_changes_need_a_library_admin(self):
        member = self.objects["a"]["tenants.membership"]
        url = reverse("admin:tenants_membership_change", args=[member.pk])
        for user in ("librarian_a", "librarian_b"):
            self.client.force_login(self.users[user])
            self.client.post(url, {"role": Role.ADMIN})
            member.refresh_from_db()
            self.assertEqual(member.role, Role.LIBRARIAN, user)
        self.client.force_login(self.users["admin_a"])
        new_user = UserFactory(username="newcomer")
        self.client.post(
            reverse("admin:tenants_membership_add"),
            {"username": "newcomer", "tenant": self.b.pk, "role": "librarian"},
        )
        self.assertFalse(Membership.objects.filter(user=new_user, tenant=self.b).exists())
        self.client.post(
            reverse("admin:tenants_membership_add"),
            {"username": "newcomer", "tenant": self.a.pk, "role": "librarian"},
        )
        # Adding an account to a library is the platform's act, even into the admin's own library.
        self.assertFalse(Membership.objects.filter(user=new_user).exists())
        self.client.force_login(self.users["superuser"])
        self.client.post(
            reverse("admin:tenants_membership_add"),
            {"username": "newcomer", "tenant": self.a.pk, "role": "librarian"},
        )
        self.assertTrue(Membership.objects.filter(user=new_user, tenant=self.a).exists())

    def test_api_key_issued_only_into_own_library(self):
        self.client.force_login(self.users["admin_a"])
        add = reverse("admin:tenants_apikey_add")
        self.client.post(add, {"name": "sneaky", "tenant": self.b.pk, "scopes": ["catalog:read"]})
        self.assertFalse(ApiKey.objects.filter(name="sneaky").exists())
        response = self.client.post(add, {"name": "mine", "tenant": self.a.pk, "scopes": ["catalog:read"]})
        self.assertEqual(response.status_code, 200)
        self.assertTrue(ApiKey.objects.filter(name="mine", tenant=self.a).exists())
