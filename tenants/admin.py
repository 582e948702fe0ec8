"""The librarians' admin: every library sees and changes only its own rows.

`TenantScopedAdmin` is the base of every admin of a tenant-owned model. Superusers see
everything; a staff user sees the libraries they have a `Membership` in, and what they may
do there follows their role, not Django's per-model permission tables.
"""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import NotRelationField, get_fields_from_path, unquote
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.text import capfirst

from olcs.admin import DeclaredFiltersOnly
from tenants import services
from tenants.access import current_library
from tenants.models import ApiKey, Membership, Scope, Tenant

Role = Membership.Role
ALL_ROLES: tuple[str, ...] = tuple(Role.values)


def membership_roles(request: HttpRequest) -> dict[int, str]:
    """{tenant id: role} of the requesting user, read once per request.

    The admin asks this many times while rendering one page (index, permissions, pickers).
    """
    cached = getattr(request, "_olcs_membership_roles", None)
    if cached is not None:
        return cached
    user = request.user
    roles: dict[int, str] = {}
    if user.is_authenticated and user.is_active and user.is_staff:
        roles = dict(Membership.objects.filter(user=user).values_list("tenant_id", "role"))
    request._olcs_membership_roles = roles
    return roles


def is_tenant_owned(model: type[Model]) -> bool:
    """Tenant-owned models scope their rows through `for_tenants()` (tenants.models.TenantQuerySet)."""
    return hasattr(model._default_manager, "for_tenants")


class TenantListFilter(admin.RelatedOnlyFieldListFilter):
    """The library filter: only libraries the user can see rows of (the scoped queryset's)."""

    def __init__(self, field, request: HttpRequest, params, model, model_admin, field_path) -> None:
        # Set before super(), which already asks `include_empty_choice`.
        self.show_empty_choice = request.user.is_superuser
        super().__init__(field, request, params, model, model_admin, field_path)

    @property
    def include_empty_choice(self) -> bool:
        # "No library" rows (platform keys) exist only for superusers.
        return self.show_empty_choice and super().include_empty_choice

    def has_output(self) -> bool:
        # Django hides, and then ignores, a filter with a single choice: a librarian of one
        # library asking for another library's rows would get their own, under a filter the
        # page claims. A filter that was asked for is applied (and shown).
        return super().has_output() or bool(self.lookup_val)


class TenantScopedAdmin(DeclaredFiltersOnly, admin.ModelAdmin):
    """Base admin of a tenant-owned model: rows, pickers and permissions follow memberships.

    A subclass declares its model-specific options only. `tenant_field` is the lookup path
    from the model to its tenant ("tenant", or e.g. "book__tenant"). Members with a role in
    `view_roles` see the library's rows; members with a role in `edit_roles` add, change
    and delete them. Other libraries' rows are a 404, as in the API. Lists filter by the
    declared `list_filter` and the library filter only (`DeclaredFiltersOnly`).
    """

    tenant_field: str = "tenant"
    view_roles: tuple[str, ...] = ALL_ROLES
    edit_roles: tuple[str, ...] = ALL_ROLES

    # --- who may do what ------------------------------------------------------------------

    def member_tenant_ids(self, request: HttpRequest, *roles: str) -> frozenset[int]:
        """Ids of the libraries where the user is a member with one of `roles` (any role if none).

        Memberships only: a superuser without memberships gets an empty set.
        """
        wanted = set(roles or ALL_ROLES)
        return frozenset(tid for tid, role in membership_roles(request).items() if role in wanted)

    def tenants_with_role(self, request: HttpRequest, *roles: str) -> QuerySet[Tenant]:
        """The libraries where the user has one of `roles`; every library for a superuser."""
        if request.user.is_superuser:
            return Tenant.objects.all()
        return Tenant.objects.filter(pk__in=self.member_tenant_ids(request, *roles))

    def has_tenant_role(self, request: HttpRequest, roles: tuple[str, ...], obj: Model | None = None) -> bool:
        """Whether the user has one of `roles` in `obj`'s library (in any library when obj is None)."""
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:
            return True
        allowed = self.member_tenant_ids(request, *roles)
        if obj is None:
            return bool(allowed)
        return self.tenant_id_of(obj) in allowed

    def tenant_id_of(self, obj: Model) -> int | None:
        *path_to_owner, last = self.tenant_field.split(LOOKUP_SEP)
        owner = obj
        for name in path_to_owner:
            owner = getattr(owner, name, None)
            if owner is None:
                return None
        return getattr(owner, owner._meta.get_field(last).attname)

    def scope_queryset(self, queryset: QuerySet, tenant_ids: frozenset[int]) -> QuerySet:
        if self.tenant_field == "tenant" and hasattr(queryset, "for_tenants"):
            return queryset.for_tenants(tenant_ids)
        return queryset.filter(**{f"{self.tenant_field}__in": tenant_ids})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_tenant_role(request, self.view_roles + self.edit_roles)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_tenant_role(request, self.view_roles + self.edit_roles, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_tenant_role(request, self.edit_roles)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_tenant_role(request, self.edit_roles, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_tenant_role(request, self.edit_roles, obj)

    # --- rows -----------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return self.scope_queryset(
            queryset, self.member_tenant_ids(request, *self.view_roles, *self.edit_roles)
        )

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model:
        # Django redirects to the index with "does not exist" on None; another library's row
        # must be indistinguishable from a missing one, and a 404 like the API's.
        # Kept for the request: our change views read the object for their extra context
        # before Django's change_view reads it again.
        fetched = request.__dict__.setdefault("_olcs_admin_objects", {})
        key = (self.model, str(object_id), from_field)
        if key not in fetched:
            obj = super().get_object(request, object_id, from_field)
            if obj is None:
                raise Http404(f"{self.opts.verbose_name} not found")
            fetched[key] = obj
        return fetched[key]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        """A new row starts in the library the user works in (the dashboard's)."""
        initial = super().get_changeform_initial_data(request)
        if LOOKUP_SEP not in self.tenant_field and self.tenant_field not in initial:
            library = current_library(request)
            if library is not None and self.may_edit_in(request, library.pk):
                initial[self.tenant_field] = library.pk
        return initial

    def may_edit_in(self, request: HttpRequest, tenant_id: int) -> bool:
        return request.user.is_superuser or tenant_id in self.member_tenant_ids(request, *self.edit_roles)

    def get_list_filter(self, request: HttpRequest) -> list:
        own = [entry for entry in super().get_list_filter(request) if entry != self.tenant_field]
        return [(self.tenant_field, TenantListFilter), *own]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple:
        readonly = tuple(super().get_readonly_fields(request, obj))
        # Moving a row to another library would break the per-library unique constraints.
        if obj is not None and not request.user.is_superuser and LOOKUP_SEP not in self.tenant_field:
            readonly += (self.tenant_field,)
        return readonly

    # --- pickers and saving -----------------------------------------------------------------

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs) -> forms.Field | None:
        related = db_field.related_model
        if related is Tenant:
            kwargs["queryset"] = self.tenants_with_role(request, *self.edit_roles)
            if db_field.name == self.tenant_field:
                # Librarians know tenants as libraries.
                kwargs.setdefault("label", capfirst(Tenant._meta.verbose_name))
            if not request.user.is_superuser:
                # A librarian's row always belongs to one of their libraries.
                kwargs["required"] = True
        elif is_tenant_owned(related) and not request.user.is_superuser:
            kwargs["queryset"] = related._default_manager.for_tenants(
                self.member_tenant_ids(request, *self.edit_roles)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs) -> forms.Field | None:
        related = db_field.related_model
        if related is Tenant:
            kwargs["queryset"] = self.tenants_with_role(request, *self.edit_roles)
        elif is_tenant_owned(related) and not request.user.is_superuser:
            kwargs["queryset"] = related._default_manager.for_tenants(
                self.member_tenant_ids(request, *self.edit_roles)
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def ensure_tenant_allowed(self, request: HttpRequest, obj: Model) -> None:
        """Refuse to save a row into a library where the user may not edit.

        The pickers already offer only the user's libraries; this holds even when a form,
        a readonly field or a subclass sets the tenant some other way.
        """
        if request.user.is_superuser:
            return
        if self.tenant_id_of(obj) not in self.member_tenant_ids(request, *self.edit_roles):
            raise PermissionDenied

    def save_form(self, request: HttpRequest, form: ModelForm, change: bool) -> Model:
        obj = super().save_form(request, form, change)
        self.ensure_tenant_allowed(request, obj)
        return obj

    # --- configuration checks -----------------------------------------------------------------

    def check(self, **kwargs) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self.check_tenant_field()]

    def check_tenant_field(self) -> list[checks.CheckMessage]:
        try:
            field = get_fields_from_path(self.model, self.tenant_field)[-1]
        except (FieldDoesNotExist, NotRelationField):
            field = None
        if field is None or getattr(field, "related_model", None) is not Tenant:
            return [
                checks.Error(
                    f"tenant_field {self.tenant_field!r} is not a path from "
                    f"{self.model._meta.label} to a foreign key to Tenant.",
                    obj=self.__class__,
                    id="tenants.E001",
                )
            ]
        return []


# --- Forms that issue a key: once per form, even when the browser sends them again ----------------

ISSUE_ONCE_FIELD = "issue_once"
SPENT_SESSION_KEY = "olcs_spent_issue_forms"
SPENT_KEPT = 50


def issue_once_form(form_class: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """`form_class` with a hidden one-time token, so a reload of the answer issues nothing."""

    class IssueOnceForm(form_class):
        issue_once = forms.CharField(widget=forms.HiddenInput, required=False)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields[ISSUE_ONCE_FIELD].initial = secrets.token_urlsafe(18)

    IssueOnceForm.__name__ = form_class.__name__
    return IssueOnceForm


class IssueOnceMixin:
    """The add page of a model whose creation shows a new API key once.

    That page answers the POST itself (the raw key never goes to the session), so a reload
    would send the form again and issue a second key. Each add form carries a random token;
    the tokens of forms that issued something are kept in the session (the token only, never a
    key), and a form sent again answers with a warning instead.
    """

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None):
        token = request.POST.get(ISSUE_ONCE_FIELD, "") if request.method == "POST" else ""
        if token and token in request.session.get(SPENT_SESSION_KEY, []):
            self.message_user(
                request,
                "This form was already sent: what it created is in the list below, and its key was "
                "shown once. If the key was not copied, revoke it and issue another.",
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            )
        return super().add_view(request, form_url, extra_context)

    def spend_issue_form(self, request: HttpRequest) -> None:
        token = request.POST.get(ISSUE_ONCE_FIELD, "")
        if token:
            spent = [*request.session.get(SPENT_SESSION_KEY, []), token][-SPENT_KEPT:]
            request.session[SPENT_SESSION_KEY] = spent


# --- Libraries --------------------------------------------------------------------------------


@admin.register(Tenant)
class TenantAdmin(IssueOnceMixin, TenantScopedAdmin):
    """Libraries: superusers manage all; members see their own and library admins rename them.

    Creating a library goes through `create_tenant`, which also issues its first key; the
    key is shown once, like a key added by hand. A library's own rate limits are set by
    superusers only, on an existing library; its members see them read-only.
    """

    edit_roles = (Role.ADMIN,)
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    ordering = ("slug",)
    rate_limit_fields = (
        "api_rate_limit_requests",
        "api_rate_limit_window_seconds",
        "ingestion_rate_limit_requests",
        "ingestion_rate_limit_window_seconds",
    )

    # The row is the tenant itself.
    def tenant_id_of(self, obj: Model) -> int | None:
        return obj.pk

    def scope_queryset(self, queryset: QuerySet, tenant_ids: frozenset[int]) -> QuerySet:
        return queryset.filter(pk__in=tenant_ids)

    def check_tenant_field(self) -> list[checks.CheckMessage]:
        return []

    def get_list_filter(self, request: HttpRequest) -> list:
        return list(self.list_filter)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple:
        if obj is None:
            return ()
        if request.user.is_superuser:
            return ("created_at",)
        # The slug is the library's address in every API URL; rate limits are the operator's.
        return ("slug", "created_at", *self.rate_limit_fields)

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> list:
        fields = [name for name in self.get_fields(request, obj) if name not in self.rate_limit_fields]
        if obj is None:
            # create_tenant makes the library with the deployment's limits.
            return [(None, {"fields": fields})]
        return [
            (None, {"fields": fields}),
            (
                "Rate limits",
                {
                    "fields": self.rate_limit_fields,
                    "description": "Empty fields use the deployment's defaults "
                    "(API_RATE_LIMIT_* and INGESTION_RATE_LIMIT_*). Only superusers change them.",
                },
            ),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.user.is_superuser)

    def save_form(self, request: HttpRequest, form: ModelForm, change: bool) -> Model:
        tenant = super().save_form(request, form, change)
        if change:
            return tenant
        # The service saves the library and its first key; the admin shows what it made.
        tenant, raw_key = services.create_tenant(name=tenant.name, slug=tenant.slug, created_by=request.user)
        tenant.issued_key = (tenant.api_keys.get(), raw_key)
        return tenant

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = issue_once_form(self.form)
        return super().get_form(request, obj, change, **kwargs)

    def response_add(self, request: HttpRequest, obj: Model, post_url_continue: str | None = None):
        api_key, raw_key = obj.issued_key
        self.spend_issue_form(request)
        return render_issued_key(
            request,
            self,
            api_key=api_key,
            raw_key=raw_key,
            title=f"Library “{obj.name}” created",
            back_url=reverse("admin:tenants_tenant_change", args=[obj.pk]),
            back_label="Go to the library",
        )


# --- API keys ---------------------------------------------------------------------------------


def render_issued_key(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    *,
    api_key: ApiKey,
    raw_key: str,
    title: str,
    back_url: str,
    back_label: str,
    add_another_url: str | None = None,
) -> HttpResponse:
    """The one page that ever shows a raw key: rendered in the response, stored nowhere.

    Not a redirect plus a message, because messages live in the session table.
    """
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "api_key": api_key,
        "raw_key": raw_key,
        "back_url": back_url,
        "back_label": back_label,
        "add_another_url": add_another_url,
    }
    response = TemplateResponse(request, "admin/tenants/api_key_issued.html", context)
    response["Cache-Control"] = "no-store"
    return response


class ApiKeyCreateForm(forms.ModelForm):
    """Issue a key: the service generates the secret, so only these four fields are asked."""

    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What the key may do in its library. Platform keys have no scopes.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "tenant", "scopes", "expires_at"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise ValidationError(
                "Choose a time in the future, or leave empty for a key that does not expire."
            )
        return expires_at

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("tenant") is not None and not cleaned.get("scopes"):
            self.add_error("scopes", "Choose at least one scope.")
        return cleaned


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "active":
            return queryset.usable()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(IssueOnceMixin, TenantScopedAdmin):
    """API keys: library admins issue and revoke their library's keys, librarians look.

    A key never changes after it is issued and is revoked rather than deleted (superusers
    alone may delete). The raw key is shown once, on the page that answers the add form.
    """

    edit_roles = (Role.ADMIN,)
    list_display = (
        "name",
        "tenant_display",
        "prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "expires_at",
        "status",
    )
    list_select_related = ("tenant",)
    list_filter = (ApiKeyStatusFilter,)
    search_fields = ("name", "prefix")
    actions = ["revoke_selected"]
    add_fields = ["name", "tenant", "scopes", "expires_at", ISSUE_ONCE_FIELD]
    readonly_fields = (
        "prefix",
        "scope_list",
        "status",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    detail_fields = [
        "name",
        "tenant",
        "prefix",
        "scope_list",
        "status",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]

    @admin.display(description="library", ordering="tenant__slug")
    def tenant_display(self, obj: ApiKey) -> str:
        return str(obj.tenant) if obj.tenant_id else "— platform —"

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes) or "—"

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        if obj.revoked:
            return "revoked"
        if obj.is_expired:
            return "expired"
        return "active"

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Issued keys are immutable; revoking has its own permission and flow.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.user.is_superuser)

    def has_revoke_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return self.has_tenant_role(request, self.edit_roles, obj)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs) -> forms.Field | None:
        if db_field.name == "tenant" and not request.user.is_superuser:
            kwargs["help_text"] = ""  # "empty for a platform key" is for superusers only
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.add_fields if obj is None else self.detail_fields

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = issue_once_form(ApiKeyCreateForm)
        return super().get_form(request, obj, change, **kwargs)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None):
        # Every successful add answers with the key page, so "save and ..." would mislead.
        extra_context = {**(extra_context or {}), "show_save_and_add_another": False}
        extra_context["show_save_and_continue"] = False
        return super().add_view(request, form_url, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ):
        api_key = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "can_revoke": not api_key.revoked and self.has_revoke_permission(request, api_key),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_form(self, request: HttpRequest, form: ModelForm, change: bool) -> Model:
        draft = super().save_form(request, form, change)
        if change:
            return draft
        # The service creates the row (hash, prefix); the admin logs and shows that row.
        api_key, raw_key = services.issue_api_key(
            tenant=draft.tenant,
            name=draft.name,
            scopes=form.cleaned_data.get("scopes") or [],
            expires_at=draft.expires_at,
            created_by=request.user,
        )
        api_key.raw_key = raw_key
        return api_key

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        """Nothing to do: `save_form` issued the key through the service."""

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None):
        self.spend_issue_form(request)
        return render_issued_key(
            request,
            self,
            api_key=obj,
            raw_key=obj.raw_key,
            title=f"API key “{obj.name}” created",
            back_url=reverse("admin:tenants_apikey_changelist"),
            back_label="Back to API keys",
            add_another_url=reverse("admin:tenants_apikey_add"),
        )

    def get_urls(self) -> list[URLPattern]:
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name="tenants_apikey_revoke",
        )
        return [revoke, *super().get_urls()]

    def revocable(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        queryset = queryset.filter(revoked_at__isnull=True)
        if request.user.is_superuser:
            return queryset
        # A plain librarian of one library may be the library admin of another.
        return queryset.for_tenants(self.member_tenant_ids(request, *self.edit_roles))

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        api_key = self.get_object(request, unquote(object_id))
        if not self.has_revoke_permission(request, api_key):
            raise PermissionDenied
        change_url = reverse("admin:tenants_apikey_change", args=[api_key.pk])
        if api_key.revoked:
            self.message_user(request, f"The API key “{api_key}” was already revoked.", messages.WARNING)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            services.revoke_api_key(api_key=api_key)
            self.log_change(request, api_key, "Revoked.")
            self.message_user(request, f"Revoked the API key “{api_key}”.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": api_key,
            "title": "Revoke API key",
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/tenants/apikey/revoke_confirmation.html", context)

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = 0
        for api_key in self.revocable(request, queryset):
            services.revoke_api_key(api_key=api_key)
            self.log_change(request, api_key, "Revoked.")
            revoked += 1
        noun = "API key" if revoked == 1 else "API keys"
        self.message_user(request, f"Revoked {revoked} {noun}.", messages.SUCCESS)


# --- Memberships ------------------------------------------------------------------------------


class MembershipAddForm(forms.ModelForm):
    """A superuser adds an account to a library by its exact username (no list of every account)."""

    username = forms.CharField(max_length=150, help_text="The exact username of an existing account.")

    class Meta:
        model = Membership
        fields = ["username", "tenant", "role"]

    def clean(self) -> dict:
        cleaned = super().clean()
        username = cleaned.get("username")
        if not username:
            return cleaned
        user_model = get_user_model()
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            self.add_error("username", "No account has this username.")
            return cleaned
        tenant = cleaned.get("tenant")
        if tenant is not None and Membership.objects.for_tenant(tenant).filter(user=user).exists():
            self.add_error("username", "This account is already a member of this library.")
            return cleaned
        self.instance.user = user
        return cleaned


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """Who works for which library: superusers add accounts to libraries; library admins change
    their members' roles and remove members (docs/decisions/0024-adding-librarians.md).

    Accounts are the platform's, not a library's: a library admin who could add members could
    probe every username ("no such account" or "added") and attach another library's librarian
    to their own without that person's consent.
    """

    edit_roles = (Role.ADMIN,)
    list_display = ("user", "tenant", "role", "created_at")
    list_select_related = ("user", "tenant")
    list_filter = ("role",)
    search_fields = ("user__username",)
    change_list_template = "admin/tenants/membership/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.user.is_superuser)

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        if obj is None:
            return ["username", "tenant", "role"]
        return ["user", "tenant", "role", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple:
        if obj is None:
            return ()
        # A membership is a (library, person) pair: change the role, or remove it and add another.
        return ("user", "tenant", "created_at")

    def get_form(self, request: HttpRequest, obj: Membership | None = None, change: bool = False, **kwargs):
        kwargs["form"] = MembershipAddForm if obj is None else MembershipChangeForm
        return super().get_form(request, obj, change, **kwargs)

    # A library always keeps a library admin: the last one can be neither demoted nor removed.

    def save_model(self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        try:
            services.change_membership_role(membership=obj, role=obj.role)
        except services.LastLibraryAdmin as exc:  # raced past the form's check
            raise PermissionDenied(str(exc)) from exc

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None):
        membership = self.get_object(request, unquote(object_id))
        if self.has_delete_permission(request, membership) and services.is_last_library_admin(membership):
            self.message_user(request, str(services.LastLibraryAdmin(membership.tenant)), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:tenants_membership_change", args=[membership.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            services.remove_membership(membership=obj)
        except services.LastLibraryAdmin as exc:
            raise PermissionDenied(str(exc)) from exc

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        kept = []
        for membership in queryset.select_related("tenant", "user"):
            try:
                services.remove_membership(membership=membership)
            except services.LastLibraryAdmin:
                kept.append(str(membership))
        if kept:
            self.message_user(
                request,
                f"Kept {', '.join(kept)}: a library always keeps a library admin.",
                messages.WARNING,
            )


class MembershipChangeForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if role != Role.ADMIN and services.is_last_library_admin(self.instance):
            raise ValidationError(str(services.LastLibraryAdmin(self.instance.tenant)))
        return role
