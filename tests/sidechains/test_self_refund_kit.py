"""The self-refund kit (sidechains/self_refund.py): the PSBT the deposit page offers for an
uncredited deposit, signed with the depositor's key as their wallet would, is refused by bcoin
before T blocks and accepted from the reclaim height on; on PostgreSQL and bcoin."""

import pytest
from bitcoin.core import CMutableTransaction, CScriptWitness, CTxInWitness, CTxWitness, b2lx
from django.urls import reverse

from chains.bitcoin.addresses import validate_address
from chains.bitcoin.psbt import psbt_parse
from chains.bitcoin.rpc import BitcoinRPCError
from chains.bitcoin.spend import sign_input, user_witness
from mappings.services import mapping_set_bitcoin
from sidechains.bitcoin.deposits import deposits_process
from sidechains.bitcoin.listener import listener_scan
from sidechains.models import Deposit
from sons.models import SON
from tests import fixtures
from tests.mappings.helpers import new_key, regtest_p2wpkh
from tests.sidechains.deposit_helpers import set_btc_rate

pytestmark = pytest.mark.django_db

TIMELOCK = 10


@pytest.fixture
def chain(chain, settings):
    settings.BITCOIN_DEPOSIT_TIMELOCK = TIMELOCK  # before the mapping is registered
    settings.BITCOIN_RECLAIM_MARGIN = 2
    return chain


def signed_by_wallet(psbt_bytes: bytes, secret: bytes) -> CMutableTransaction:
    """What a wallet holding the deposit key does with the PSBT: sign input 0 (BIP143, the
    amount and script from the PSBT) and finalize the ELSE branch's witness."""
    psbt = psbt_parse(psbt_bytes)
    tx = CMutableTransaction.from_tx(psbt.unsigned_tx)
    amount, _ = psbt.witness_utxo(0)
    script = psbt.witness_script(0)
    signature = sign_input(tx, 0, script, amount, secret)
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness(user_witness(script, signature)))])
    return tx


def test_the_downloaded_psbt_signed_by_the_depositor_is_accepted_after_t_blocks(
    chain, client, user_carol
):
    rpc = chain.rpc
    [fixtures.make_son(f"son-{i}") for i in (1, 2, 3)]
    SON.objects.exclude(name="son-1").update(status=SON.Status.IN_MAINTENANCE)
    set_btc_rate("1")
    key = new_key()
    mapping, _ = mapping_set_bitcoin(
        user=user_carol,
        deposit_public_key=key.public_key.format().hex(),
        withdraw_address=regtest_p2wpkh(),
    )
    listener_scan(rpc=rpc, max_blocks=1000)
    chain.send([(bytes(mapping.deposit_script_pubkey), 1_500_000)])
    chain.mine(1)
    listener_scan(rpc=rpc)
    deposits_process(rpc=rpc)
    deposit = Deposit.objects.get(mapping=mapping)
    assert deposit.status == "refund_pending", deposit.note
    client.force_login(user_carol)

    page = client.get(reverse("sidechains-deposit", args=[deposit.pk])).content.decode()
    download = client.get(reverse("sidechains-deposit-psbt", args=[deposit.pk]))

    height = deposit.block_height + TIMELOCK
    assert f'data-testid="reclaim-height">{height}<' in page
    assert download.status_code == 200
    assert download["Content-Type"] == "application/octet-stream"
    assert f"deposit-{deposit.pk}-reclaim.psbt" in download["Content-Disposition"]
    tx = signed_by_wallet(download.content, key.secret)
    pay_to = validate_address(mapping.withdraw_address, "regtest").script_pubkey
    assert [bytes(o.scriptPubKey) for o in tx.vout] == [pay_to]
    with pytest.raises(BitcoinRPCError):  # before T blocks: CHECKSEQUENCEVERIFY fails
        rpc.send_raw_transaction(tx.serialize())
    chain.mine(height - rpc.get_block_count() - 1)  # the next block is the reclaim height
    rpc.send_raw_transaction(tx.serialize())
    chain.mine(1)
    listener_scan(rpc=rpc)
    deposit.refresh_from_db()
    assert deposit.status == "reclaimed"
    assert b2lx(tx.GetTxid()) in deposit.note
    gone = client.get(reverse("sidechains-deposit-psbt", args=[deposit.pk]))
    assert gone.status_code == 409  # taken back: no kit any more
