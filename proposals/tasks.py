from celery import shared_task

from chains.bitcoin.rpc import BitcoinRPCError
from proposals import services
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.bitcoin.withdrawals.fees import withdrawal_feerate


@shared_task(name="proposals.tasks.proposals_tick")
def proposals_tick() -> dict[str, int]:
    """Expiry, deregistration proposals, execution; refund proposals at the node's fee rate."""
    done = services.proposals_tick()
    rpc = bitcoin_rpc()
    try:
        feerate = withdrawal_feerate(rpc=rpc)
    except BitcoinRPCError:
        return done  # no fee rate, no refund plan: the next tick raises them
    finally:
        rpc.close()
    done["refunds"] = len(services.proposal_raise_refunds(feerate=feerate))
    return done
