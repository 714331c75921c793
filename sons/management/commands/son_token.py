import getpass

from django.core.management.base import BaseCommand, CommandError

from audit.services import AuditError
from sons import services
from sons.models import SON


def _os_user() -> str:
    """Who ran the command, as far as the machine knows (the audit record's only "who")."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


class Command(BaseCommand):
    help = (
        "Issue a new API token for a SON's signer and print it once. The old token stops working."
        " The audit log records the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("son", help="the SON's name")
        parser.add_argument("--reason", required=True, help="why (kept in the audit log)")

    def handle(self, *args, son, reason, **options):
        instance = SON.objects.registered().filter(name=son).first()
        if instance is None:
            raise CommandError(f"No registered SON named {son!r}.")
        try:
            token = services.son_issue_token(
                son=instance,
                by=None,
                reason=reason,
                via=services.TokenIssuer.COMMAND,
                details={"os_user": _os_user()},
            )
        except (AuditError, services.SONError) as e:
            raise CommandError(str(e)) from None
        self.stdout.write(token)
