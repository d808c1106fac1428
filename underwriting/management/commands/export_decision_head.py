"""Writes the decision chain's head, signed, for storage outside the database (docs/adr/0006)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config import clock
from underwriting.decisions.verification import ChainNotIntact, decision_head_export


class Command(BaseCommand):
    help = ("Verify the decision chain and write its head (count, last sequence, last HMAC, exported_at, "
            "signature) as JSON, to keep on write-once storage for `verify_decisions --against`.")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, metavar="FILE",
                            help="Where to write it ('-' for standard output); an existing file is never overwritten.")

    def handle(self, *args, out, **options):
        try:
            head = decision_head_export(now=clock.now())
        except ChainNotIntact as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(exc.problems)} problem(s) in the decision chain: no head exported.") from exc
        if out == "-":
            self.stdout.write(head.to_json(), ending="")
            return
        try:
            with Path(out).open("x", encoding="utf-8") as fh:
                fh.write(head.to_json())
        except FileExistsError as exc:
            raise CommandError(f"{out} exists: an exported head is never overwritten") from exc
        self.stdout.write(f"head at sequence {head.last_sequence} ({head.count} record(s)) written to {out}")
