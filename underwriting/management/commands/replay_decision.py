from django.core.management.base import BaseCommand, CommandError

from underwriting.decisions.models import Decision
from underwriting.decisions.services import decision_replay


class Command(BaseCommand):
    help = "Replay a stored decision from its own snapshot, model and policy versions; report any difference."

    def add_arguments(self, parser):
        parser.add_argument("decision_id", help="The decision's public id (UUID).")

    def handle(self, *args, decision_id, **options):
        decision = (
            Decision.objects.filter(public_id=decision_id)
            .select_related("model_version", "policy_version")
            .first()
        )
        if decision is None:
            raise CommandError(f"No decision {decision_id}.")
        replay = decision_replay(decision=decision)
        if replay.identical:
            self.stdout.write(
                f"Replay identical: {decision.outcome}, PD {decision.pd}, model "
                f"{decision.model_version.version if decision.model_version else '-'}, policy v{decision.policy_version.version}."
            )
            return
        for field, (stored, replayed) in replay.differences.items():
            self.stdout.write(f"{field}: stored {stored!r} != replayed {replayed!r}")
        raise CommandError(f"Replay differs in {len(replay.differences)} field(s).")
