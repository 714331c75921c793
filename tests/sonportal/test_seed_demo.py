import json
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditRecord
from proposals.models import Witness
from sonportal.roles import is_administrator
from sons.models import SON
from tests import fixtures

pytestmark = pytest.mark.django_db


def son_spec(tmp_path, name: str, n: int) -> dict:
    return {
        "name": name,
        "bitcoin": f"02{n:064x}",
        "hive": f"STM{n}",
        "token_file": str(tmp_path / name / "token"),
    }


def test_it_seeds_every_role_with_working_logins_and_tokens(tmp_path, capsys, client):
    fixtures.administrators_group()
    specs = [son_spec(tmp_path, f"son-{i}", i) for i in (1, 2, 3)]
    sons = tmp_path / "sons.json"
    sons.write_text(json.dumps(specs))
    call_command("seed_demo", "--sons", str(sons))
    out = capsys.readouterr().out
    assert Witness.objects.active().count() == 3
    assert SON.objects.active().count() == 3
    assert SON.objects.get(name="son-2").public_key("bitcoin") == f"02{2:064x}"
    # Each printed password logs in; each token file authenticates its SON and is private.
    rows = [line.split() for line in out.splitlines()[1:]]
    assert len(rows) == 1 + 3 + 3 + 2
    username, password = rows[-1][-2:]  # a user: no second factor to enrol first
    login = client.post(reverse("account_login"), {"login": username, "password": password})
    assert login["Location"] == reverse("home")
    for spec in specs:
        token_file = tmp_path / spec["name"] / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token_file.read_text()}")
        assert api.get(reverse("api-son-me")).json()["name"] == spec["name"]


def test_it_is_safe_to_run_again(tmp_path, capsys):
    fixtures.administrators_group()
    sons = tmp_path / "sons.json"
    sons.write_text(json.dumps([son_spec(tmp_path, "son-1", 1)]))
    call_command("seed_demo", "--sons", str(sons))
    call_command("seed_demo", "--sons", str(sons))
    assert SON.objects.count() == 1
    assert Witness.objects.count() == 3


def test_it_refuses_an_unreadable_sons_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("seed_demo", "--sons", str(tmp_path / "missing.json"))
    assert SON.objects.count() == 0


def test_the_demo_administrator_is_a_group_member_not_a_superuser(tmp_path, capsys):
    fixtures.administrators_group()  # as migrated (a transactional test may have flushed it)
    sons = tmp_path / "sons.json"
    sons.write_text(json.dumps([son_spec(tmp_path, "son-1", 1)]))
    call_command("seed_demo", "--sons", str(sons))
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and not admin.is_superuser
    assert is_administrator(admin)
    assert admin.has_perm("sons.issue_son_token")
    record = AuditRecord.objects.filter(action="son.token_issued").get()
    assert (record.reason, record.details["via"]) == ("demo seed", "demo")
