"""factory-boy factories for every model the tests build."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from tenants.models import ALL_SCOPES, ApiKey, Membership, Tenant, hash_api_key


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Library {n}")
    slug = factory.Sequence(lambda n: f"library-{n}")


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """Builds a key through the real key generator; its raw value is kept on `.raw`
    (the database has only the hash)."""

    class Meta:
        model = ApiKey

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Key {n}")
    scopes = factory.LazyFunction(lambda: sorted(ALL_SCOPES))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        raw, prefix = ApiKey.generate()
        kwargs.update(prefix=prefix, key_hash=hash_api_key(raw))
        api_key = super()._create(model_class, *args, **kwargs)
        api_key.raw = raw
        return api_key


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"librarian{n}")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.LIBRARIAN
