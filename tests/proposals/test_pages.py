"""The witness pages, for each kind of visitor: active witness, inactive witness,
administrator, other user, anonymous."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from proposals import services
from proposals.models import Proposal
from sons.models import SON
from tests import fixtures
from tests.proposals.helpers import make_down_son, make_witnesses, raise_deregistration

pytestmark = pytest.mark.django_db


@pytest.fixture
def witnesses():
    return make_witnesses(1, 1, 1)


@pytest.fixture
def proposal():
    son = make_down_son("son-1", silent_since=timezone.now() - timedelta(hours=13))
    son.statistics.filter(sidechain="bitcoin").update(txs_signed=42)
    return raise_deregistration(son, timezone.now())


def urls(proposal: Proposal) -> dict[str, str]:
    return {
        "home": reverse("proposals-home"),
        "detail": reverse("proposals-detail", args=[proposal.pk]),
        "approve": reverse("proposals-approve", args=[proposal.pk]),
        "revoke": reverse("proposals-revoke", args=[proposal.pk]),
    }


def test_the_inbox_shows_an_open_proposal_with_its_evidence_and_progress(
    client, witnesses, proposal
):
    client.force_login(witnesses[0].user)
    content = client.get(reverse("proposals-home")).content.decode()
    assert f'data-testid="proposal-{proposal.pk}"' in content
    assert "Deregister a SON: son-1" in content
    assert 'data-testid="evidence-last-heartbeat"' in content and "13 h ago" in content
    assert '<progress max="3" value="0"' in content
    assert "passes at 2 (more than half)" in content
    assert 'data-testid="approve"' in content


def test_the_detail_page_shows_statistics_status_history_and_events(client, witnesses, proposal):
    SON.objects.get(pk=proposal.son_id).status_changes.create(
        old_status="active",
        new_status="in_maintenance",
        reason="no heartbeat",
        created_at=timezone.now(),
    )
    client.force_login(witnesses[0].user)
    content = client.get(urls(proposal)["detail"]).content.decode()
    assert "<td>Bitcoin</td><td>42</td>" in content
    assert "Active → in maintenance (no heartbeat)" in content
    assert "Raised" in content and "son-1 silent since" in content
    assert 'data-testid="approve"' in content


def test_a_witness_approves_and_revokes_without_javascript(client, witnesses, proposal):
    client.force_login(witnesses[0].user)
    home = reverse("proposals-home")
    response = client.post(urls(proposal)["approve"], {"next": home})
    assert response.status_code == 302 and response["Location"] == home
    page = client.get(home).content.decode()
    assert f"You approved proposal #{proposal.pk}" in page
    assert 'data-testid="revoke"' in page and 'value="1"' in page
    response = client.post(urls(proposal)["revoke"], {"next": "https://evil.example/"})
    assert response["Location"] == urls(proposal)["detail"]  # an outside `next` is ignored
    assert not proposal.approvals.exists()


def test_a_witness_approves_with_htmx_and_gets_the_card_back(client, witnesses, proposal):
    client.force_login(witnesses[0].user)
    response = client.post(urls(proposal)["approve"], {"compact": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith("<article") and "<html" not in content
    assert 'data-testid="approved-weight">1</strong>' in content
    assert 'data-testid="revoke"' in content
    again = client.post(urls(proposal)["approve"], HTTP_HX_REQUEST="true").content.decode()
    assert "You have already approved this proposal." in again


def test_the_second_approval_executes_it_and_it_moves_to_the_history(client, witnesses, proposal):
    services.proposal_approve(proposal=proposal, witness=witnesses[0])
    client.force_login(witnesses[1].user)
    response = client.post(urls(proposal)["approve"], HTTP_HX_REQUEST="true")
    assert 'data-testid="proposal-status">Executed</span>' in response.content.decode()
    home = client.get(reverse("proposals-home")).content.decode()
    assert 'data-testid="inbox-empty"' in home
    assert f'data-testid="history-{proposal.pk}"' in home
    assert "SON son-1 deregistered" in home
    assert "Approved by witness_alice" in home and "Passed: approved weight 2 of 3" in home


@pytest.mark.parametrize("action", ["approve", "revoke"])
def test_an_inactive_witness_reads_but_cannot_vote(client, witnesses, proposal, action):
    inactive = fixtures.make_witness("witness_erin", active=False)
    client.force_login(inactive.user)
    page = client.get(reverse("proposals-home")).content.decode()
    assert f'data-testid="proposal-{proposal.pk}"' in page
    assert 'data-testid="approve"' not in page
    assert "You can read proposals but not approve them." in page
    response = client.post(urls(proposal)[action])
    assert response.status_code == 403
    assert "Only active witnesses can approve or revoke proposals." in response.content.decode()


def test_an_administrator_reads_but_cannot_vote(client, witnesses, proposal, admin_user):
    client.force_login(admin_user)
    assert client.get(urls(proposal)["detail"]).status_code == 200
    assert 'data-testid="approve"' not in client.get(urls(proposal)["home"]).content.decode()
    response = client.post(urls(proposal)["approve"])
    assert response.status_code == 403
    assert not proposal.approvals.exists()


def test_other_users_get_a_clear_403(client, witnesses, proposal, user_carol):
    client.force_login(user_carol)
    for name in ("home", "detail", "approve", "revoke"):
        url = urls(proposal)[name]
        response = client.post(url) if name in ("approve", "revoke") else client.get(url)
        assert response.status_code == 403
        assert "Only witnesses and administrators see proposals." in response.content.decode()
    assert not proposal.approvals.exists()


def test_anonymous_visitors_log_in_first(client, proposal):
    for name in ("home", "detail"):
        response = client.get(urls(proposal)[name])
        assert response.status_code == 302 and response["Location"].startswith(
            reverse("account_login")
        )
    assert client.post(urls(proposal)["approve"]).status_code == 302
    assert not proposal.approvals.exists()


def test_a_missing_proposal_is_404_and_approving_needs_post(client, witnesses, proposal):
    client.force_login(witnesses[0].user)
    assert client.get(reverse("proposals-detail", args=[proposal.pk + 100])).status_code == 404
    assert client.get(urls(proposal)["approve"]).status_code == 405


def test_the_inbox_refreshes_as_a_fragment(client, witnesses, proposal):
    client.force_login(witnesses[0].user)
    response = client.get(reverse("proposals-home"), HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="inbox"') and "<html" not in content


def test_the_admin_lists_proposals_read_only(client, admin_user, proposal):
    client.force_login(admin_user)
    changelist = client.get(reverse("admin:proposals_proposal_changelist"))
    assert changelist.status_code == 200 and b"son-1" in changelist.content
    change = client.get(reverse("admin:proposals_proposal_change", args=[proposal.pk]))
    assert change.status_code == 200
    assert client.get(reverse("admin:proposals_proposal_add")).status_code == 403
