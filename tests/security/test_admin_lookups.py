"""Admin lists filter by what their admin declares, and nothing else, on every registered admin.

Django applies any query parameter that names a field of the model as a lookup: a librarian
read a patron's `email_hash` one character at a time (`?id=1&email_hash__gte=8`), and one
`?title__regex=(.*.){4}Q` kept SQLite busy for seconds. Every admin on the site, present or
added later, now answers anything but its declared filters, search, ordering and paging with a
400 page, before the queryset sees it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client, RequestFactory, TestCase
from django.urls import reverse

from catalog.models import Book
from catalog.services import upsert_book
from ingestion.models import IngestionJob
from olcs.admin import DeclaredFiltersOnly, UndeclaredLookup
from patrons import services as patron_services
from patrons.models import Patron
from patrons.pii import Personal
from tenants.models import Membership, Tenant
from tests.catalog.conftest import content
from tests.factories import ApiKeyFactory, MembershipFactory, TenantFactory

Role = Membership.Role
REDOS = "(.*.){4}Q"


def changelist_url(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def battery(model: type[models.Model]) -> list[dict[str, str]]:
    """Undeclared lookups for `model`: range, prefix and regex lookups and the bare name on
    each of its own fields, relation traversals, and the two named in the report."""
    asked: list[dict[str, str]] = [
        {"email_hash": "0"},
        {"email_hash__gte": "8"},
        {"key_hash__startswith": "a"},
        {"tenant__slug": "bodleian"},
        {"tenant__name__regex": REDOS},
        {"pk": "1"},
        {"id__in": "1,2"},
    ]
    for field in model._meta.concrete_fields:
        name = field.attname
        asked += [
            {name: "1"},
            {f"{name}__gte": "8"},
            {f"{name}__startswith": "a"},
            {f"{name}__regex": REDOS},
            {f"{name}__iregex": "a"},
        ]
        if field.is_relation:
            asked.append({f"{field.name}__pk__gte": "0"})
    return asked


class DeclaredFiltersOnlyTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.a = TenantFactory(name="Alexandria", slug="alexandria")
        cls.b = TenantFactory(name="Bodleian", slug="bodleian")
        make = get_user_model().objects.create_user
        cls.librarian = make("alan", password=None, is_staff=True)
        cls.superuser = make("root", password=None, is_staff=True, is_superuser=True)
        MembershipFactory(user=cls.librarian, tenant=cls.a, role=Role.LIBRARIAN)
        for tenant in (cls.a, cls.b):
            ApiKeyFactory(tenant=tenant)
            upsert_book(tenant=tenant, open_library_key="/works/OL1W", content=content("Dune"))
            upsert_book(tenant=tenant, open_library_key="/works/OL2W", content=content("Emma"))
            patron_services.record_submission(
                tenant=tenant,
                email=Personal(f"reader@{tenant.slug}.example"),
                name=Personal("Reader"),
                books=[
                    patron_services.BookRequest(
                        kind="work", input="/works/OL1W", open_library_key="/works/OL1W"
                    )
                ],
            )
            IngestionJob.objects.create(tenant=tenant, kind="query", query="dune", status="failed")
            IngestionJob.objects.create(tenant=tenant, kind="query", query="emma", status="completed")

    def setUp(self) -> None:
        # One session per user: logging in for each of the thousands of requests below
        # would be most of the test's time.
        self.clients = {}
        for user in (self.librarian, self.superuser):
            self.clients[user.pk] = Client()
            self.clients[user.pk].force_login(user)

    def get(self, user, url: str, params: dict[str, str]):
        return self.clients[user.pk].get(url, params)

    def declared_parameters(self, url: str) -> set[str]:
        """What the list's own filters read (`status__exact`, `cluster__isnull`, ...)."""
        changelist = self.get(self.superuser, url, {}).context["cl"]
        return {name for spec in changelist.filter_specs for name in spec.expected_parameters()}

    def test_every_admin_refuses_every_undeclared_lookup(self) -> None:
        leaks = []
        for model in admin.site._registry:
            url = changelist_url(model)
            declared = self.declared_parameters(url)
            self.assertNotIn("email_hash__gte", declared)
            for user in (self.librarian, self.superuser):
                if self.get(user, url, {}).status_code == 403:
                    continue  # the list is not theirs at all: nothing to filter
                for params in battery(model):
                    if declared.intersection(params):
                        continue
                    response = self.get(user, url, params)
                    if response.status_code != 400:
                        leaks.append(f"{user.username} {url} {params}: {response.status_code}")
        self.maxDiff = None
        self.assertEqual(leaks, [])

    def test_the_refusal_is_a_page_in_the_librarians_words(self) -> None:
        response = self.get(self.librarian, changelist_url(Patron), {"email_hash__gte": "8"})
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "This list has no filter called “email_hash__gte”", status_code=400)
        self.assertNotContains(response, "reader@", status_code=400)
        through = self.get(self.librarian, changelist_url(Book), {"tenant__slug": "bodleian"})
        self.assertContains(through, "This list has no filter called “tenant__slug”", status_code=400)

    def test_reading_a_hash_character_by_character_gets_nothing(self) -> None:
        patron = Patron.objects.for_tenant(self.a).get()
        answers = {
            self.get(
                self.librarian, changelist_url(Patron), {"id": patron.pk, "email_hash__gte": digit}
            ).status_code
            for digit in "0123456789abcdef"
        }
        self.assertEqual(answers, {400})

    def test_declared_filters_search_ordering_and_paging_still_work(self) -> None:
        jobs = changelist_url(IngestionJob)
        failed = self.get(self.librarian, jobs, {"status__exact": "failed"})
        self.assertEqual(failed.status_code, 200)
        self.assertEqual([job.query for job in failed.context["cl"].result_list], ["dune"])
        everything = self.get(self.superuser, jobs, {"o": "2", "p": "1", "q": "dune"})
        self.assertEqual(everything.status_code, 200)
        self.assertEqual(everything.context["cl"].result_count, 2)  # one per library

        books = changelist_url(Book)
        own = self.get(self.superuser, books, {"tenant__id__exact": self.b.pk})
        self.assertEqual({book.tenant_id for book in own.context["cl"].result_list}, {self.b.pk})
        # The library filter of a library the librarian is not in shows none of its rows.
        other = self.get(self.librarian, books, {"tenant__id__exact": self.b.pk})
        self.assertEqual(other.status_code, 200)
        self.assertEqual(list(other.context["cl"].result_list), [])
        keys = self.get(self.librarian, reverse("admin:tenants_apikey_changelist"), {"status": "active"})
        self.assertEqual(keys.status_code, 200)
        self.assertEqual({key.tenant_id for key in keys.context["cl"].result_list}, {self.a.pk})
        searched = self.get(self.librarian, books, {"q": "dune"})
        self.assertEqual([book.title for book in searched.context["cl"].result_list], ["Dune"])

    def test_hostile_ordering_paging_and_search_are_not_errors(self) -> None:
        for model in admin.site._registry:
            url = changelist_url(model)
            for params in (
                {"o": "abc.999.-7.²"},
                {"p": "9" * 30},
                {"p": "²"},
                {"all": "", "q": REDOS},
                {"_facets": "1"},
                {"e": "1"},
            ):
                status = self.get(self.superuser, url, params).status_code
                # 302: Django's "?e=1" for a page that does not exist, which lists no rows.
                self.assertIn(status, (200, 302), (url, params))

    def test_a_bad_value_for_a_declared_filter_is_not_an_error(self) -> None:
        response = self.get(self.superuser, changelist_url(Book), {"tenant__id__exact": "x" * 5000})
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].endswith("?e=1"))

    def test_an_admin_registered_later_is_covered_without_declaring_anything(self) -> None:
        request_factory = RequestFactory()
        admin.site.register(ContentType)
        try:
            model_admin = admin.site._registry[ContentType]
            self.assertIsInstance(model_admin, DeclaredFiltersOnly)
            request = request_factory.get("/admin/contenttypes/contenttype/", {"model__startswith": "p"})
            request.user = self.superuser
            with self.assertRaises(UndeclaredLookup):
                model_admin.get_changelist_instance(request)
        finally:
            admin.site.unregister(ContentType)

    def test_a_date_hierarchy_still_narrows_by_year(self) -> None:
        class DatedTenantAdmin(admin.ModelAdmin):
            date_hierarchy = "created_at"

        admin.site.unregister(Tenant)
        admin.site.register(Tenant, DatedTenantAdmin)
        try:
            model_admin = admin.site._registry[Tenant]
            year = str(self.a.created_at.year)
            request = RequestFactory().get("/admin/tenants/tenant/", {"created_at__year": year})
            request.user = self.superuser
            changelist = model_admin.get_changelist_instance(request)
            self.assertEqual(changelist.result_count, 2)
            forged = RequestFactory().get("/admin/tenants/tenant/", {"created_at__gte": "2000-01-01"})
            forged.user = self.superuser
            with self.assertRaises(UndeclaredLookup) as refused:
                model_admin.get_changelist_instance(forged)
            self.assertIn("created_at__gte", str(refused.exception))
        finally:
            from tenants.admin import TenantAdmin

            admin.site.unregister(Tenant)
            admin.site.register(Tenant, TenantAdmin)
