"""The epochs pages and API: published to anyone, each proof to its own user only, and an
epoch on demand for administrators (with a reason, audited)."""

import json

import pytest
from django.urls import reverse

from audit.models import AuditRecord
from proofs.verify import verify
from rates.assets import Asset
from solvency.epochs import epoch_create
from solvency.models import Epoch
from tests import fixtures
from tests.solvency.helpers import credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def epoch(user_carol):
    credit(user_carol, Asset.PBTC, 150_000)
    credit(fixtures.make_user("user_dave"), Asset.PHIVE, 3_000)
    return epoch_create()


def test_anyone_sees_the_published_epochs(client, epoch):
    page = client.get(reverse("solvency-epochs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert epoch.root in html
    assert "150000 pBTC" in html
    assert reverse("solvency-proof", args=[1]) not in html  # nothing to download anonymously
    detail = client.get(epoch.get_absolute_url()).content.decode()
    assert epoch.prev_root in detail and epoch.audit_head in detail
    assert client.get(reverse("solvency-epoch", args=[99])).status_code == 404


def test_a_user_downloads_their_own_proof_and_it_verifies(client, epoch, user_carol):
    client.force_login(user_carol)
    assert (
        reverse("solvency-proof", args=[1]) in client.get(reverse("account-home")).content.decode()
    )
    response = client.get(reverse("solvency-proof", args=[1]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="proof-epoch-1.json"'
    proven = verify(json.loads(response.content), epoch.root)
    assert (proven.account, proven.amounts["pBTC"]) == (f"user:{user_carol.pk}", 150_000)


def test_a_user_who_held_nothing_gets_a_clear_404(client, epoch):
    client.force_login(fixtures.make_user("user_erin"))
    response = client.get(reverse("solvency-proof", args=[1]))
    assert response.status_code == 404


def test_the_proof_download_needs_a_login(client, epoch):
    response = client.get(reverse("solvency-proof", args=[1]))
    assert response.status_code == 302
    assert client.get(reverse("api-epoch-proof", args=[1])).status_code == 403


def test_the_api_lists_epochs_and_gives_each_user_their_proof(client, epoch, user_carol):
    listed = client.get(reverse("api-epochs")).json()
    unanchored = {"anchor_txid": None, "anchor_height": None}
    assert listed == [json.loads(json.dumps(epoch.header())) | unanchored]
    assert "secret" not in listed[0]
    client.force_login(user_carol)
    proof = client.get(reverse("api-epoch-proof", args=[1])).json()
    assert verify(proof, epoch.root).account == f"user:{user_carol.pk}"
    assert client.get(reverse("api-epoch-proof", args=[2])).status_code == 404


def test_an_administrator_publishes_an_epoch_with_a_reason(client, admin_user, epoch):
    client.force_login(admin_user)
    page = client.get(reverse("solvency-epochs")).content.decode()
    assert 'data-testid="epoch-create"' in page
    response = client.post(reverse("solvency-epoch-create"), {"reason": "before the audit"})
    assert response.status_code == 302
    second = Epoch.objects.get(number=2)
    assert second.created_by == admin_user
    record = AuditRecord.objects.get(action="epoch.created", actor=admin_user)
    assert record.reason == "before the audit"


def test_an_epoch_without_a_reason_is_refused(client, admin_user, epoch):
    client.force_login(admin_user)
    response = client.post(reverse("solvency-epoch-create"), {"reason": "  "}, follow=True)
    assert "Give a reason" in response.content.decode()
    assert Epoch.objects.count() == 1


def test_a_user_sees_no_publish_form(client, user_carol, epoch):
    client.force_login(user_carol)
    assert (
        'data-testid="epoch-create"' not in client.get(reverse("solvency-epochs")).content.decode()
    )
    assert client.post(reverse("solvency-epoch-create"), {"reason": "x"}).status_code == 403
    assert Epoch.objects.count() == 1
