import json
import logging
import re
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from coincurve import PrivateKey

from chains.hive.transactions import public_key_hex, public_key_text
from signer import cli, config
from signer.client import (
    HEARTBEAT_PATH,
    ME_PATH,
    SIGNING_REQUESTS_PATH,
    PortalError,
    PortalUnavailable,
)
from signer.hive_config import HiveSigning
from signer.hive_journal import HiveJournal
from signer.journal import Journal
from signer.keystore import Keys, generate
from signer.service import REPORTED_VERSIONS, Signer, Signing, is_transient, reported, retry_delay
from sons.federation import federation_version_record
from sons.models import SON, FederationVersion, Sidechain
from tests.signer import withdrawals as drafts
from tests.signer.conftest import last_heartbeat, register_keys

HEARTBEAT = ("POST", HEARTBEAT_PATH)
ME = ("GET", ME_PATH)
POLL = ("GET", SIGNING_REQUESTS_PATH)


@pytest.fixture
def make_signer(connect, keys):
    def make(url, token, heartbeat_every=5.0, poll_every=3.0, **kwargs):
        client = connect(url, token, timeout=2)
        return Signer(
            client, keys, heartbeat_every=heartbeat_every, poll_every=poll_every, **kwargs
        )

    return make


def _set_status(son, status):
    SON.objects.filter(pk=son.pk).update(status=status)


def _advanced(values):
    """For each value, whether it differs from the one before (the first: from None)."""
    return [value != before for before, value in zip([None, *values[:-1]], values, strict=True)]


def test_it_sends_a_heartbeat_on_the_first_tick_and_then_every_interval(
    portal, make_signer, caplog
):
    signer = make_signer(portal.url, portal.token, heartbeat_every=5.0)
    seen = []
    with caplog.at_level(logging.INFO, logger="signer"):
        for now in (100.0, 101.0, 104.9, 105.0, 107.0, 109.9, 110.0):
            signer.run_once(now)
            seen.append(last_heartbeat(portal.son))
    assert _advanced(seen) == [True, False, False, True, False, False, True]
    assert f"heartbeat accepted: SON {portal.son.pk} is active" in caplog.text


def test_it_polls_signing_requests_on_its_own_schedule(portal, portal_hits, make_signer, caplog):
    signer = make_signer(portal.url, portal.token, heartbeat_every=10.0, poll_every=3.0)
    with caplog.at_level(logging.INFO, logger="signer"):
        for now in (0.0, 1.0, 3.0, 6.0, 9.0):
            signer.run_once(now)
    assert (portal_hits[HEARTBEAT], portal_hits[POLL]) == (1, 4)
    assert caplog.text.count("0 signing request(s) pending") == 1


def test_it_retries_a_refused_heartbeat_with_backoff_and_recovers(
    portal, portal_hits, make_signer, caplog
):
    signer = make_signer(portal.url, portal.token, heartbeat_every=5.0, poll_every=100.0)
    signer.run_once(0.0)
    before = last_heartbeat(portal.son)
    issued = portal.son.token_created_at
    SON.objects.filter(pk=portal.son.pk).update(token_created_at=issued - timedelta(days=400))
    ticks = [5.0, 5.9, 6.0, 7.9, 8.0, 11.9, 12.0, 16.9, 17.0]
    attempts = []
    with caplog.at_level(logging.INFO, logger="signer"):
        for now in ticks:
            signer.run_once(now)
            attempts.append(portal_hits[HEARTBEAT])
        # retries after 1 s, 2 s, 4 s, then capped at the 5 s interval
        assert attempts == [2, 2, 3, 3, 4, 4, 5, 5, 6]
        assert last_heartbeat(portal.son) == before
        failures = [r for r in caplog.records if "heartbeat failed" in r.getMessage()]
        assert len(failures) == 5
        assert {r.levelno for r in failures} == {logging.ERROR}  # a human must look
        assert "HTTP 401: This SON token has expired" in failures[0].getMessage()

        SON.objects.filter(pk=portal.son.pk).update(token_created_at=issued)
        seen = []
        for now in (22.0, 26.9, 27.0):
            signer.run_once(now)
            seen.append(last_heartbeat(portal.son))
    assert _advanced(seen) == [True, False, True]  # back on the regular 5 s schedule
    assert "heartbeat succeeded again after 5 failure(s)" in caplog.text
    assert portal_hits[ME] == 1  # the SON id is asked for once


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (SON.Status.DEREGISTERED, "son_deregistered"),
        (SON.Status.INACTIVE, "son_not_in_federation"),
    ],
)
def test_a_son_outside_the_federation_is_said_once_and_the_signer_idles(
    portal, portal_hits, make_signer, caplog, status, code
):
    signer = make_signer(
        portal.url, portal.token, heartbeat_every=5.0, poll_every=3.0, idle_every=60.0
    )
    signer.run_once(0.0)
    _set_status(portal.son, status)
    hits = portal_hits[HEARTBEAT] + portal_hits[POLL]
    with caplog.at_level(logging.DEBUG, logger="signer"):
        for now in range(3, 300):  # a tick every second for five minutes
            signer.run_once(float(now))
    # one refused call, then one every idle_every (60 s) instead of one every few seconds
    assert portal_hits[HEARTBEAT] + portal_hits[POLL] - hits == 5
    said = [r for r in caplog.records if r.name == "signer" and r.levelno >= logging.WARNING]
    assert len(said) == 1  # said once, clearly, and never as an error
    assert said[0].levelno == logging.WARNING
    assert f"the portal refuses this SON ({code})" in said[0].getMessage()
    assert "Idling; asking again every 60 s" in said[0].getMessage()

    _set_status(portal.son, SON.Status.ACTIVE)  # (an inactive SON activated)
    before = portal_hits[POLL]
    with caplog.at_level(logging.INFO, logger="signer"):
        for now in range(300, 370):
            signer.run_once(float(now))
    assert "the portal accepts this SON again: resuming" in caplog.text
    assert portal_hits[POLL] - before > 5  # back on the 3 s schedule
    assert last_heartbeat(portal.son) is not None


def test_it_reports_the_federation_versions_its_configuration_accepts(
    portal, make_signer, tmp_path, client
):
    own = portal.keys.bitcoin
    others = [PrivateKey(drafts.secret(f"peer-{i}")).public_key.format() for i in (2, 3, 4)]
    current = (own.public_key.format(), *others[:2])
    rotated = (own.public_key.format(), others[0], others[2])
    config = drafts.config(
        federation_keys=current, private_key=own, accepted_federations=(rotated,)
    )
    journal = Journal(tmp_path / "journal.sqlite")
    signing = Signing(config, journal)
    signer = make_signer(portal.url, portal.token, signing=signing)
    try:
        signer.run_once(0.0)
    finally:
        journal.close()
    portal.son.refresh_from_db()
    fingerprints = [
        FederationVersion.fingerprint_of([k.hex() for k in v]) for v in (current, rotated)
    ]
    assert portal.son.accepted_federations == sorted(fingerprints)  # the portal's own form
    version = FederationVersion.objects.create(
        sidechain="bitcoin",
        keys=sorted(k.hex() for k in rotated),
        fingerprint=fingerprints[1],
        threshold=2,
        status=FederationVersion.Status.PROPOSED,
    )
    client.force_login(portal.son.owner)
    page = client.get(portal.son.get_absolute_url()).content.decode()
    row = page.split('data-testid="federation-bitcoin-proposed"')[1].split("</tr>")[0]
    assert version.short_fingerprint() in row
    assert "<td>yes</td>" in row


def test_it_signs_heartbeats_that_the_portal_verifies(portal, portal_hits, make_signer, caplog):
    signer = make_signer(portal.url, portal.token, heartbeat_every=1.0, poll_every=100.0)
    with caplog.at_level(logging.INFO, logger="signer"):
        for now in (0.0, 1.0, 2.0):
            signer.run_once(now)
    assert (portal_hits[ME], portal_hits[HEARTBEAT]) == (1, 3)
    assert portal.son.heartbeat_nonces.count() == 3  # three distinct nonces, all accepted
    assert f"signing heartbeats for SON {portal.son.pk} (son-1)" in caplog.text
    assert "failed" not in caplog.text


def test_it_refuses_to_run_with_a_key_the_portal_did_not_register(
    portal, portal_hits, make_signer, caplog
):
    register_keys(portal.son, generate())
    signer = make_signer(portal.url, portal.token, heartbeat_every=5.0, poll_every=100.0)
    with caplog.at_level(logging.INFO, logger="signer"):
        signer.run_once(0.0)
        signer.run_once(1.0)
    assert (portal_hits[ME], portal_hits[HEARTBEAT]) == (2, 0)
    [first, _] = [r for r in caplog.records if "heartbeat failed" in r.getMessage()]
    assert first.levelno == logging.ERROR
    assert "the portal would refuse its heartbeats" in first.getMessage()
    assert portal.keys.public()["bitcoin"] in first.getMessage()


def test_a_signer_whose_clock_is_off_is_refused_as_stale(portal, make_signer, caplog):
    signer = make_signer(portal.url, portal.token, wallclock=lambda: time.time() - 60)
    with caplog.at_level(logging.INFO, logger="signer"):
        signer.run_once(0.0)
    assert last_heartbeat(portal.son) is None
    assert re.search(r"HTTP 400: Stale heartbeat: its timestamp is 6\d s behind", caplog.text)


def test_it_survives_an_unreachable_portal(closed_port_url, make_signer, caplog):
    signer = make_signer(closed_port_url, "tok-unused")
    with caplog.at_level(logging.DEBUG, logger="signer"):
        signer.run_once(0.0)
        signer.run_once(1.0)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures and {r.levelno for r in failures} == {logging.WARNING}
    assert "cannot connect" in caplog.text


def test_it_logs_an_overloaded_peer_as_a_warning(misbehaving_peer, make_signer, caplog):
    misbehaving_peer.answers("503 Service Unavailable", b'{"detail": "maintenance"}')
    signer = make_signer(misbehaving_peer.url, "tok-unused")
    with caplog.at_level(logging.DEBUG, logger="signer"):
        signer.run_once(0.0)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2 and {r.levelno for r in failures} == {logging.WARNING}
    assert "HTTP 503: maintenance" in caplog.text


def test_it_never_logs_the_token_or_a_private_key(portal, keys, make_signer, caplog):
    stop = threading.Event()
    clock = [0.0]

    def sleep(_seconds):
        clock[0] += 1.0
        if clock[0] == 3.0:
            SON.objects.filter(pk=portal.son.pk).update(
                token_created_at=portal.son.token_created_at - timedelta(days=400)
            )
        if clock[0] >= 6.0:
            stop.set()

    signer = make_signer(portal.url, portal.token, 2.0, 2.0, clock=lambda: clock[0], sleep=sleep)
    with caplog.at_level(logging.DEBUG):
        signer.run_forever(stop)
    assert "heartbeat accepted" in caplog.text  # before the token expired
    assert "This SON token has expired" in caplog.text  # after
    for secret in (portal.token, keys.bitcoin.secret.hex(), keys.hive.secret.hex()):
        assert secret not in caplog.text


def test_it_runs_until_the_stop_event_is_set(portal, portal_hits, make_signer):
    stop = threading.Event()
    clock = [0.0]
    pauses = []
    seen = []

    def sleep(seconds):
        pauses.append(seconds)
        seen.append(last_heartbeat(portal.son))
        clock[0] += seconds
        if clock[0] >= 12.0:
            stop.set()

    signer = make_signer(
        portal.url,
        portal.token,
        heartbeat_every=5.0,
        poll_every=3.0,
        clock=lambda: clock[0],
        sleep=sleep,
    )
    signer.run_forever(stop)
    assert sum(_advanced(seen)) == 3  # heartbeats at 0, 5, 10
    assert portal_hits[POLL] == 4  # at 0, 3, 6, 9 (12 is not reached before stopping)
    assert max(pauses) <= 0.25


@pytest.mark.parametrize(
    "failures, expected", [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (100, 5.0), (10**6, 5.0)]
)
def test_it_doubles_the_retry_delay_up_to_the_interval(failures, expected):
    assert retry_delay(failures, every=5.0) == expected


@pytest.mark.parametrize(
    "error, transient",
    [
        (PortalUnavailable("down"), True),
        (PortalError("busy", 503), True),
        (PortalError("slow down", 429), True),
        (PortalError("bad token", 401), False),
        (PortalError("no such path", 404), False),
        (PortalError("not JSON", 200), False),
    ],
)
def test_it_tells_transient_portal_errors_from_ones_that_need_an_operator(error, transient):
    assert is_transient(error) is transient


# --- Signing -------------------------------------------------------------------------------
# The portal's side of signing runs end to end with real signer processes in
# tests/sidechains/test_withdrawals_signers.py; here a scripted portal plays the hostile or
# failing cases the real one cannot produce on demand.


class ScriptedPortal:
    """A PortalClient stand-in: lists `requests`, records answers, raises `errors` in turn."""

    def __init__(self, keys, requests=()):
        self.keys = keys
        self.requests = list(requests)
        self.posted = []
        self.errors = []

    def me(self):
        return {"son": 1, "name": "son-1", "public_keys": self.keys.public()}

    def heartbeat(self, body):
        return {"son": 1, "status": "active"}

    def signing_requests(self):
        return list(self.requests)

    def answer(self, request_id, body):
        self.posted.append((request_id, body))
        if self.errors:
            raise self.errors.pop(0)
        return {"accepted": len(body.get("signatures", [])), "complete": False}


@pytest.fixture
def son_keys():
    return Keys(bitcoin=PrivateKey(drafts.SON_SECRETS[0]), hive=PrivateKey())


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "journal.sqlite") as journal:
        yield journal


@pytest.fixture
def signing_signer(son_keys, journal):
    def make(portal):
        signing = Signing(drafts.config(0), journal)
        return Signer(
            portal,
            son_keys,
            heartbeat_every=100.0,
            poll_every=1.0,
            signing=signing,
            wallclock=lambda: drafts.NOW.timestamp(),
        )

    return make


def test_it_signs_each_request_and_posts_the_answer(son_keys, signing_signer, caplog):
    first, second = drafts.Draft(id="41").request(), drafts.Draft(id="42", fee=6_000).request()
    portal = ScriptedPortal(son_keys, [first])
    signer = signing_signer(portal)
    with caplog.at_level(logging.INFO, logger="signer"):
        signer.run_once(0.0)
        portal.requests = [first, second]  # the portal has not recorded the first answer
        signer.run_once(1.0)
    assert [request_id for request_id, _ in portal.posted] == ["41", "41", "42"]
    answers = [body for _, body in portal.posted]
    assert answers[0] == answers[1]  # the same signatures again, from the journal
    assert len(answers[0]["signatures"]) == 2
    assert "request 41: signatures posted (2 accepted, complete: False)" in caplog.text
    # the second request spends the same coins as the first: refused, and the refusal posted
    assert answers[2] == {"request_id": "42", "refused": True, "reasons": ["CONFLICTING_SPEND"]}


def test_it_answers_hostile_requests_without_crashing(son_keys, signing_signer, caplog):
    tampered = drafts.Draft(id="7", withdrawals=(("w-1", drafts.MALLORY, 30_000_000),))
    tampered = tampered.but(outputs=drafts.Draft().tx_outputs()).request()
    hostile = [None, [], {"id": ["x"]}, {"id": "8", "tx": "zz"}, tampered]
    portal = ScriptedPortal(son_keys, hostile)
    with caplog.at_level(logging.INFO, logger="signer"):
        signing_signer(portal).run_once(0.0)
    answers = dict(portal.posted)
    assert set(answers) == {"8", "7"}
    assert answers["8"]["refused"] is True and answers["8"]["reasons"] == ["MALFORMED"]
    assert answers["7"]["refused"] is True and "PAYOUT_MISMATCH" in answers["7"]["reasons"]
    assert caplog.text.count("skipped a signing request without a readable id") == 3
    assert "poll signing requests failed" not in caplog.text


def test_it_does_not_repeat_an_answer_the_portal_rejected_until_the_request_changes(
    son_keys, signing_signer, caplog
):
    request = drafts.Draft(id="9").request()
    portal = ScriptedPortal(son_keys, [request])
    portal.errors = [
        PortalError("POST ...: HTTP 400: The signature of input 0 does not verify.", 400)
    ]
    signer = signing_signer(portal)
    with caplog.at_level(logging.INFO, logger="signer"):
        signer.run_once(0.0)
        signer.run_once(1.0)
        signer.run_once(2.0)
        assert len(portal.posted) == 1
        [rejected] = [r for r in caplog.records if "rejected our answer" in r.getMessage()]
        assert rejected.levelno == logging.ERROR
        portal.requests = [drafts.Draft(id="9", fee=4_000).request()]  # changed by the portal
        signer.run_once(3.0)
    assert len(portal.posted) == 2
    assert portal.posted[1][1]["reasons"] == ["REQUEST_ID_REUSED"]  # another tx, the same id


def test_it_retries_an_answer_after_a_transport_error_with_backoff(
    son_keys, signing_signer, caplog
):
    portal = ScriptedPortal(son_keys, [drafts.Draft(id="5").request()])
    portal.errors = [PortalUnavailable("cannot connect"), PortalError("busy", 503)]
    signer = signing_signer(portal)
    with caplog.at_level(logging.INFO, logger="signer"):
        for now in (0.0, 0.5, 1.0, 1.5, 2.0):
            signer.run_once(now)
    assert len(portal.posted) == 3  # at 0, then after 1 s, then after 2 s... capped at 1 s
    assert portal.posted[0][1] == portal.posted[2][1]
    failures = [r for r in caplog.records if "poll signing requests failed" in r.getMessage()]
    assert len(failures) == 2 and {r.levelno for r in failures} == {logging.WARNING}


def test_a_journal_that_cannot_be_written_skips_the_request_and_keeps_the_loop(
    son_keys, signing_signer, journal, monkeypatch, caplog
):
    portal = ScriptedPortal(son_keys, [drafts.Draft(id="6").request()])
    signer = signing_signer(portal)

    def full_disk(*args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(journal, "record_intent", full_disk)
    with caplog.at_level(logging.INFO, logger="signer"):
        signer.run_once(0.0)
        assert portal.posted == []
        assert "request 6: the journal failed (database or disk is full)" in caplog.text
        monkeypatch.undo()
        signer.run_once(1.0)  # retried on the next poll
    assert [request_id for request_id, _ in portal.posted] == ["6"]
    assert "signatures" in portal.posted[0][1]


def test_it_reports_the_hive_versions_its_configuration_accepts(
    portal, make_signer, tmp_path, client, capsys
):
    """The configuration file as an operator has it, a Hive version added by
    `signer federation add --sidechain hive`, loaded as `serve` loads it: the heartbeat carries
    the version's fingerprint, the portal's own (of the keys as hex), kept apart from Bitcoin's."""
    own = portal.keys
    peers = [PrivateKey(drafts.secret(f"hive-peer-{i}")).public_key for i in (2, 3)]
    hive_keys = [own.public()["hive"], *(public_key_text(p.format().hex()) for p in peers)]
    others = [PrivateKey(drafts.secret(f"peer-{i}")).public_key.format().hex() for i in (2, 3)]
    path = tmp_path / "signer.json"
    document = {
        "network": "regtest",
        "federation_keys": [own.public()["bitcoin"], *others],
        "deposit_timelock": 144,
        "max_feerate": 50,
        "max_fee": 100_000,
        "daily_cap": 10**9,
        "journal": "journal.sqlite",
        "hive": {
            "chain_id": "ab" * 32,
            "federation_account": "son-federation",
            "daily_caps": {"HIVE": 10**6},
            "journal": "hive-journal.sqlite",
        },
    }
    path.write_text(json.dumps(document))
    add = ["federation", "add", "--sidechain", "hive", "--config", str(path), "--threshold", "2"]
    assert cli.main([*add, "--keys", *hive_keys]) == 0
    printed = capsys.readouterr().out

    version = federation_version_record(
        sidechain=Sidechain.HIVE, keys=[public_key_hex(k) for k in hive_keys]
    )
    assert version is not None and version.short_fingerprint() in printed
    run_heartbeat(make_signer, portal, path)
    portal.son.refresh_from_db()
    assert portal.son.accepted_hive_federations == [version.fingerprint]
    assert portal.son.accepts(version)
    assert version.fingerprint not in portal.son.accepted_federations  # Bitcoin's list apart
    assert len(portal.son.accepted_federations) == 1  # its current Bitcoin version
    client.force_login(portal.son.owner)
    page = client.get(portal.son.get_absolute_url()).content.decode()
    row = page.split('data-testid="federation-hive-proposed"')[1].split("</tr>")[0]
    assert version.short_fingerprint() in row and "<td>yes</td>" in row

    # Without the hive section (or from a signer older than the field): no Hive version.
    del document["hive"]
    path.write_text(json.dumps(document))
    run_heartbeat(make_signer, portal, path)
    portal.son.refresh_from_db()
    assert portal.son.accepted_hive_federations == []
    assert not portal.son.accepts(version)


def run_heartbeat(make_signer, portal, path) -> None:
    """One tick of a signer with the configuration at `path`, as `signer serve` loads it."""
    loaded = config.load(path, portal.keys.bitcoin)
    journal = Journal(loaded.journal)
    hive = None
    if loaded.hive is not None and loaded.hive_journal is not None:
        hive = HiveSigning(loaded.hive, HiveJournal(loaded.hive_journal), portal.keys.hive)
    signer = make_signer(portal.url, portal.token, signing=Signing(loaded.signer, journal, hive))
    try:
        signer.run_once(0.0)
    finally:
        journal.close()
        if hive is not None:
            hive.journal.close()


def test_it_reports_at_most_as_many_versions_as_the_portal_takes():
    many = [f"{i:064x}" for i in range(40)]
    assert reported(many[:REPORTED_VERSIONS]) == many[:REPORTED_VERSIONS]
    kept = reported(many)
    assert len(kept) == REPORTED_VERSIONS
    assert kept[0] == many[0] and kept[1:] == many[-(REPORTED_VERSIONS - 1) :]
