from django.core.management.base import BaseCommand

from accounts.services import roles_sync


class Command(BaseCommand):
    help = "Create the role groups (applicant, loan officer, risk operator) with their permissions."

    def handle(self, *args, **options):
        for role, count in roles_sync().items():
            self.stdout.write(f"{role}: {count} permissions")
