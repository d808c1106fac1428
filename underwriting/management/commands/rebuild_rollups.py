from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Business
from accounts.selectors import UnknownPartner, partner_get_by_slug
from underwriting.history.tasks import rebuild_business_rollups


class Command(BaseCommand):
    help = "Recompute the daily rollups of one merchant (or all of a partner's) from raw transactions."

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, help="Partner slug.")
        parser.add_argument("--merchant", help="The partner's merchant id; all merchants when omitted.")
        parser.add_argument(
            "--async", dest="run_async", action="store_true", help="Queue on the Celery worker instead."
        )

    def handle(self, *args, partner, merchant, run_async, **options):
        try:
            tenant = partner_get_by_slug(slug=partner)
        except UnknownPartner as exc:
            raise CommandError(str(exc)) from exc
        businesses = Business.objects.filter(partner=tenant)
        if merchant:
            businesses = businesses.filter(external_id=merchant)
            if not businesses.exists():
                raise CommandError(f"Partner {partner!r} has no merchant {merchant!r}.")
        ids = list(businesses.values_list("pk", flat=True))
        if run_async:
            with transaction.atomic():
                for business_id in ids:
                    rebuild_business_rollups.delay_on_commit(business_id)
            self.stdout.write(f"Queued rollup rebuilds for {len(ids)} merchant(s).")
            return
        rows = sum(rebuild_business_rollups(business_id) for business_id in ids)
        self.stdout.write(f"Rebuilt rollups for {len(ids)} merchant(s): {rows} rollup rows.")
