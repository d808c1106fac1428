from django.core.management.base import BaseCommand, CommandError

from underwriting.decisions.services import decisions_verify


class Command(BaseCommand):
    help = "Verify the HMAC chain of every decision record; name each record that was altered or removed."

    def handle(self, *args, **options):
        checked, problems = decisions_verify()
        for problem in problems:
            self.stdout.write(f"decision {problem.public_id} (id {problem.decision_id}): {problem.problem}")
        if problems:
            raise CommandError(f"{len(problems)} problem(s) in {checked} decision record(s).")
        self.stdout.write(f"{checked} decision record(s) verified: the chain is intact.")
