"""Health of every component the portal depends on, for /healthz and the admin status panel.

Beat's health task runs the checks every HEALTH_CHECK_EVERY seconds and stores them
(health_record); /healthz and the panel read the stored report (report), so a poll never waits
on a node or a worker.

Each check returns a Check; a check never raises. Error texts come from the component's own
error message and never contain credentials. Details and errors are for people with
DETAIL_PERMISSION and for monitoring with HEALTH_TOKEN; anyone else sees up or down per component.
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

import requests
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from chains.bitcoin.rpc import BitcoinRPCError
from chains.hive.rpc import HiveRPC
from chains.hive.transactions import public_key_text
from ledger.services import ledger_check, ledger_supply
from rates.assets import amount_format
from sidechains.bitcoin.node import bitcoin_rpc
from sidechains.hive.rotation import federation_account, hive_version_authority, same_authority
from sidechains.models import CircuitBreaker, ReservesCheck
from sonportal.celery import app as celery_app
from sonportal.models import LATEST, HealthReport
from sonportal.oncall import oncall_figures
from sonportal.tasks import PING_TASK
from sons.federation import federation_health
from sons.models import SON, FederationVersion, Sidechain

# Who may see alerts may see the system's health.
DETAIL_PERMISSION = "sidechains.view_alert"
# Longer Authorization headers are refused before they are looked at.
AUTHORIZATION_MAX_LENGTH = 512
PUBLIC_REPORT_KEY = "health:public-report"
LEDGER_CHECK_KEY = "health:ledger-check"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    error: str = ""


def _error(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            (version,) = cursor.fetchone()
    except Exception as e:
        return Check("database", False, error=_error(e))
    return Check("database", True, detail=version.split(",")[0])


def check_broker(app: Celery = celery_app) -> Check:
    nonce = secrets.token_hex(8)
    timeout = settings.HEALTH_BROKER_TIMEOUT
    started = time.monotonic()
    try:
        # Probe the broker first: the result backend would otherwise retry for ~20 s.
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        result = app.send_task(PING_TASK, args=[nonce], retry=False, expires=timeout)
        answer = result.get(timeout=timeout, disable_sync_subtasks=False)
    except CeleryTimeoutError:
        return Check("broker", False, error=f"no worker answered within {timeout} s")
    except Exception as e:
        return Check("broker", False, error=_error(e))
    if answer != nonce:
        return Check("broker", False, error="a worker answered with the wrong nonce")
    elapsed_ms = (time.monotonic() - started) * 1000
    return Check("broker", True, detail=f"worker round trip {elapsed_ms:.0f} ms")


def check_bitcoin() -> Check:
    try:
        height = bitcoin_rpc().get_block_count()
    except BitcoinRPCError as e:
        return Check("bitcoin", False, error=str(e))
    return Check("bitcoin", True, detail=f"{settings.BITCOIN_NETWORK} height {height}")


def check_hive() -> Check | None:
    if not settings.HIVE_NODE_URL:
        return None
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "database_api.get_dynamic_global_properties",
        "params": {},
    }
    try:
        response = requests.post(settings.HIVE_NODE_URL, json=body, timeout=5)
        response.raise_for_status()
        props = response.json()["result"]
        authority = _hive_authority()
    except Exception as e:
        return Check("hive", False, error=_error(e))
    detail = f"head block {props['head_block_number']}"
    if authority.startswith("!"):
        return Check("hive", False, error=f"{detail}; {authority[1:]}")
    return Check("hive", True, detail=f"{detail}; {authority}" if authority else detail)


def _hive_authority() -> str:
    """Whether the federation account's active authority on the node is the active Hive
    federation version (or one accepted and being moved to): a description, "!" first when it
    is neither, so that a change made outside the portal is seen."""
    active = FederationVersion.objects.filter(
        sidechain=Sidechain.HIVE, status=FederationVersion.Status.ACTIVE
    ).first()  # read only: a health check records no first version
    if active is None or not settings.HIVE_FEDERATION_ACCOUNT:
        return ""
    with HiveRPC(settings.HIVE_NODE_URL, timeout=5) as rpc:
        account = federation_account(rpc)
    name, on_chain = settings.HIVE_FEDERATION_ACCOUNT, account["active"]
    outsiders = _owner_outsiders(account["owner"], active)
    if outsiders:
        return (
            f"!{name}'s owner authority holds the key(s) {', '.join(outsiders)} of SONs outside "
            f"the active federation version {active.pk}: on Hive the owner authority also "
            "signs for active, so they can still move its funds; set the owner to keys no SON "
            "outside the federation holds"
        )
    if same_authority(on_chain, hive_version_authority(active)):
        return f"{name}'s active authority is federation version {active.pk}"
    accepted = FederationVersion.objects.filter(
        sidechain=Sidechain.HIVE, status=FederationVersion.Status.ACCEPTED
    )
    for version in accepted:
        if same_authority(on_chain, hive_version_authority(version)):
            return f"{name}'s active authority is version {version.pk}, being activated"
    return (
        f"!{name}'s active authority on the node is not federation version {active.pk} "
        "(changed outside the portal?): signers will refuse or fail every Hive transaction"
    )


def _owner_outsiders(owner: dict, active: FederationVersion) -> list[str]:
    """Keys of the owner authority that belong to Hive federation versions but not to the
    active one: a SON that left (or was never admitted) still holding the account."""
    keep = {public_key_text(key) for key in active.keys}
    known = {
        public_key_text(key)
        for keys in FederationVersion.objects.filter(sidechain=Sidechain.HIVE).values_list(
            "keys", flat=True
        )
        for key in keys
    }
    return sorted(str(key) for key, _ in owner["key_auths"] if key in known - keep)


def check_beat() -> Check:
    """Beat is alive if it sent its most frequent task recently."""
    try:
        last = (
            PeriodicTask.objects.filter(enabled=True, last_run_at__isnull=False)
            .order_by("-last_run_at")
            .values_list("last_run_at", flat=True)
            .first()
        )
    except Exception as e:
        return Check("beat", False, error=_error(e))
    if last is None:
        return Check("beat", False, error="beat has not sent any task yet")
    age = (timezone.now() - last).total_seconds()
    if age > 3 * settings.SON_LIVENESS_CHECK_EVERY + 10:
        return Check("beat", False, error=f"last task sent {age:.0f} s ago")
    return Check("beat", True, detail=f"last task sent {age:.0f} s ago")


def check_signers() -> list[Check]:
    now = timezone.now()
    limit = timedelta(seconds=settings.SON_DOWN_TIME)
    try:
        sons = list(SON.objects.registered())
    except Exception as e:
        return [Check("signers", False, error=_error(e))]
    checks = []
    for son in sons:
        name = f"signer {son.name}"
        if son.last_heartbeat_at is None:
            checks.append(Check(name, False, error="never seen"))
            continue
        age = now - son.last_heartbeat_at
        seen = f"last seen {age.total_seconds():.0f} s ago"
        checks.append(Check(name, age <= limit, detail=seen, error="" if age <= limit else seen))
    return checks


def check_ledger() -> Check:
    """The ledger's invariants, as last checked: the check reads every entry, so its result is
    kept HEALTH_LEDGER_CACHE seconds and /healthz and the admin's status panel (which polls) do
    not sum the whole ledger on every request."""
    seconds = settings.HEALTH_LEDGER_CACHE
    kept = _cache_call(cache.get, LEDGER_CHECK_KEY) if seconds else None
    if kept is not None:
        return Check(**kept)
    check = _check_ledger_now()
    if seconds:
        _cache_call(cache.set, LEDGER_CHECK_KEY, asdict(check), seconds)
    return check


def _check_ledger_now() -> Check:
    """Per-asset sums zero, balances match entries, none negative."""
    try:
        problems = ledger_check()
        supply = ledger_supply()
    except Exception as e:
        return Check("ledger", False, error=_error(e))
    if problems:
        return Check("ledger", False, error="; ".join(problems))
    issued = ", ".join(amount_format(n, asset) for asset, n in supply.items())
    return Check("ledger", True, detail=f"balanced; supply {issued}")


def check_reserves() -> Check:
    """The last stored reserves check (the beat task's; never recomputed here) and the
    circuit breaker: down while the breaker is tripped."""
    try:
        last = ReservesCheck.objects.filter(chain=Sidechain.BITCOIN).first()
        breaker = CircuitBreaker.objects.filter(chain=Sidechain.BITCOIN).first()
    except Exception as e:
        return Check("reserves", False, error=_error(e))
    if last is None:
        summary = "not checked yet"
    else:
        age = (timezone.now() - last.checked_at).total_seconds()
        summary = (
            f"margin {last.margin:+d} sat (reserves {last.reserves}, liabilities "
            f"{last.liabilities}, receivables {last.receivables}) at height {last.height}, "
            f"checked {age:.0f} s ago"
        )
    if breaker is not None and breaker.tripped:
        return Check("reserves", False, error=f"circuit breaker tripped: {summary}")
    return Check("reserves", True, detail=summary)


def check_federation() -> Check:
    """The active Bitcoin federation version, and whether it needs a replacement SON (fewer
    SONs than FEDERATION_MIN_SIZE): with two left, either one down stops all signing."""
    try:
        health = federation_health(Sidechain.BITCOIN)
    except Exception as e:
        return Check("federation", False, error=_error(e))
    if health is None:
        return Check("federation", False, error="no federation: no SON has a Bitcoin key")
    if health.replacement_needed:
        return Check("federation", False, error=health.summary())
    return Check("federation", True, detail=health.summary())


def run_checks(*, broker: Check | None = None) -> list[Check]:
    """Every check, live. `broker` stands in for the round trip when the caller is itself a
    task a worker took from the broker (beat's health task)."""
    checks = [
        check_database(),
        broker or check_broker(),
        check_bitcoin(),
        check_beat(),
        check_ledger(),
        check_reserves(),
        check_federation(),
    ]
    hive = check_hive()
    if hive is not None:
        checks.append(hive)
    return checks + check_signers()


def health_record(*, ran_on: str = "") -> HealthReport:
    """Run the checks and the on-call figures and store them as the latest report. Beat's task
    runs it on a worker (`ran_on`): that the task arrived is the broker's round trip."""
    broker = Check("broker", True, detail=f"beat's check ran on {ran_on}") if ran_on else None
    checks = run_checks(broker=broker)
    stored, _ = HealthReport.objects.update_or_create(
        key=LATEST,
        defaults={
            "checked_at": timezone.now(),
            "checks": [asdict(c) for c in checks],
            "oncall": oncall_figures(),
            "ran_on": ran_on,
        },
    )
    return stored


def report() -> dict:
    """The last stored checks, with a live database check (one cheap query) in front. Stored
    checks older than HEALTH_STALE_AFTER are still listed, under a "checks" line that is down
    and says since when: beat, the broker or every worker has stopped running them."""
    database = check_database()
    stored = HealthReport.objects.filter(key=LATEST).first() if database.ok else None
    checks, oncall, checked_at, age = [database], [], None, None
    if stored is None:
        why = "cannot be read" if not database.ok else "not run yet (beat runs them)"
        checks.append(Check("checks", False, error=f"the stored checks {why}"))
    else:
        oncall, checked_at = stored.oncall, stored.checked_at
        age = (timezone.now() - checked_at).total_seconds()
        if age > settings.HEALTH_STALE_AFTER:
            error = f"last run {age:.0f} s ago, at {checked_at:%H:%M:%S} UTC: stale"
            checks.append(Check("checks", False, error=error))
        checks += [Check(**c) for c in stored.checks if c["name"] != "database"]
    return {
        "status": "ok" if all(c.ok for c in checks) else "fail",
        "checked_at": checked_at.isoformat() if checked_at else None,
        "age_seconds": round(age) if age is not None else None,
        "stale": age is None or age > settings.HEALTH_STALE_AFTER,
        "checks": [asdict(c) for c in checks],
        "oncall": oncall,
    }


def public_report() -> dict:
    """What anyone may know: the overall status and each component's name and state. Kept for
    HEALTH_PUBLIC_CACHE seconds, so that anonymous callers cannot make the portal run its
    checks (a task through every worker's queue among them) as often as they like."""
    seconds = settings.HEALTH_PUBLIC_CACHE
    kept = _cache_call(cache.get, PUBLIC_REPORT_KEY) if seconds else None
    if kept is not None:
        return kept
    full = report()
    checks = [{"name": c["name"], "ok": c["ok"]} for c in full["checks"]]
    public = {"status": full["status"], "checks": checks}
    if seconds:
        _cache_call(cache.set, PUBLIC_REPORT_KEY, public, seconds)
    return public


def _cache_call(method, *args):
    """The cache is Redis, which /healthz reports on: its being down must not take /healthz
    down with it (the broker check says it is down)."""
    try:
        return method(*args)
    except Exception:
        return None


class BadHealthToken(Exception):
    """An Authorization header that is not `Bearer <HEALTH_TOKEN>`."""


def may_see_details(request: HttpRequest) -> bool:
    """True for the monitoring token and for users with DETAIL_PERMISSION; raises
    BadHealthToken for any other Authorization header, so a misconfigured monitor fails loudly
    instead of quietly getting the public report."""
    header = request.headers.get("Authorization")
    if header is None:
        return request.user.has_perm(DETAIL_PERMISSION)
    if len(header) > AUTHORIZATION_MAX_LENGTH:
        raise BadHealthToken("Authorization header too long.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token_matches(token):
        raise BadHealthToken("Invalid health token.")
    return True


def token_matches(given: str) -> bool:
    """Constant time, whatever the lengths: both sides are hashed first."""
    expected = settings.HEALTH_TOKEN
    if not expected:
        return False
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.encode()).digest(), digest(expected.encode()).digest())
