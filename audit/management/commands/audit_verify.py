"""Check the audit log's hash chain: `manage.py audit_verify [--head HEX]`."""

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.models import AuditRecord
from audit.services import audit_head_hash, audit_verify

HEX64 = re.compile(r"[0-9a-f]{64}")


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exits non-zero on any break."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--head", help="a head hash published earlier (e.g. by an epoch) that must be there"
        )

    def handle(self, *args, head: str | None = None, **options) -> None:
        if head is not None and not HEX64.fullmatch(head):
            raise CommandError("--head takes 64 lowercase hex digits.")
        count, breaks = audit_verify()
        for found in breaks:
            self.stderr.write(f"record {found.seq}: {found.problem}")
        if breaks:
            raise CommandError(f"The audit chain is broken: {len(breaks)} problem(s).")
        if head is not None and not _contains(head):
            raise CommandError(f"The published head {head} is not in the chain.")
        self.stdout.write(f"{count} records, chain intact, head {audit_head_hash()}")


def _contains(head: str) -> bool:
    return AuditRecord.objects.filter(hash=head).exists()
