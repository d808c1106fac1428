"""Verifies the decision records' HMAC chain and what points into it (docs/adr/0006).

It lives in `loans` because it also checks the applications and reviews that point to decisions, and
`underwriting` may not import `loans`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from loans.applications.selectors import applications_missing_their_decision
from loans.reviews.selectors import reviews_missing_their_decision
from underwriting.decisions.verification import ExportedHead, decisions_verify, missing_decision_place


def _exported_head(path: str) -> ExportedHead:
    try:
        return ExportedHead.from_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CommandError(f"{path}: not an exported decision head ({exc})") from exc


def _dangling_references() -> list[str]:
    found = []
    for application in applications_missing_their_decision():
        if application.decision_id is None:
            found.append(f"application {application.public_id} ({application.status}) has no decision")
        else:
            found.append(f"application {application.public_id} ({application.status}) points to decision id "
                         f"{application.decision_id}, which is not there ({missing_decision_place(application.decision_id)})")
    for review in reviews_missing_their_decision():
        found.append(f"review {review.public_id} points to decision id {review.decision_id}, which is not there "
                     f"({missing_decision_place(review.decision_id)})")
    return found


class Command(BaseCommand):
    help = ("Verify the HMAC chain of every decision record by position, the chain head, and the applications and "
            "reviews pointing to decisions; with --against, that the chain still holds an exported head.")

    def add_arguments(self, parser):
        parser.add_argument("--against", metavar="FILE",
                            help="A head written by export_decision_head: its record must still be in the chain.")

    def handle(self, *args, against=None, **options):
        head = _exported_head(against) if against else None
        checked, problems = decisions_verify(against=head)
        findings = [str(p) for p in problems] + _dangling_references()
        for finding in findings:
            self.stdout.write(finding)
        if findings:
            raise CommandError(f"{len(findings)} problem(s) in {checked} decision record(s).")
        covered = f", up to the head exported at {head.exported_at} (sequence {head.last_sequence})" if head else ""
        self.stdout.write(f"{checked} decision record(s) verified{covered}: the chain is intact.")
