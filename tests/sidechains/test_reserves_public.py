"""/reserves and GET /api/v1/reserves: the coins they list are the federation's unspent
outputs as the node itself reports them (bcoin's address index, read here, not through the
portal), each with the version whose keys rebuild its script; Hive's balances are the
federation account's; anonymous, paged, bounded."""

import pytest
from bitcoin.core import CBlock, b2lx
from django.urls import reverse

from chains.bitcoin.federation import (
    deposit_witness_script,
    federation_witness_script,
    p2wsh_script_pubkey,
    threshold,
)
from sidechains.bitcoin.reserves import reserves_check
from sidechains.bitcoin.withdrawals.builder import withdrawals_batch
from sidechains.bitcoin.withdrawals.requests import withdrawal_request
from sidechains.bitcoin.withdrawals.tracker import withdrawals_track
from sidechains.hive.reserves import hive_reserves_read
from sidechains.models import ReservesCoin
from tests import fixtures
from tests.sidechains import hive_helpers as h
from tests.sidechains.deposit_helpers import make_bitcoin_mapping
from tests.sidechains.test_clawbacks import chain, federation, mapping, user_key
from tests.sidechains.withdrawal_helpers import deposit_on_chain, make_signers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]
__all__ = ["chain", "federation", "mapping", "user_key"]


def node_unspent(rpc, since: int, scripts: list[bytes]) -> set[tuple[str, int, int]]:
    """(txid, vout, satoshi) of the outputs paying `scripts` (P2WSH of these witness scripts)
    that no later transaction spends, read block by block from the node since height `since`
    (confirmed outputs only: the blocks, not the mempool)."""
    wanted = {p2wsh_script_pubkey(s) for s in scripts}
    unspent: dict[tuple[str, int], int] = {}
    for height in range(since + 1, rpc.get_block_count() + 1):
        raw = rpc.call("getblock", rpc.call("getblockhash", height), False)
        for tx in CBlock.deserialize(bytes.fromhex(raw)).vtx:
            for txin in tx.vin:
                unspent.pop((b2lx(txin.prevout.hash), txin.prevout.n), None)
            for n, out in enumerate(tx.vout):
                if bytes(out.scriptPubKey) in wanted:
                    unspent[(b2lx(tx.GetTxid()), n)] = out.nValue
    return {(txid, vout, amount) for (txid, vout), amount in unspent.items()}


def test_it_lists_exactly_the_federations_unspent_outputs_on_the_node(
    chain, mapping, user_carol, federation, client, tmp_path
):
    rpc = chain.rpc
    start = rpc.get_block_count()
    dave = fixtures.make_user("user_dave")
    daves = make_bitcoin_mapping(dave)
    deposit_on_chain(chain, mapping, 1_500_000)
    deposit_on_chain(chain, daves, 2_000_000)
    withdrawal_request(user=user_carol, amount_pegged=400_000, request_id="c1")
    assert withdrawals_batch(rpc=rpc) is not None
    for signer in make_signers(tmp_path, federation, mapping.deposit_timelock)[:2]:
        signer.sign_all()
    chain.mine(1)
    withdrawals_track(rpc=rpc)  # sent, then mined: its wallet output is a federation coin
    chain.mine(1)
    check = reserves_check(rpc=rpc)

    keys = [fixtures.son_key(f"son-{i}").public_key.format() for i in (1, 2, 3)]
    wallet = federation_witness_script(keys)
    scripts = [wallet, bytes(mapping.deposit_witness_script), bytes(daves.deposit_witness_script)]
    on_node = node_unspent(rpc, start, scripts)
    assert len(on_node) >= 2 and sum(c[2] for c in on_node) == check.reserves

    answer = client.get(reverse("api-reserves")).json()  # anonymous
    bitcoin = answer["bitcoin"]
    listed = {(c["txid"], c["vout"], c["amount"]) for c in bitcoin["coins"]["results"]}
    assert listed == on_node
    assert bitcoin["coins"]["count"] == len(on_node)
    assert bitcoin["reserves"] == bitcoin["coins"]["total"] == check.reserves
    assert bitcoin["margin"] == check.margin and bitcoin["circuit_breaker"]["tripped"] is False

    # Anyone rebuilds each coin's script from the published version's keys and threshold.
    versions = {v["fingerprint"]: v for v in bitcoin["versions"]}
    user_keys = {bytes(m.deposit_witness_script): m for m in (mapping, daves)}
    tip = rpc.get_block_count()
    for coin in bitcoin["coins"]["results"]:
        version = versions[coin["version"]]
        assert version["threshold"] == threshold(len(version["keys"]))
        son_keys = [bytes.fromhex(k) for k in version["keys"]]
        script = bytes.fromhex(coin["witness_script"])
        if script == federation_witness_script(son_keys):
            assert version["wallet_script"] == script.hex()
        else:
            owner = user_keys[script]
            user = bytes.fromhex(owner.deposit_public_key)
            assert script == deposit_witness_script(son_keys, user, owner.deposit_timelock)
        assert coin["script_pubkey"] == p2wsh_script_pubkey(script).hex()
        confirmations = rpc.get_tx_out(coin["txid"], coin["vout"])["confirmations"]
        assert coin["depth"] == confirmations - (tip - check.height)

    page = client.get(reverse("api-reserves"), {"offset": 1, "limit": 1}).json()["bitcoin"]
    assert len(page["coins"]["results"]) == 1 and page["coins"]["count"] == len(on_node)
    html = client.get(reverse("sidechains-reserves"))
    assert html.status_code == 200
    for txid, vout, _ in on_node:
        assert f"{txid}:{vout}" in html.content.decode()


def test_a_coin_spent_since_leaves_the_list_at_the_next_check(chain, mapping, settings):
    coin = deposit_on_chain(chain, mapping, 700_000)
    reserves_check(rpc=chain.rpc)
    assert ReservesCoin.objects.filter(txid=coin.txid, vout=coin.vout).exists()
    coin.status = coin.Status.SPENT
    coin.save(update_fields=["status"])
    reserves_check(rpc=chain.rpc)
    assert not ReservesCoin.objects.filter(txid=coin.txid).exists()


@pytest.mark.parametrize("query", [{"limit": "-1"}, {"offset": "x"}, {"limit": "9" * 12}])
def test_it_refuses_a_malformed_page(client, query):
    response = client.get(reverse("api-reserves"), query)
    assert response.status_code == 400
    assert list(response.json()) == list(query)


def test_it_caps_the_page(client):
    answer = client.get(reverse("api-reserves"), {"limit": "100000"}).json()
    assert answer["bitcoin"]["coins"]["limit"] == 500


@pytest.fixture(scope="module")
def hive_node():
    node = h.start_node()
    yield node
    node.stop()


def test_it_reads_the_hive_federation_accounts_balances(hive_node, settings, client):
    settings.HIVE_FEDERATION_ACCOUNT = h.FEDERATION
    h.set_hive_rates(hive="1", hbd="1")
    sender = h.new_sender(hive_node)
    h.send(hive_node, sender, h.transfer_op(sender, 2_500), h.transfer_op(sender, 750, "HBD"))
    hive_node.generate_blocks(1)
    with hive_node.rpc() as rpc:
        read = hive_reserves_read(rpc=rpc)
    assert read == {"HIVE": 1_002_500, "HBD": 750}

    hive = client.get(reverse("api-reserves")).json()["hive"]
    assert hive["account"] == h.FEDERATION and hive["read_at"]
    by_asset = {a["asset"]: a for a in hive["assets"]}
    assert by_asset["HIVE"]["balance"] == 1_002_500 and by_asset["HIVE"]["margin"] == 1_002_500
    assert by_asset["HBD"]["balance"] == 750


def test_the_work_per_request_does_not_grow_with_the_coins(client, django_assert_max_num_queries):
    from sidechains.models import ReservesCheck

    ReservesCheck.objects.create(chain="bitcoin", height=900, reserves=0, liabilities=0)
    coins = [
        ReservesCoin(txid=f"{i:064x}", vout=0, amount=1_000, witness_script=b"\x51", height=800)
        for i in range(1_200)
    ]
    ReservesCoin.objects.bulk_create(coins)
    with django_assert_max_num_queries(20):
        answer = client.get(reverse("api-reserves"), {"limit": "500"}).json()["bitcoin"]["coins"]
    assert (answer["count"], answer["total"], len(answer["results"])) == (1_200, 1_200_000, 500)
    with django_assert_max_num_queries(20):
        assert client.get(reverse("sidechains-reserves"), {"page": "24"}).status_code == 200
