"""Every admin action and custom admin URL needs a specific permission; is_staff grants none.

ACTIONS and ADMIN_URLS list each one with the permission it needs. They are checked against
the admin's registry, so an action or admin URL added anywhere fails these tests until it is
listed here (and, by the tests below, refused to those without its permission).
"""

from dataclasses import dataclass

import pytest
from allauth.account.models import EmailAddress
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from audit.models import AuditRecord
from sidechains.bitcoin.listener import rescan_start
from sidechains.bitcoin.withdrawals.requests import withdrawal_hold, withdrawal_request
from sidechains.models import (
    Alert,
    ChainCursor,
    CircuitBreaker,
    HiveDeposit,
    RescanJob,
    SidechainTransaction,
    Withdrawal,
)
from sons.models import SON
from tests import fixtures
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit

pytestmark = pytest.mark.django_db

BEAT_CHANGE = "django_celery_beat.change_periodictask"
# (app label, model, action name): the permission the action needs. Django's delete_selected
# is not listed: it needs the model's delete permission, which no administrator has.
ACTIONS = {
    ("sons", "son", "issue_token"): "sons.issue_son_token",
    ("sidechains", "withdrawal", "fail_and_return"): "sidechains.resolve_withdrawal",
    ("sidechains", "alert", "mark_resolved"): "sidechains.change_alert",
    ("sidechains", "chaincursor", "rescan"): "sidechains.add_rescanjob",
    ("sidechains", "circuitbreaker", "resume"): "sidechains.resume_circuitbreaker",
    ("sidechains", "sidechaintransaction", "abandon"): "sidechains.abandon_sidechaintransaction",
    ("sidechains", "hivedeposit", "credit_to_user"): "sidechains.review_hivedeposit",
    ("sidechains", "hivedeposit", "refund_to_sender"): "sidechains.review_hivedeposit",
    ("django_celery_beat", "periodictask", "enable_tasks"): BEAT_CHANGE,
    ("django_celery_beat", "periodictask", "disable_tasks"): BEAT_CHANGE,
    ("django_celery_beat", "periodictask", "toggle_tasks"): BEAT_CHANGE,
    ("django_celery_beat", "periodictask", "run_tasks"): BEAT_CHANGE,
    ("account", "emailaddress", "make_verified"): "account.change_emailaddress",
}
# Admin URL name (beyond changelist, add, change, delete, history): (permission, its object).
ADMIN_URLS = {
    "sidechains_chaincursor_rescan": ("sidechains.add_rescanjob", "cursor"),
    "sidechains_rescanjob_progress": ("sidechains.view_rescanjob", "job"),
    "sidechains_hivedeposit_credit": ("sidechains.review_hivedeposit", "hive_deposit"),
    "auth_user_password_change": ("auth.change_user", "user"),
}
STANDARD_URLS = ("changelist", "add", "history", "delete", "change")


@dataclass
class World:
    """One object for every action and custom admin URL to work on."""

    son: SON
    withdrawal: Withdrawal
    alert: Alert
    cursor: ChainCursor
    job: RescanJob
    task: PeriodicTask
    user: object
    breaker: CircuitBreaker
    hive_deposit: HiveDeposit
    email: EmailAddress
    stranded: SidechainTransaction

    def target(self, model_name: str):
        return {
            "son": self.son,
            "withdrawal": self.withdrawal,
            "alert": self.alert,
            "chaincursor": self.cursor,
            "periodictask": self.task,
            "circuitbreaker": self.breaker,
            "hivedeposit": self.hive_deposit,
            "emailaddress": self.email,
            "sidechaintransaction": self.stranded,
        }[model_name]

    def state(self) -> dict:
        """Everything the actions change."""
        return {
            "token": SON.objects.get(pk=self.son.pk).token_hash,
            "withdrawal": Withdrawal.objects.get(pk=self.withdrawal.pk).status,
            "alert": Alert.objects.get(pk=self.alert.pk).resolved_at,
            "rescans": RescanJob.objects.count(),
            "task": PeriodicTask.objects.filter(pk=self.task.pk).values().get(),
            "audit": AuditRecord.objects.count(),
            "breaker": CircuitBreaker.objects.get(pk=self.breaker.pk).tripped,
            "hive_deposit": HiveDeposit.objects.get(pk=self.hive_deposit.pk).status,
            "email": EmailAddress.objects.get(pk=self.email.pk).verified,
            "stranded": SidechainTransaction.objects.get(pk=self.stranded.pk).status,
        }


@pytest.fixture
def world(user_carol, settings) -> World:
    settings.BITCOIN_RPC_URL = "http://127.0.0.1:9/"  # nothing answers: no chain work here
    son = fixtures.make_son("son-1")[0]
    fixtures.make_son("son-2")
    fixtures.make_son("son-3")
    set_btc_rate("1")
    make_bitcoin_mapping(user_carol)
    credit(user_carol, 100_000)
    withdrawal = withdrawal_request(user=user_carol, amount_pegged=50_000, request_id="w1")
    cursor = ChainCursor.objects.create(chain="bitcoin", height=10, recent=[[10, "00" * 32]])
    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    return World(
        son=son,
        withdrawal=withdrawal,
        alert=Alert.objects.create(kind=Alert.Kind.DEEP_REORG, message="fork below the kept"),
        cursor=cursor,
        job=rescan_start(chain="bitcoin", from_height=5),
        task=PeriodicTask.objects.create(name="t", task="sonportal.tasks.ping", interval=every),
        user=user_carol,
        breaker=CircuitBreaker.objects.create(chain="bitcoin", tripped=True, reason="short"),
        hive_deposit=HiveDeposit.objects.create(
            trx_id="ab" * 20,
            op_index=0,
            block_num=5,
            block_time=timezone.now(),
            sender="someone",
            asset="HIVE",
            amount=1000,
            memo="#encrypted",
            hold=HiveDeposit.Hold.ENCRYPTED_MEMO,
            status=HiveDeposit.Status.HELD,
            detected_at=timezone.now(),
        ),
        email=EmailAddress.objects.create(user=user_carol, email="new@example.org"),
        stranded=SidechainTransaction.objects.create(  # a rotation sweep refusals stranded
            kind=SidechainTransaction.Kind.ROTATION_SWEEP,
            unsigned_tx=b"\x02",
            txid="cd" * 32,
            fee=200,
            vsize=200,
            feerate=1,
        ),
    )


@pytest.fixture
def bare_staff(db):
    """Staff and nothing else: the admin's door is open, no permission behind it."""
    user = fixtures.User.objects.create_user("bare_staff", is_staff=True)
    fixtures.enrol_totp(user)
    return user


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _model_admins():
    return list(admin.site._registry.values())


def _changelist(app_label: str, model: str) -> str:
    return reverse(f"admin:{app_label}_{model}_changelist")


def _post_action(client, key: tuple[str, str, str], world: World, reason: str | None):
    app_label, model, action = key
    data = {"action": action, "_selected_action": [world.target(model).pk]}
    if reason is not None:
        data |= {"confirm_with_reason": "yes", "reason": reason}
    return client.post(_changelist(app_label, model), data)


def test_every_admin_action_is_listed_with_its_permission():
    found = {
        (ma.model._meta.app_label, ma.model._meta.model_name, name)
        for ma in _model_admins()
        for _, name, _ in ma._get_base_actions()
        if name != "delete_selected"
    }
    assert found == set(ACTIONS)


@pytest.mark.parametrize("key", ACTIONS, ids="/".join)
def test_an_action_is_offered_with_its_permission_and_not_without(key, view_only_staff):
    app_label, model, action = key
    model_admin = next(ma for ma in _model_admins() if ma.model._meta.model_name == model)
    assert action not in model_admin.get_actions(_request(view_only_staff))
    codename = ACTIONS[key].split(".")[1]
    view_only_staff.user_permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    granted = fixtures.User.objects.get(pk=view_only_staff.pk)  # a fresh permission cache
    assert action in model_admin.get_actions(_request(granted))


@pytest.mark.parametrize("persona", ["view_only_staff", "bare_staff"])
def test_staff_without_permissions_are_offered_no_action_at_all(request, persona):
    user = request.getfixturevalue(persona)
    offered = {
        ma.model._meta.label: list(ma.get_actions(_request(user)))
        for ma in _model_admins()
        if ma.get_actions(_request(user))
    }
    assert offered == {}


@pytest.mark.parametrize("key", ACTIONS, ids="/".join)
def test_a_view_only_staff_user_posting_an_action_anyway_changes_nothing(
    key, world, view_only_staff, client
):
    client.force_login(view_only_staff)
    before = world.state()

    for reason in (None, "because I can"):  # the first step, and the confirmed second step
        response = _post_action(client, key, world, reason)
        # No action is offered, so Django shows the change list again.
        assert response.status_code == 200
        assert response.context["cl"].model is type(world.target(key[1]))
        assert "reason-form" not in response.content.decode()

    assert world.state() == before


@pytest.mark.parametrize(
    ("key", "changed"),
    [
        (("sons", "son", "issue_token"), "token"),
        (("sidechains", "withdrawal", "fail_and_return"), "withdrawal"),
        (("sidechains", "alert", "mark_resolved"), "alert"),
        (("sidechains", "circuitbreaker", "resume"), "breaker"),
        (("sidechains", "sidechaintransaction", "abandon"), "stranded"),
    ],
    ids=["issue_token", "fail_and_return", "mark_resolved", "resume", "abandon"],
)
def test_an_administrator_gives_a_reason_and_the_change_is_audited(
    key, changed, world, admin_user, client
):
    client.force_login(admin_user)
    before = world.state()

    asked = _post_action(client, key, world, None)
    empty = _post_action(client, key, world, "   ")

    for page in (asked, empty):
        assert page.status_code == 200
        assert 'data-testid="reason-form"' in page.content.decode()
    assert "This field is required." in empty.content.decode()
    assert world.state() == before

    done = _post_action(client, key, world, "the operator's machine was compromised")

    assert done.status_code in (200, 302)
    after = world.state()
    assert after[changed] != before[changed]
    assert after["audit"] == before["audit"] + 1
    record = AuditRecord.objects.first()
    assert (record.actor, record.reason) == (admin_user, "the operator's machine was compromised")
    assert record.target == f"{key[1]}:{world.target(key[1]).pk}"


def test_an_administrators_rescan_action_leads_to_the_rescan_form(world, admin_user, client):
    client.force_login(admin_user)
    response = _post_action(client, ("sidechains", "chaincursor", "rescan"), world, None)
    assert response["Location"] == reverse(
        "admin:sidechains_chaincursor_rescan", args=[world.cursor.pk]
    )


@pytest.mark.parametrize("key", [k for k in ACTIONS if ACTIONS[k] == BEAT_CHANGE], ids="/".join)
def test_administrators_do_not_run_or_stop_beats_tasks(key, world, admin_user, client):
    client.force_login(admin_user)
    before = world.state()
    response = _post_action(client, key, world, "routine")
    assert response.context["cl"].model is PeriodicTask  # offered nothing: the list again
    assert world.state() == before


def test_every_custom_admin_url_is_listed_with_its_permission():
    found = set()
    for ma in _model_admins():
        prefix = f"{ma.model._meta.app_label}_{ma.model._meta.model_name}_"
        names = {pattern.name for pattern in ma.get_urls() if pattern.name}
        found |= names - {prefix + standard for standard in STANDARD_URLS}
    assert found == set(ADMIN_URLS)


@pytest.mark.parametrize("name", ADMIN_URLS)
@pytest.mark.parametrize("persona", ["bare_staff", "view_only_staff", "admin_user"])
def test_a_custom_admin_url_answers_only_with_its_permission(request, name, persona, world, client):
    permission, target = ADMIN_URLS[name]
    user = request.getfixturevalue(persona)
    client.force_login(user)
    before = world.state()

    url = reverse(f"admin:{name}", args=[getattr(world, target).pk])
    get = client.get(url)
    post = client.post(url, {"from_height": 1, "reason": "r", "password1": "x", "password2": "x"})

    if user.has_perm(permission):
        assert get.status_code == 200
    else:
        assert (get.status_code, post.status_code) == (403, 403)
        assert world.state() == before


def test_the_administrators_group_holds_exactly_what_administrators_need():
    group = fixtures.administrators_group()
    held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}

    changes = {p for p in held if not p.split(".")[1].startswith("view_")}
    assert changes == {
        "rates.add_exchangerate",
        "sons.issue_son_token",
        "sidechains.resolve_withdrawal",
        "sidechains.review_hivedeposit",
        "sidechains.add_rescanjob",
        "sidechains.change_alert",
        "sidechains.resume_circuitbreaker",
        "sidechains.abandon_sidechaintransaction",
        "sons.add_son",
        "sons.change_son",
        "sons.add_sonpublickey",
        "sons.change_sonpublickey",
        "proposals.add_witness",
        "proposals.change_witness",
        "solvency.create_epoch",
    }
    # They see everything the admin shows (inlines included), users and groups read-only.
    shown = {ma.model for ma in _model_admins()}
    shown |= {inline.model for ma in _model_admins() for inline in ma.inlines}
    assert {f"{m._meta.app_label}.view_{m._meta.model_name}" for m in shown} <= held


def test_an_administrator_is_a_group_member_not_merely_staff(admin_user, view_only_staff):
    assert not admin_user.is_superuser
    assert admin_user.has_perm("sons.issue_son_token")
    assert not view_only_staff.has_perm("sons.issue_son_token")
    assert not admin_user.has_perm("auth.change_user")  # cannot make themself a superuser


def test_handing_a_son_to_someone_needs_the_permission_to_issue_its_token(
    world, view_only_staff, admin_user, client
):
    """Its owner can issue the SON's token on the SON's page, so changing the owner is as much."""
    son = world.son
    change = Permission.objects.get(content_type__app_label="sons", codename="change_son")
    view_only_staff.user_permissions.add(change)
    url = reverse("admin:sons_son_change", args=[son.pk])
    form = {"name": son.name, "status": son.status, "owner": view_only_staff.pk}
    inlines = {
        f"{prefix}-{key}": value
        for prefix in ("public_keys", "statistics", "status_changes")
        for key, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0))
    }

    client.force_login(view_only_staff)
    client.post(url, {**form, **inlines})
    son.refresh_from_db()
    assert son.owner != view_only_staff

    client.force_login(admin_user)
    assert "owner" in client.get(url).context["adminform"].form.fields


def test_an_administrator_fails_a_held_withdrawal_with_a_reason(world, admin_user, client):
    withdrawal_hold(withdrawal=world.withdrawal, reason="the address is a federation script")
    client.force_login(admin_user)

    _post_action(client, ("sidechains", "withdrawal", "fail_and_return"), world, "paid elsewhere")

    world.withdrawal.refresh_from_db()
    assert world.withdrawal.status == Withdrawal.Status.FAILED
    record = AuditRecord.objects.get(action="withdrawal.failed")
    assert (record.actor, record.reason) == (admin_user, "paid elsewhere")


# --- Every admin page x every persona ----------------------------------------------------------

ADMIN_PERSONAS = ["anonymous", "user", "witness", "operator", "bare_staff", "viewer", "admin"]


@pytest.fixture
def admin_cast(db, user_carol, view_only_staff, admin_user, bare_staff):
    son, _ = fixtures.make_son("son-1")
    return {
        "anonymous": None,
        "user": user_carol,
        "witness": fixtures.make_witness("witness_alice").user,
        "operator": son.owner,
        "bare_staff": bare_staff,
        "viewer": view_only_staff,
        "admin": admin_user,
    }


@pytest.mark.parametrize("persona", ADMIN_PERSONAS)
def test_every_admin_page_answers_every_persona_as_its_permissions_say(admin_cast, persona, client):
    """Each registered model's changelist and add page, read (GET) and written (POST): people
    who are not staff go to the admin's login; staff see a list only with its view or change
    permission and an add page only with its add permission; a refused POST saves nothing."""
    user = admin_cast[persona]
    if user is not None:
        client.force_login(user)
    login = reverse("admin:login")
    for model_admin in _model_admins():
        meta = model_admin.model._meta
        lists, adds = _changelist(meta.app_label, meta.model_name), _add(meta)
        rows = model_admin.model._default_manager.count()
        for url, allowed in (
            (lists, user is not None and model_admin.has_view_or_change_permission(_request(user))),
            (adds, user is not None and model_admin.has_add_permission(_request(user))),
        ):
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                why = (persona, url, method, response.status_code)
                if user is None or not user.is_staff:
                    assert response.status_code == 302, why
                    assert response["Location"].startswith(login), why
                elif allowed:
                    assert response.status_code in (200, 302), why
                else:
                    assert response.status_code == 403, why
        if not (user is not None and model_admin.has_add_permission(_request(user))):
            assert model_admin.model._default_manager.count() == rows, (persona, adds)


def _add(meta) -> str:
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_add")


# --- Every admin action x all eight personas ---------------------------------------------------

EIGHT_PERSONAS = [
    "anonymous",
    "user",
    "another_user",
    "witness",
    "operator",
    "another_operator",
    "viewer",
    "admin",
]
# The actions each persona may run; everyone else is refused and nothing changes. Beat's task
# actions and verifying an email address are the superuser's (no group holds them).
ADMINISTRATOR_ACTIONS = {key for key, permission in ACTIONS.items() if permission != BEAT_CHANGE}
ADMINISTRATOR_ACTIONS -= {("account", "emailaddress", "make_verified")}
EXPECTED_ACTIONS = {persona: set() for persona in EIGHT_PERSONAS} | {"admin": ADMINISTRATOR_ACTIONS}
# What a confirmed action changes, where the world shows it.
CHANGES = {
    ("sons", "son", "issue_token"): "token",
    ("sidechains", "withdrawal", "fail_and_return"): "withdrawal",
    ("sidechains", "alert", "mark_resolved"): "alert",
    ("sidechains", "circuitbreaker", "resume"): "breaker",
    ("sidechains", "hivedeposit", "refund_to_sender"): "hive_deposit",
    ("sidechains", "sidechaintransaction", "abandon"): "stranded",
}


def _eight(world, admin_user, view_only_staff) -> dict:
    witness = fixtures.make_witness("witness_alice").user
    return {
        "anonymous": None,
        "user": world.user,
        "another_user": fixtures.make_user("user_dave"),
        "witness": witness,
        "operator": world.son.owner,
        "another_operator": SON.objects.get(name="son-2").owner,
        "viewer": view_only_staff,
        "admin": admin_user,
    }


def _outcome(response) -> str:
    """accepted (the action's next step, or done), refused (the list again), or login."""
    if response.status_code == 302 and response["Location"].startswith(reverse("admin:login")):
        return "login"
    listed = response.status_code == 200 and "cl" in (response.context or {})
    if listed and 'data-testid="reason-form"' not in response.content.decode():
        return "refused"
    return "accepted"


@pytest.mark.parametrize("persona", EIGHT_PERSONAS)
def test_every_admin_action_answers_all_eight_personas_as_expected(
    persona, world, admin_user, view_only_staff, client
):
    user = _eight(world, admin_user, view_only_staff)[persona]
    if user is not None:
        client.force_login(user)
    expected = EXPECTED_ACTIONS[persona]
    assert {k for k in ACTIONS if user is not None and user.has_perm(ACTIONS[k])} == expected
    for key in ACTIONS:
        before = world.state()
        first = _outcome(_post_action(client, key, world, None))
        confirmed = _outcome(_post_action(client, key, world, "on call: checked with the SONs"))
        why = (persona, key, first, confirmed)
        if key in expected:
            assert (first, confirmed) == ("accepted", "accepted"), why
            if key in CHANGES:
                assert world.state()[CHANGES[key]] != before[CHANGES[key]], why
        else:
            refused = "refused" if user is not None and user.is_staff else "login"
            assert (first, confirmed) == (refused, refused), why
            assert world.state() == before, why
