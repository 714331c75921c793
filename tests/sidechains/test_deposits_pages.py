"""The user's deposits page, the balances on the account page, and the deposit admin."""

import time

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import AuditRecord
from audit.services import AuditError
from sidechains.alerts import alerts_resolve
from sidechains.bitcoin.deposits import deposit_credit, deposits_process
from sidechains.bitcoin.listener import listener_scan, rescan_start
from sidechains.models import Alert, ChainCursor, Deposit, RescanJob
from tests import fixtures
from tests.bitcoin_node import free_port
from tests.browser import log_in
from tests.sidechains.deposit_helpers import (
    make_bitcoin_mapping,
    make_deposit,
    make_federation,
    mine,
    set_btc_rate,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_checked")]

DEPOSITS = reverse("sidechains-deposits")


@pytest.fixture
def carol_deposit(user_carol, bitcoin):
    make_federation(3)
    return make_deposit(make_bitcoin_mapping(user_carol), bitcoin, amount=20_000_000)


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get(DEPOSITS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_it_lists_a_users_own_deposits_with_their_confirmations(
    client, user_carol, carol_deposit, bitcoin
):
    dave = fixtures.make_user("user_dave")
    daves = make_deposit(make_bitcoin_mapping(dave), bitcoin)
    mine(bitcoin)  # carol's deposit: 3 blocks deep now
    listener_scan(rpc=bitcoin)  # pages count depths to the listener's tip
    client.force_login(user_carol)

    page = client.get(DEPOSITS).content.decode()

    assert f"{carol_deposit.txid}:0" in page
    assert "0.20000000 BTC" in page
    assert ">Detected<" in page
    assert "3 of 3 confirmations ✓ done" in page
    assert daves.txid not in page
    assert "<html" in page and 'hx-trigger="every 5s"' in page


def test_it_caps_the_count_and_shows_a_deposit_off_the_best_chain_at_0(
    client, user_carol, carol_deposit, bitcoin
):
    mine(bitcoin, 4)  # 5 blocks deep, 3 needed
    listener_scan(rpc=bitcoin)
    client.force_login(user_carol)
    assert "3 of 3 confirmations ✓ done" in client.get(DEPOSITS).content.decode()

    # The listener's kept hash at the deposit's height is another block now (a reorg).
    cursor = ChainCursor.objects.get(chain="bitcoin")
    cursor.recent = [
        [h, "ab" * 32 if h == carol_deposit.block_height else block] for h, block in cursor.recent
    ]
    cursor.save()

    page = client.get(DEPOSITS).content.decode()
    assert "0 of 3 confirmations" in page
    assert "not on the best chain" in page
    assert "✓ done" not in page


def test_it_shows_the_credited_amount_and_rate(client, user_carol, carol_deposit):
    set_btc_rate("0.5")
    Deposit.objects.filter(pk=carol_deposit.pk).update(status=Deposit.Status.CONFIRMED)
    deposit_credit(deposit_id=carol_deposit.pk)
    client.force_login(user_carol)

    page = client.get(DEPOSITS).content.decode()

    assert ">Credited<" in page
    assert "0.09999813 pBTC" in page  # (20,000,000 - 374) * 0.5
    assert "at 0.50000000 BTC/pBTC, less a sweep fee of 374 sat" in page
    detail = client.get(reverse("sidechains-deposit", args=[carol_deposit.pk])).content.decode()
    assert 'data-testid="credited">0.09999813 pBTC<' in detail
    assert 'data-testid="sweep-fee">0.00000374 BTC<' in detail


def test_it_renders_only_the_table_for_htmx(client, user_carol, carol_deposit):
    client.force_login(user_carol)

    fragment = client.get(DEPOSITS, HTTP_HX_REQUEST="true").content.decode()

    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="deposits"')
    assert carol_deposit.txid in fragment


def test_it_says_the_node_is_unavailable_instead_of_failing(
    client, user_carol, carol_deposit, settings
):
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"
    client.force_login(user_carol)

    response = client.get(DEPOSITS)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Bitcoin node unavailable" in page
    assert ">node unavailable<" in page
    assert carol_deposit.txid in page


def test_it_tells_a_user_without_deposits_how_to_make_one(client, user_carol, settings):
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"  # not even asked
    client.force_login(user_carol)
    page = client.get(DEPOSITS).content.decode()
    assert 'data-testid="no-deposits"' in page


def test_it_shows_balances_on_the_account_page(client, user_carol, carol_deposit):
    set_btc_rate("1")
    Deposit.objects.filter(pk=carol_deposit.pk).update(status=Deposit.Status.CONFIRMED)
    deposit_credit(deposit_id=carol_deposit.pk)
    client.force_login(user_carol)

    page = client.get(reverse("account-home")).content.decode()

    assert "0.19999626 pBTC" in page  # 20,000,000 sat less the sweep fee of 374
    assert "0.000 pHIVE" in page and "0.000 pHBD" in page
    assert f'href="{DEPOSITS}"' in page


# The admin.


def test_it_lists_filters_and_searches_deposits_in_the_admin(
    client, admin_user, carol_deposit, bitcoin
):
    dave = fixtures.make_user("user_dave")
    daves = make_deposit(make_bitcoin_mapping(dave), bitcoin, status=Deposit.Status.CONFIRMED)
    client.force_login(admin_user)
    url = reverse("admin:sidechains_deposit_changelist")

    everything = client.get(url).content.decode()
    assert carol_deposit.txid in everything and daves.txid in everything
    assert "0.20000000 BTC" in everything
    by_txid = client.get(url, {"q": daves.txid}).content.decode()
    assert daves.txid in by_txid and carol_deposit.txid not in by_txid
    by_user = client.get(url, {"q": "user_carol"}).content.decode()
    assert carol_deposit.txid in by_user and daves.txid not in by_user
    confirmed = client.get(url, {"status__exact": "confirmed"}).content.decode()
    assert daves.txid in confirmed and carol_deposit.txid not in confirmed


def test_it_shows_a_deposit_read_only_with_its_events(client, admin_user, carol_deposit):
    set_btc_rate("1")
    Deposit.objects.filter(pk=carol_deposit.pk).update(status=Deposit.Status.CONFIRMED)
    deposit_credit(deposit_id=carol_deposit.pk)
    client.force_login(admin_user)

    page = client.get(reverse("admin:sidechains_deposit_change", args=[carol_deposit.pk]))

    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content
    # the credit event's note
    assert "0.19999626 pBTC at 1.00000000 BTC/pBTC after a sweep fee of 374 sat" in content
    assert client.get(reverse("admin:sidechains_deposit_add")).status_code == 403
    delete = reverse("admin:sidechains_deposit_delete", args=[carol_deposit.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    for name in ("entry", "balance"):
        listing = client.get(reverse(f"admin:ledger_{name}_changelist"))
        assert listing.status_code == 200
        assert "pBTC" in listing.content.decode()


def test_it_marks_alerts_resolved(client, admin_user, carol_deposit):
    alert = Alert.objects.create(
        kind=Alert.Kind.CREDITED_DEPOSIT_REORGED, message="block 812 gone", deposit=carol_deposit
    )
    client.force_login(admin_user)
    url = reverse("admin:sidechains_alert_changelist")
    assert "block 812 gone" in client.get(url, {"state": "open"}).content.decode()

    selected = {"action": "mark_resolved", "_selected_action": [alert.pk]}
    asked = client.post(url, selected)
    assert "block 812 gone" in asked.content.decode()  # the confirmation lists it
    client.post(url, {**selected, "confirm_with_reason": "yes", "reason": "re-credited by hand"})

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert "block 812 gone" not in client.get(url, {"state": "open"}).content.decode()
    record = AuditRecord.objects.for_target(f"alert:{alert.pk}").get()
    assert (record.actor, record.action, record.reason) == (
        admin_user,
        "alert.resolved",
        "re-credited by hand",
    )


def test_resolving_an_alert_twice_records_it_once(admin_user):
    alert = Alert.objects.create(kind=Alert.Kind.DEEP_REORG, message="fork below the kept")
    alerts = Alert.objects.filter(pk=alert.pk)

    with pytest.raises(AuditError):
        alerts_resolve(alerts=alerts, by=admin_user, reason="  ")
    first = alerts_resolve(alerts=alerts, by=admin_user, reason="node resynced")
    again = alerts_resolve(alerts=alerts, by=admin_user, reason="node resynced")

    assert (first, again) == (1, 0)
    assert AuditRecord.objects.for_target(f"alert:{alert.pk}").count() == 1


def test_it_keeps_non_staff_out_of_the_deposit_admin(client, user_carol, carol_deposit):
    client.force_login(user_carol)
    response = client.get(reverse("admin:sidechains_deposit_changelist"))
    assert response.status_code == 302


@pytest.fixture
def cursor(bitcoin):
    mine(bitcoin, 3)
    tip = bitcoin.get_block_count()
    return ChainCursor.objects.create(
        chain="bitcoin", height=tip, recent=[[tip, bitcoin.get_block_hash(tip)]]
    )


def rescan_url(cursor) -> str:
    return reverse("admin:sidechains_chaincursor_rescan", args=[cursor.pk])


def test_it_offers_a_rescan_on_the_cursor_page(client, admin_user, cursor):
    client.force_login(admin_user)
    page = client.get(reverse("admin:sidechains_chaincursor_change", args=[cursor.pk]))
    assert rescan_url(cursor) in page.content.decode()
    form = client.get(rescan_url(cursor)).content.decode()
    assert f"the node's tip is\n  {cursor.height}" in form
    # The changelist action leads to the same form.
    action = client.post(
        reverse("admin:sidechains_chaincursor_changelist"),
        {"action": "rescan", "_selected_action": [cursor.pk]},
    )
    assert action["Location"] == rescan_url(cursor)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"from_height": 5, "to_height": 4}, "to_height", "Must be at least the from height."),
        ({"from_height": -1}, "from_height", "greater than or equal to 0"),
        ({"from_height": "tip+1"}, "from_height", "Above the node&#x27;s tip"),
        ({"from_height": 1, "to_height": "tip+1"}, "to_height", "Above the node&#x27;s tip"),
        ({"from_height": ""}, "from_height", "This field is required."),
    ],
)
def test_it_refuses_a_bad_rescan_range(client, admin_user, cursor, bitcoin, data, field, message):
    tip = bitcoin.get_block_count()
    data = {k: tip + 1 if v == "tip+1" else v for k, v in data.items()}
    client.force_login(admin_user)

    response = client.post(rescan_url(cursor), data)

    assert response.status_code == 200
    errors = response.content.decode().split(f'data-testid="errors-{field}"')[1]
    assert message in errors.split("</ul>")[0]
    assert not RescanJob.objects.exists()


def test_it_refuses_a_rescan_above_the_listeners_cursor(client, admin_user, cursor, bitcoin):
    mine(bitcoin)  # the node is one block ahead of the cursor
    client.force_login(admin_user)

    response = client.post(
        rescan_url(cursor), {"from_height": bitcoin.get_block_count(), "reason": "missed"}
    )

    errors = response.content.decode().split('data-testid="rescan-errors"')[1]
    assert "is above the to height" in errors.split("</ul>")[0]
    assert not RescanJob.objects.exists()


def test_it_refuses_a_rescan_while_the_node_is_down(client, admin_user, cursor, settings):
    settings.BITCOIN_RPC_URL = f"http://127.0.0.1:{free_port()}/"
    client.force_login(admin_user)

    response = client.post(rescan_url(cursor), {"from_height": 1})

    assert "The node is unavailable" in response.content.decode()
    assert not RescanJob.objects.exists()


def test_it_refuses_the_rescan_form_to_non_staff(client, user_carol, cursor):
    client.force_login(user_carol)
    assert client.post(rescan_url(cursor), {"from_height": 1}).status_code == 302
    assert not RescanJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_starts_a_rescan_that_a_worker_runs(client, admin_user, cursor, bitcoin, celery_worker):
    client.force_login(admin_user)
    tip = bitcoin.get_block_count()

    without_reason = client.post(rescan_url(cursor), {"from_height": tip - 2})
    assert "This field is required." in without_reason.content.decode()
    assert not RescanJob.objects.exists()

    response = client.post(
        rescan_url(cursor), {"from_height": tip - 2, "reason": "the node was resynced"}
    )

    job = RescanJob.objects.get()
    assert (job.from_height, job.to_height, job.created_by) == (tip - 2, tip, admin_user)
    record = AuditRecord.objects.for_target(f"rescanjob:{job.pk}").get()
    assert (record.actor, record.action, record.reason) == (
        admin_user,
        "rescan.started",
        "the node was resynced",
    )
    assert response["Location"] == reverse("admin:sidechains_rescanjob_change", args=[job.pk])
    deadline = time.monotonic() + 30
    while job.status != RescanJob.Status.DONE and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()
    assert job.status == RescanJob.Status.DONE, job.error
    page = client.get(response["Location"]).content.decode()
    assert '<progress value="100" max="100">' in page
    assert "hx-get" not in page.split('data-testid="rescan-progress"')[1].split(">")[0]


def test_it_polls_the_progress_of_a_running_rescan(client, admin_user, cursor, bitcoin):
    job = rescan_start(chain="bitcoin", from_height=cursor.height - 3, user=admin_user)
    RescanJob.objects.filter(pk=job.pk).update(
        next_height=cursor.height - 1, status=RescanJob.Status.RUNNING
    )
    client.force_login(admin_user)
    progress = reverse("admin:sidechains_rescanjob_progress", args=[job.pk])

    page = client.get(reverse("admin:sidechains_rescanjob_change", args=[job.pk])).content
    bar = client.get(progress).content.decode()

    assert f'hx-get="{progress}"'.encode() in page
    assert b"htmx-2.0.4.min.js" in page
    assert bar.startswith('<span class="rescan-progress"') and 'hx-trigger="every 2s"' in bar
    assert '<progress value="50" max="100">' in bar and "50 % · Running" in bar
    listing = client.get(reverse("admin:sidechains_rescanjob_changelist")).content.decode()
    assert '<progress value="50"' in listing


def test_it_keeps_the_progress_from_non_staff(client, user_carol, cursor):
    job = rescan_start(chain="bitcoin", from_height=cursor.height)
    client.force_login(user_carol)
    progress = reverse("admin:sidechains_rescanjob_progress", args=[job.pk])
    assert client.get(progress).status_code == 302


# In Chromium.


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_shows_a_deposit_being_credited_without_a_reload(page, live_server, bitcoin):
    make_federation(3)
    set_btc_rate("0.5")
    carol = fixtures.make_user("user_carol")
    deposit = make_deposit(make_bitcoin_mapping(carol), bitcoin, amount=1_000_000)
    listener_scan(rpc=bitcoin)  # pages count depths to the listener's tip
    log_in(page, live_server, "user_carol")
    page.click("text=Deposits")
    row = page.get_by_test_id(f"deposit-{deposit.pk}")
    assert row.get_by_test_id("stage").inner_text() == "Detected"
    assert row.get_by_test_id("confirmations").inner_text() == "1 of 2 confirmations"
    page.evaluate("window.stillTheSamePage = true")

    mine(bitcoin)
    listener_scan(rpc=bitcoin)
    assert deposits_process(rpc=bitcoin) == 2

    expect(row.get_by_test_id("stage")).to_have_text("Credited", timeout=15_000)
    assert row.get_by_test_id("confirmations").inner_text() == "2 of 2 confirmations ✓ done"
    assert "0.00499813 pBTC" in row.get_by_test_id("credited").inner_text()  # less 374 sat
    assert page.evaluate("window.stillTheSamePage") is True
    page.click("text=User")
    expect(page.get_by_test_id("balances")).to_contain_text("0.00499813 pBTC")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_lets_an_administrator_rescan_and_watch_the_progress(
    page, live_server, bitcoin, celery_worker
):
    fixtures.make_administrator("admin")
    mine(bitcoin, 200)  # enough blocks for the bar to move while the worker reads them
    tip = bitcoin.get_block_count()
    cursor = ChainCursor.objects.create(
        chain="bitcoin", height=tip, recent=[[tip, bitcoin.get_block_hash(tip)]]
    )
    log_in(page, live_server, "admin")
    change = reverse("admin:sidechains_chaincursor_change", args=[cursor.pk])
    page.goto(f"{live_server.url}{change}")
    page.get_by_test_id("rescan-link").click()

    page.fill("#id_from_height", str(tip + 1))
    page.fill("#id_reason", "a deposit was missed")
    page.get_by_test_id("rescan-submit").click()
    assert "Above the node" in page.get_by_test_id("errors-from_height").inner_text()
    assert not RescanJob.objects.exists()

    page.fill("#id_from_height", "0")
    page.get_by_test_id("rescan-submit").click()
    bar = page.get_by_test_id("rescan-progress")
    bar.wait_for()
    job = RescanJob.objects.get()
    assert page.url.endswith(reverse("admin:sidechains_rescanjob_change", args=[job.pk]))
    assert page.locator("progress").count() == 1
    expect(bar).to_contain_text("100 % · Done", timeout=30_000)
    assert page.locator("progress").get_attribute("value") == "100"
