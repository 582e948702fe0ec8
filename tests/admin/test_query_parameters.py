"""The admin's other pages driven by the query string or the URL: the autocomplete, the book's
diff (`?a=&b=`), object pages and the job buttons. Another library's ids, huge numbers, regular
expressions and unknown parameters leak nothing and never fail with a 500."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import RequestFactory, TestCase
from django.urls import reverse

from catalog.models import Book
from catalog.services import upsert_book
from ingestion.models import IngestionJob
from tenants.models import Membership
from tests.catalog.conftest import content
from tests.factories import ApiKeyFactory, MembershipFactory, TenantFactory

Role = Membership.Role
HOSTILE_VALUES = ("9" * 40, "²", "١٢", "-1", "(.*.){4}Q", "' OR 1=1 --", "%", "x" * 3000, "bodleian", "0x10")


def foreign_keys() -> list[tuple[type[models.Model], models.Field]]:
    """Every (model, foreign key) pair the autocomplete could be asked about."""
    pairs = []
    for model in admin.site._registry:
        for field in model._meta.get_fields():
            if field.concrete and (field.many_to_one or field.many_to_many):
                pairs.append((model, field))
    return pairs


class HostileQueryParametersTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.a = TenantFactory(name="Alexandria", slug="alexandria")
        cls.b = TenantFactory(name="Bodleian", slug="bodleian")
        make = get_user_model().objects.create_user
        cls.admin_a = make("ada", password=None, is_staff=True)
        cls.outsider = make("barbara", password=None, is_staff=True)
        MembershipFactory(user=cls.admin_a, tenant=cls.a, role=Role.ADMIN)
        MembershipFactory(user=cls.outsider, tenant=cls.b, role=Role.ADMIN)
        cls.books = {}
        for tenant in (cls.a, cls.b):
            ApiKeyFactory(tenant=tenant, name=f"key of {tenant.slug}")
            book, _ = upsert_book(tenant=tenant, open_library_key="/works/OL1W", content=content("Dune"))
            upsert_book(tenant=tenant, open_library_key="/works/OL1W", content=content("Dune", subtitle="v2"))
            cls.books[tenant.slug] = book
            IngestionJob.objects.create(tenant=tenant, kind="query", query="dune", status="failed")

    def setUp(self) -> None:
        self.client.force_login(self.admin_a)

    def test_the_autocomplete_shows_nothing_of_another_library_and_never_fails(self) -> None:
        url = reverse("admin:autocomplete")
        failures, answered = [], set()
        for model, field in foreign_keys():
            for term in ("", *HOSTILE_VALUES):
                params = {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field.name,
                    "term": term,
                }
                response = self.client.get(url, params)
                if response.status_code == 200:
                    answered.add(f"{model._meta.label}.{field.name}")
                    texts = [result["text"] for result in response.json()["results"]]
                    if any("bodleian" in text.lower() or text == "barbara" for text in texts):
                        failures.append(f"{params}: {texts}")
                elif response.status_code not in (403, 404):
                    failures.append(f"{params}: {response.status_code}")
        self.assertEqual(failures, [])
        # The sweep reached pickers that answer (the library pickers), not only refusals.
        self.assertIn("tenants.ApiKey.tenant", answered)

    def test_the_autocomplete_never_lists_accounts(self) -> None:
        response = self.client.get(
            reverse("admin:autocomplete"),
            {"app_label": "tenants", "model_name": "membership", "field_name": "user", "term": "b"},
        )
        self.assertEqual(response.status_code, 403)

    def test_the_diff_page_with_hostile_versions(self) -> None:
        own = reverse("admin:catalog_book_diff", args=[self.books["alexandria"].pk])
        other = reverse("admin:catalog_book_diff", args=[self.books["bodleian"].pk])
        self.assertEqual(self.client.get(own, {"a": 1, "b": 2}).status_code, 200)
        self.assertEqual(self.client.get(other, {"a": 1, "b": 2}).status_code, 404)
        for value in HOSTILE_VALUES:
            for params in ({"a": value, "b": "2"}, {"a": "1", "b": value}, {"a": "1", "b": "2", "c": value}):
                status = self.client.get(own, params).status_code
                self.assertIn(status, (200, 404), params)  # "c" is ignored: the page shows 1 and 2

    def test_object_pages_with_hostile_ids(self) -> None:
        failures = []
        for model in admin.site._registry:
            opts = model._meta
            for value in HOSTILE_VALUES:
                for page in ("change", "delete", "history"):
                    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{page}", args=[value])
                    status = self.client.get(url).status_code
                    # 302: Django's "does not exist" redirect, for the platform's own tables
                    if status not in (302, 403, 404):
                        failures.append(f"{url}: {status}")
        for name in (
            "ingestion_job_cancel",
            "ingestion_job_retry",
            "catalog_book_diff",
            "tenants_apikey_revoke",
        ):
            for value in HOSTILE_VALUES:
                response = self.client.post(reverse(f"admin:{name}", args=[value]))
                if response.status_code not in (302, 403, 404):
                    failures.append(f"{name} {value!r}: {response.status_code}")
        self.assertEqual(failures, [])

    def test_the_view_on_site_shortcut_tells_nothing(self) -> None:
        # /admin/r/<content type>/<id>/ redirects to an object's public page; none has one, so
        # another library's object and a missing one are the same 404.
        job = IngestionJob.objects.for_tenant(self.b).get()
        for model in admin.site._registry:
            content_type = ContentType.objects.get_for_model(model)
            for value in (str(job.pk), *HOSTILE_VALUES):
                response = self.client.get(f"/admin/r/{content_type.pk}/{value}/")
                self.assertEqual(response.status_code, 404, (model, value[:10]))

    def test_another_librarys_job_buttons_do_nothing(self) -> None:
        job = IngestionJob.objects.for_tenant(self.b).get()
        response = self.client.post(reverse("admin:ingestion_job_cancel", args=[job.pk]))
        self.assertEqual(response.status_code, 404)
        job.refresh_from_db()
        self.assertEqual(job.status, "failed")

    def test_a_search_with_hostile_terms_answers(self) -> None:
        for model in admin.site._registry:
            if not admin.site._registry[model].search_fields:
                continue
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            for term in HOSTILE_VALUES:
                response = self.client.get(url, {"q": term})
                self.assertIn(response.status_code, (200, 403), (url, term[:20]))
                if response.status_code == 200:
                    rows = response.context["cl"].result_list
                    self.assertFalse(
                        any(getattr(row, "tenant_id", self.a.pk) == self.b.pk for row in rows), url
                    )
        # The book search box stays inside the librarian's libraries, even when asked for another.
        books = reverse("admin:catalog_book_changelist")
        response = self.client.get(books, {"q": "dune", "tenant__id__exact": self.b.pk})
        self.assertEqual(list(response.context["cl"].result_list), [])
        response = self.client.get(books, {"q": "dune"})
        self.assertEqual([book.tenant_id for book in response.context["cl"].result_list], [self.a.pk])
        self.assertEqual(Book.objects.count(), 2)

    def test_actions_with_hostile_selections_change_nothing(self) -> None:
        root = get_user_model().objects.create_user("root", password=None, is_staff=True, is_superuser=True)
        failures = []
        for user in (self.admin_a, root):
            self.client.force_login(user)
            for model, model_admin in admin.site._registry.items():
                url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
                request = RequestFactory().get(url)
                request.user = user
                for action in model_admin.get_actions(request):
                    for value in HOSTILE_VALUES:
                        form = {"action": action, "index": 0, "_selected_action": [value], "post": "yes"}
                        status = self.client.post(url, form).status_code
                        # 403: a list this user may not open at all
                        if status not in (200, 302, 403):
                            failures.append(f"{user.username} {action} {value[:10]!r}: {status}")
        self.assertEqual(failures, [])
        self.assertEqual(IngestionJob.objects.filter(status="cancelled").count(), 0)
        self.assertEqual(Book.objects.count(), 2)
