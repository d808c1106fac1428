from django.core.management.base import BaseCommand, CommandError

from underwriting.engine.policy import PolicyError, PolicyParams
from underwriting.management.staff import staff_user
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import policy_version_create


class Command(BaseCommand):
    help = (
        "Record a new credit policy version: the active one (or --from-version N, or the defaults when "
        "there is none) with some parameters changed, e.g. --set max_apr=0.30 --set "
        "score_bands=A:650,B:625,C:600,D:570,E:300 --note 'why'. Prints the version and what changed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--set", dest="changes", action="append", default=[], metavar="KEY=VALUE",
            help="A parameter to change (repeatable). Keys: " + ", ".join(PolicyParams.field_names()),
        )
        parser.add_argument("--note", required=True, help="Why this version exists (kept with it).")
        parser.add_argument("--from-version", type=int, help="Start from this version instead of the active one.")
        parser.add_argument("--no-activate", action="store_true", help="Record it without making it active.")
        parser.add_argument("--by", help="Email of the staff user responsible.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and print the changes only.")

    def handle(self, *args, changes, note, from_version, no_activate, by, dry_run, **options):
        base_row = self._base(from_version)
        base_params = PolicyParams.from_dict(base_row.params) if base_row else PolicyParams()
        params = base_params.to_dict()
        for item in changes:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"--set expects KEY=VALUE, got {item!r}")
            params[key.strip()] = value.strip()
        try:
            new_params = PolicyParams.from_dict(params)
        except PolicyError as exc:
            raise CommandError("Invalid policy:\n  " + "\n  ".join(exc.errors)) from exc
        diff = base_params.diff(new_params)
        if base_row is not None and not diff:
            raise CommandError(f"Nothing differs from version {base_row.version}; no version recorded.")
        created_by = staff_user(by)
        label = f"version {base_row.version}" if base_row else "the built-in defaults"
        if dry_run:
            self.stdout.write(f"Dry run: no version recorded. Changes from {label}:")
        else:
            try:
                row = policy_version_create(
                    params=new_params.to_dict(), note=note, created_by=created_by, activate=not no_activate
                )
            except PolicyError as exc:
                raise CommandError("; ".join(exc.errors)) from exc
            state = "active" if row.is_active else "not active"
            self.stdout.write(self.style.SUCCESS(f"Recorded policy version {row.version} ({state})."))
            self.stdout.write(f"Changes from {label}:")
        if not diff:
            self.stdout.write("  (none)")
        for key, (old, new) in diff.items():
            self.stdout.write(f"  {key}: {old} -> {new}")

    def _base(self, from_version):
        if from_version is not None:
            row = PolicyVersion.objects.filter(version=from_version).first()
            if row is None:
                raise CommandError(f"There is no policy version {from_version}.")
            return row
        return PolicyVersion.objects.filter(is_active=True).first()
