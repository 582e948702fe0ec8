import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants import services
from tenants.models import validate_tenant_slug
from tenants.serializers import TenantSerializer


class Command(BaseCommand):
    help = "Create a library (tenant) and print its first API key, which has every tenant scope."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, name: str, slug: str, json: bool = False, **options):
        if not name.strip():
            raise CommandError("--name must not be empty.")
        try:
            validate_tenant_slug(slug)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        try:
            tenant, raw_key = services.create_tenant(name=name, slug=slug)
        except services.SlugTaken:
            raise CommandError(f"A library with the slug {slug!r} already exists.") from None
        if json:
            self.stdout.write(_json({"tenant": TenantSerializer(tenant).data, "api_key": raw_key}))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Created library {tenant.name!r} (slug {tenant.slug}, id {tenant.pk}).")
            )
            self.stdout.write(f"API key (shown once, every tenant scope): {raw_key}")


def _json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)
