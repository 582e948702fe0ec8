import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants import services
from tenants.models import ALL_SCOPES, ApiKey, Membership, Tenant

DEMO_KEY_NAME = "Demo key (make run)"


class Command(BaseCommand):
    help = (
        "Development only: make sure a demo library and librarian exist, give the librarian a "
        "fresh password and the library a fresh API key, and print them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--username", default="librarian")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    @transaction.atomic
    def handle(self, *args, slug: str, username: str, base_url: str, **options):
        if not settings.DEBUG:
            self.stderr.write(
                "setup_demo runs only in development, with DEBUG=true (it resets a password); "
                "`make run` sets it."
            )
            raise SystemExit(2)
        tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": "Demo Library"})
        user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
        password = secrets.token_urlsafe(12)
        user.is_staff = True
        user.set_password(password)
        user.save()
        Membership.objects.update_or_create(
            tenant=tenant, user=user, defaults={"role": Membership.Role.ADMIN}
        )
        for old in ApiKey.objects.for_tenant(tenant).filter(name=DEMO_KEY_NAME, revoked_at__isnull=True):
            services.revoke_api_key(api_key=old)
        _, raw_key = services.issue_api_key(tenant=tenant, name=DEMO_KEY_NAME, scopes=sorted(ALL_SCOPES))

        base = base_url.rstrip("/")
        self.stdout.write(self.style.SUCCESS("OLCS is ready."))
        self.stdout.write(f"  API:        {base}/            docs: {base}/docs")
        self.stdout.write(f"  Admin:      {base}/admin/      user: {username}   password: {password}")
        self.stdout.write(f"  Library:    {tenant.name} (slug {tenant.slug})")
        self.stdout.write(f"  API key:    {raw_key}")
        self.stdout.write(
            f"  Try:        curl -H 'Authorization: Bearer {raw_key}' {base}/tenants/{tenant.slug}"
        )
