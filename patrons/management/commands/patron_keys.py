import json

from django.core.management.base import BaseCommand, CommandError

from patrons import services


class Command(BaseCommand):
    help = (
        "Report how many patrons' hashes use each HMAC key version, so you know when an old key "
        "can leave HMAC_SECRET_KEYS (docs/privacy.md, 'Rotating the key')."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON object.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit with an error when a patron uses a key version that is not configured.",
        )

    def handle(self, *args, as_json: bool = False, check: bool = False, **options):
        report = services.key_version_report()
        if as_json:
            self.stdout.write(json.dumps(report, sort_keys=True))
        else:
            configured = ", ".join(str(v) for v in report["configured_versions"])
            self.stdout.write(
                f"Configured key versions: {configured} (new hashes use {report['current_version']})."
            )
            self.stdout.write(f"Patrons: {report['patrons']}.")
            for version, count in report["email_hashes"].items():
                names = report["name_hashes"].get(version, 0)
                self.stdout.write(f"  version {version}: {count} email hashes, {names} name hashes")
            if report["removable_versions"]:
                removable = ", ".join(str(v) for v in report["removable_versions"])
                self.stdout.write(f"No patron uses version(s) {removable} any more: they can be removed.")
            old = [
                int(v)
                for v, n in report["email_hashes"].items()
                if n and int(v) != report["current_version"] and int(v) in report["configured_versions"]
            ]
            if old:
                self.stdout.write(
                    f"Version(s) {', '.join(map(str, old))} still in use: patrons move to the newest key when "
                    "they submit again. Removing a key now makes its patrons unrecognisable (their next "
                    "submission creates a new patron)."
                )
        if report["missing_versions"]:
            message = (
                f"Patrons use key version(s) {', '.join(map(str, report['missing_versions']))}, which "
                "HMAC_SECRET_KEYS does not configure: they can no longer be recognised."
            )
            if check:
                raise CommandError(message)
            self.stderr.write(message)
