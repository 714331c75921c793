from django.core.management.base import BaseCommand, CommandError

from sidechains import services
from sidechains.models import SON


class Command(BaseCommand):
    help = (
        "Issue a new API token for a SON's signer and print it once. The old token stops working."
    )

    def add_arguments(self, parser):
        parser.add_argument("son", help="the SON's name")

    def handle(self, *args, son, **options):
        instance = SON.objects.registered().filter(name=son).first()
        if instance is None:
            raise CommandError(f"No registered SON named {son!r}.")
        self.stdout.write(services.son_issue_token(son=instance))
