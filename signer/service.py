"""The signer's serve loop: heartbeats, and polling and answering signing requests, on a schedule.

Portal errors never end the loop: the failing task is logged and retried with a capped
exponential backoff (1 s, 2 s, 4 s, ... never longer than the task's own interval).

Heartbeats are signed with the SON's Bitcoin key over (SON id, unix time, random nonce), so a
stolen API token alone cannot fake liveness. The SON id comes from the portal (GET son/me) before
the first heartbeat, together with the public key the portal has registered for the SON, which
must be this key file's.

With a configuration (signer.config), each poll signs: every fetched request goes through
sign_request (policy, journal, signatures; it never raises on a hostile request) and its answer,
signatures or refusal, is posted to the portal. A request whose answer the portal rejects (400)
is logged as an error and not answered again until the portal changes it; a request the portal
no longer has (404) is skipped; a transport error or overloaded portal ends the poll, which is
retried with the backoff. The journal makes the repeated answer after a retry or a restart the
same signatures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from signer.client import (
    ME_PATH,
    PortalClient,
    PortalError,
    PortalUnavailable,
    signed_heartbeat,
)
from signer.hive_config import HiveSigning
from signer.hive_policy import sign_hive_request
from signer.hive_rotation import is_rotation, sign_hive_rotation
from signer.journal import Journal, JournalError
from signer.keystore import Keys
from signer.policy import SignerConfig
from signer.request import request_id_of
from signer.signing import sign_request

log = logging.getLogger("signer")

FIRST_RETRY = 1.0
MAX_PAUSE = 0.25  # longest single sleep, so that a stop request is seen quickly
IDLE_EVERY = 300.0  # how often a signer whose SON is outside the federation asks again
REPORTED_VERSIONS = 16  # fingerprints per sidechain in a heartbeat, as the portal bounds them

# The portal's 401 codes for a SON outside the federation. Nothing is wrong with the signer and
# retrying sooner changes nothing, so it says so once and idles (docs/signer.md).
OUTSIDE_FEDERATION = {
    "son_deregistered": "witnesses deregistered this SON for good: it signs nothing any more,"
    " and its operator can stop this signer",
    "son_not_in_federation": "this SON is not in the federation (yet): an administrator"
    " activates it",
}


def reported(fingerprints: list[str]) -> list[str]:
    """At most REPORTED_VERSIONS fingerprints, the portal's bound per list: the first (Bitcoin:
    the current version) and the newest added. Longer lists would get every heartbeat refused."""
    if len(fingerprints) <= REPORTED_VERSIONS:
        return list(fingerprints)
    return [fingerprints[0], *fingerprints[1 - REPORTED_VERSIONS :]]


def retry_delay(failures: int, every: float, first: float = FIRST_RETRY) -> float:
    """Seconds to wait after `failures` consecutive failures: doubling, capped at `every`."""
    doubled: float = first * 2 ** min(failures - 1, 32)
    return min(every, doubled)


def is_transient(error: PortalError) -> bool:
    """Unreachable, overloaded or failing portal; anything else (401, 404...) needs a human."""
    return isinstance(error, PortalUnavailable) or error.status in (429, 502, 503, 504)


@dataclass(frozen=True)
class Signing:
    """What signing needs: the signer's own configuration and its journal."""

    config: SignerConfig
    journal: Journal
    hive: HiveSigning | None = None  # without it, Hive requests are left unanswered


@dataclass
class _Task:
    name: str
    every: float
    action: Callable[[], None]
    next_at: float = float("-inf")  # due on the first tick
    failures: int = 0


class Signer:
    """Runs one SON's duties against the portal. `keys.bitcoin` signs heartbeats; `signing`
    (None: requests are only counted) signs the requests."""

    def __init__(
        self,
        client: PortalClient,
        keys: Keys,
        *,
        heartbeat_every: float,
        poll_every: float,
        signing: Signing | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wallclock: Callable[[], float] = time.time,
        idle_every: float = IDLE_EVERY,
    ):
        self._client = client
        self._keys = keys
        self._clock = clock
        self._sleep = sleep
        self._wallclock = wallclock
        self._son: int | None = None
        self._status: str | None = None
        self._pending: int | None = None
        self._signing = signing
        self._rejected: dict[str, str] = {}  # request id -> fingerprint the portal refused
        self._idle_every = idle_every
        self._outside: str | None = None  # the 401 code while the SON is outside the federation
        self._tasks = [
            _Task("heartbeat", heartbeat_every, self._heartbeat),
            _Task("poll signing requests", poll_every, self._poll),
        ]

    def run_once(self, now: float) -> None:
        """Run every task that is due at `now`; never raises on portal errors."""
        for task in self._tasks:
            if now >= task.next_at:
                self._attempt(task, now)

    def run_forever(self, stop_event: threading.Event) -> None:
        log.info("signer started for public keys %s", json.dumps(self._keys.public()))
        while not stop_event.is_set():
            self.run_once(self._clock())
            self._sleep(self._pause(self._clock()))
        log.info("signer stopped")

    def _pause(self, now: float) -> float:
        next_at = min(task.next_at for task in self._tasks)
        return max(0.0, min(next_at - now, MAX_PAUSE))

    def _attempt(self, task: _Task, now: float) -> None:
        try:
            task.action()
        except PortalError as exc:
            if exc.status == 401 and exc.code in OUTSIDE_FEDERATION:
                self._idle(exc.code, now)
                return
            task.failures += 1
            delay = retry_delay(task.failures, task.every)
            task.next_at = now + delay
            level = logging.WARNING if is_transient(exc) else logging.ERROR
            log.log(level, "%s failed (%s); retrying in %.1f s", task.name, exc, delay)
            return
        if task.failures:
            log.info("%s succeeded again after %d failure(s)", task.name, task.failures)
        task.failures = 0
        task.next_at = now + task.every
        if self._outside is not None:
            log.warning("the portal accepts this SON again: resuming")
            self._outside = None
            for other in self._tasks:
                other.next_at = min(other.next_at, now)

    def _idle(self, code: str, now: float) -> None:
        """The SON is outside the federation: say so once, then ask again every idle_every."""
        if self._outside != code:
            log.warning(
                "the portal refuses this SON (%s): %s. Idling; asking again every %.0f s",
                code,
                OUTSIDE_FEDERATION[code],
                self._idle_every,
            )
            self._outside = code
        for task in self._tasks:
            task.failures = 0
            task.next_at = max(task.next_at, now + self._idle_every)

    def _heartbeat(self) -> None:
        if self._son is None:
            self._son = self._identify()
        bitcoin = hive = None
        if self._signing is not None:  # the federation versions its configuration accepts
            bitcoin = reported(self._signing.config.version_fingerprints)
            section = self._signing.hive
            hive = reported(section.policy.version_fingerprints() if section else [])
        now = int(self._wallclock())
        body = signed_heartbeat(
            self._keys.bitcoin, self._son, now, federations=bitcoin, hive_federations=hive
        )
        answer = self._client.heartbeat(body)
        status = answer.get("status")
        if status != self._status:
            log.info("heartbeat accepted: SON %s is %s", answer.get("son"), status)
            self._status = status
        else:
            log.debug("heartbeat accepted")

    def _identify(self) -> int:
        """The SON id to sign heartbeats for; refuses a portal that registered another key."""
        me = self._client.me()
        son, name = me.get("son"), me.get("name")
        if not isinstance(son, int) or isinstance(son, bool):
            raise PortalError(f"GET {ME_PATH}: the answer has no SON id")
        keys = me.get("public_keys")
        registered = keys.get("bitcoin") if isinstance(keys, dict) else None
        mine = self._keys.public()["bitcoin"]
        if registered != mine:
            raise PortalError(
                f"the portal has Bitcoin key {registered} for SON {name}, but the key file holds"
                f" {mine}: the portal would refuse its heartbeats"
            )
        log.info("signing heartbeats for SON %s (%s)", son, name)
        return son

    def _poll(self) -> None:
        documents = self._client.signing_requests()
        if len(documents) != self._pending:
            note = "" if self._signing else " (no configuration: not signing)"
            log.info("%d signing request(s) pending%s", len(documents), note)
            self._pending = len(documents)
        if self._signing is None:
            return
        listed = set()
        for document in documents:
            request_id = request_id_of(document)
            if request_id is None:
                log.warning("skipped a signing request without a readable id")
                continue
            listed.add(request_id)
            self._answer(request_id, document, self._signing)
        # a request gone from the list, or changed, is answered afresh when it comes back
        self._rejected = {k: v for k, v in self._rejected.items() if k in listed}

    def _answer(self, request_id: str, document: dict[str, Any], signing: Signing) -> None:
        fingerprint = _fingerprint(document)
        if self._rejected.get(request_id) == fingerprint:
            log.debug(
                "request %s: the portal rejected our answer; waiting for a change", request_id
            )
            return
        now = datetime.fromtimestamp(self._wallclock(), UTC)
        if document.get("chain") == "hive":
            if signing.hive is None:
                log.warning("request %s: Hive, but no hive configuration: skipped", request_id)
                return
            answer = hive_answer(document, signing.hive, now)
            self._post(request_id, answer, fingerprint)
            return
        try:
            answer = sign_request(document, signing.config, signing.journal, now)
        except (JournalError, sqlite3.Error) as exc:
            log.error(
                "request %s: the journal failed (%s); retrying on the next poll", request_id, exc
            )
            return
        self._post(request_id, answer, fingerprint)

    def _post(self, request_id: str, answer: dict[str, Any], fingerprint: str) -> None:
        try:
            result = self._client.answer(request_id, answer)
        except PortalError as exc:
            if exc.status == 400:
                log.error("request %s: the portal rejected our answer: %s", request_id, exc)
                self._rejected[request_id] = fingerprint
                return
            if exc.status == 404:
                log.warning("request %s: the portal no longer has it", request_id)
                return
            raise  # transient or needs a human: the poll task logs it and backs off
        what = "refusal" if answer.get("refused") else "signatures"
        log.info(
            "request %s: %s posted (%s accepted, complete: %s)",
            request_id,
            what,
            result.get("accepted"),
            result.get("complete"),
        )


def hive_answer(document: dict[str, Any], hive: HiveSigning, now: datetime) -> dict[str, Any]:
    """The answer to a Hive request: the signature, or the refusal's reasons."""
    sign = sign_hive_rotation if is_rotation(document) else sign_hive_request
    verdict = sign(document, policy=hive.policy, key=hive.key, journal=hive.journal, now=now)
    if verdict.signature is None:
        log.warning("refused request %s: %s", verdict.request_id, ", ".join(verdict.reasons))
        return {"request_id": verdict.request_id, "refused": True, "reasons": list(verdict.reasons)}
    log.info("signed Hive request %s", verdict.request_id)
    return {"request_id": verdict.request_id, "signatures": [{"signature": verdict.signature}]}


def _fingerprint(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
