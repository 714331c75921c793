"""Fixtures on real components: PostgreSQL (pytest-django), Redis, bcoin, Celery, Chromium.

bin/test starts the project-local PostgreSQL and Redis and exports their settings; each test
session starts its own fresh in-memory bcoin node.
"""

import os
import shutil
import tempfile

import pytest

from tests import fixtures

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# there are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Test users' passwords hash with MD5: PBKDF2's million rounds took 0.5 s for every user
    a test makes (0.017 s with MD5) and 1.6 s for a login (0.6 s) on two loaded cores. No
    test's assertion depends on the hash; production's hashers (settings) are unchanged, and
    still verify (they follow in the list)."""
    from django.conf import settings
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=[FAST_HASHER, *settings.PASSWORD_HASHERS]):
        yield


@pytest.fixture
def admin_user(db):
    """An administrator through the administrators group (not a superuser)."""
    return fixtures.make_administrator("admin")


@pytest.fixture
def view_only_staff(db):
    """Staff with every view_* permission and no other."""
    return fixtures.make_view_only_staff("viewer")


@pytest.fixture
def user_carol(db):
    """A user with a second factor (TOTP), as withdrawing requires."""
    return fixtures.make_user("user_carol")


@pytest.fixture
def witness_alice(db):
    return fixtures.make_witness("witness_alice")


@pytest.fixture
def son_1(db):
    return fixtures.make_son("son-1")


@pytest.fixture(scope="session")
def bitcoin_node():
    from tests.bitcoin_node import start_bcoin

    node = start_bcoin()
    yield node
    node.stop()


@pytest.fixture
def bitcoin(bitcoin_node, settings):
    """Point the portal's Bitcoin client at the session's bcoin node."""
    settings.BITCOIN_RPC_URL = bitcoin_node.url
    settings.BITCOIN_RPC_USER = "sonportal"
    settings.BITCOIN_RPC_PASSWORD = bitcoin_node.api_key
    return bitcoin_node.rpc()


@pytest.fixture(scope="session")
def hive_devnode():
    from tests.hive_node import start_hive_devnode

    node = start_hive_devnode()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def celery_worker():
    """A real Celery worker (in a thread of this process) consuming from the test Redis."""
    from celery.contrib.testing import tasks  # noqa: F401 - registers celery.ping
    from celery.contrib.testing.worker import start_worker

    from sonportal.celery import app

    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=True) as worker:
        yield worker


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-")
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True, args=args
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


# Reports each Content-Security-Policy violation of a page to the test (tests/conftest.py's
# `page`); Playwright injects it, so the policy does not apply to it.
CSP_LISTENER = """
window.addEventListener("securitypolicyviolation", (e) => {
  window.reportCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
    + ` in ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    return []


@pytest.fixture
def page(browser, csp_violations):
    """A Chromium tab; the test fails on any Content-Security-Policy violation in it, seen as
    a securitypolicyviolation event or as the browser's console report, and on any complaint
    about the Permissions-Policy header."""
    page = browser.new_page()

    def on_console(message) -> None:
        # Chromium also reports a Permissions-Policy header it cannot parse here.
        if "Content Security Policy" in message.text or "Permissions-Policy" in message.text:
            csp_violations.append(message.text)

    page.expose_function("reportCspViolation", lambda text: csp_violations.append(text))
    page.add_init_script(CSP_LISTENER)
    page.on("console", on_console)
    yield page
    page.close()
    browser.clear_cookies()
    assert csp_violations == [], "Content-Security-Policy violations or Permissions-Policy errors"


@pytest.fixture
def mail_catcher(settings):
    """Mail over real SMTP to the stack's mail catcher, emptied first (pytest-django would
    otherwise keep mail in memory)."""
    from tests.mail import catcher

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    mail = catcher()
    mail.clear()
    return mail


@pytest.fixture
def ledger_checked(db):
    """For every money scenario: the ledger's invariants hold once the test is done."""
    yield
    from ledger.services import ledger_check

    assert ledger_check() == []


@pytest.fixture(scope="module")
def node_wallet():
    """A fresh bcoin node for the test module and a funded wallet on it (a module may mine,
    invalidate blocks or run out of coinbases without disturbing the others)."""
    from tests.bitcoin_node import start_bcoin
    from tests.sidechains.regtest_wallet import RegtestWallet

    with start_bcoin() as node:
        rpc = node.rpc()
        yield node, RegtestWallet.funded(rpc)
        rpc.close()


@pytest.fixture(scope="module")
def wallet(node_wallet):
    """A user's own wallet on the module's node, mined past segwit's activation."""
    return node_wallet[1]


@pytest.fixture
def chain(node_wallet, settings):
    """The portal pointed at the module's node, with short confirmation counts: a deposit is
    confirmed in 1 block, a withdrawal settled in 2. A module needing more overrides it."""
    from tests.bitcoin_node import RPC_USER

    node, wallet = node_wallet
    settings.BITCOIN_RPC_URL = node.url
    settings.BITCOIN_RPC_USER = RPC_USER
    settings.BITCOIN_RPC_PASSWORD = node.api_key
    settings.BITCOIN_CONFIRMATIONS = [(None, 1)]
    settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS = 2
    return wallet
