from django.core.management.base import BaseCommand, CommandError

from chains.bitcoin.rpc import BitcoinRPCError
from sidechains.bitcoin.listener import ListenerError, listener_rewind
from sidechains.bitcoin.node import bitcoin_rpc


class Command(BaseCommand):
    help = (
        "Put the Bitcoin listener's cursor back to HEIGHT on the node's best chain, as a reorg "
        "to there would (deposits above it are orphaned or alerted), after a deep reorg."
    )

    def add_arguments(self, parser):
        parser.add_argument("height", type=int, help="the last block both chains share")

    def handle(self, *args, height, **options):
        rpc = bitcoin_rpc()
        try:
            cursor = listener_rewind(rpc=rpc, height=height)
        except (ListenerError, BitcoinRPCError) as e:
            raise CommandError(str(e)) from e
        finally:
            rpc.close()
        self.stdout.write(f"The Bitcoin listener continues after block {cursor.height}.")
