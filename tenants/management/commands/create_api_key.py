import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tenants import services
from tenants.models import ALL_SCOPES, Tenant


class Command(BaseCommand):
    help = "Create an API key for a library (with scopes) or a platform key, and print it once."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--tenant", metavar="SLUG", help="The library the key belongs to.")
        target.add_argument("--platform", action="store_true", help="A platform (operator) key.")
        parser.add_argument(
            "--scopes",
            nargs="+",
            default=None,
            metavar="SCOPE",
            help=f"Scopes of a tenant key (space or comma separated): {', '.join(sorted(ALL_SCOPES))}, or 'all'.",
        )
        parser.add_argument("--name", default=None, help="A label for the key.")
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(
        self,
        *args,
        tenant=None,
        platform=False,
        scopes=None,
        name=None,
        expires_in_days=None,
        json=False,
        **options,
    ):
        if platform and scopes:
            raise CommandError("--scopes applies to tenant keys; a platform key may do everything.")
        if tenant is not None and not scopes:
            raise CommandError("--scopes is required with --tenant.")
        library = None
        if tenant is not None:
            library = Tenant.objects.filter(slug=tenant).first()
            if library is None:
                raise CommandError(f"No library with the slug {tenant!r}.")
        wanted = sorted({s.strip() for arg in scopes or [] for s in arg.split(",") if s.strip()})
        if wanted == ["all"]:
            wanted = sorted(ALL_SCOPES)
        unknown = set(wanted) - ALL_SCOPES
        if unknown:
            raise CommandError(
                f"Unknown scopes: {', '.join(sorted(unknown))}. Known: {', '.join(sorted(ALL_SCOPES))}."
            )
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        api_key, raw_key = services.issue_api_key(
            tenant=library,
            name=name or ("Platform key" if platform else "Command-line key"),
            scopes=wanted,
            expires_at=expires_at,
        )
        if json:
            self.stdout.write(
                _json(
                    {
                        "id": str(api_key.pk),
                        "api_key": raw_key,
                        "scopes": api_key.scopes,
                        "tenant": library.slug if library else None,
                    }
                )
            )
        else:
            kind = "platform key" if platform else f"key for {library.slug} ({', '.join(api_key.scopes)})"
            self.stdout.write(self.style.SUCCESS(f"Created {kind}, id {api_key.pk}."))
            self.stdout.write(f"API key (shown once): {raw_key}")


def _json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)
