import pytest
from django.core.exceptions import ImproperlyConfigured

from sonportal.env import env_bool, env_choice, env_int, env_rate, env_secret


def test_it_refuses_a_missing_secret(monkeypatch):
    monkeypatch.delenv("SOME_SECRET", raising=False)
    monkeypatch.delenv("SOME_SECRET_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="Set SOME_SECRET or SOME_SECRET_FILE"):
        env_secret("SOME_SECRET")


def test_it_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    monkeypatch.setenv("SOME_SECRET_FILE", str(path))
    assert env_secret("SOME_SECRET") == "s3cret"


def test_it_refuses_a_secret_set_twice(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_SECRET", "a")
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "x"))
    with pytest.raises(ImproperlyConfigured, match="only one"):
        env_secret("SOME_SECRET")


def test_it_names_an_unreadable_secret_file(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_secret("SOME_SECRET")


@pytest.mark.parametrize("raw", ["ten", "1.5", ""])
def test_it_refuses_a_bad_integer(monkeypatch, raw):
    monkeypatch.setenv("SOME_INT", raw)
    if raw == "":
        with pytest.raises(ImproperlyConfigured, match="Set the environment variable SOME_INT"):
            env_int("SOME_INT")
    else:
        with pytest.raises(ImproperlyConfigured, match="must be an integer"):
            env_int("SOME_INT")


def test_it_enforces_minimums_and_choices(monkeypatch):
    monkeypatch.setenv("SOME_INT", "0")
    monkeypatch.setenv("SOME_CHOICE", "signet")
    monkeypatch.setenv("SOME_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("SOME_INT", minimum=1)
    with pytest.raises(ImproperlyConfigured, match="one of mainnet, regtest"):
        env_choice("SOME_CHOICE", ("mainnet", "regtest"))
    with pytest.raises(ImproperlyConfigured, match="true or false"):
        env_bool("SOME_BOOL")


@pytest.mark.parametrize("raw", ["60/minute", "1/second", "100000/day"])
def test_it_reads_a_rate(monkeypatch, raw):
    monkeypatch.setenv("SOME_RATE", raw)
    assert env_rate("SOME_RATE", "1/hour") == raw


@pytest.mark.parametrize("raw", ["60/fortnight", "0/minute", "-1/minute", "60", "1e3/minute"])
def test_it_refuses_a_bad_rate(monkeypatch, raw):
    monkeypatch.setenv("SOME_RATE", raw)
    with pytest.raises(ImproperlyConfigured, match="SOME_RATE must look like 60/minute"):
        env_rate("SOME_RATE", "1/hour")


def test_it_refuses_a_short_secret_but_not_an_unset_one(monkeypatch):
    monkeypatch.delenv("SOME_SECRET_FILE", raising=False)
    monkeypatch.setenv("SOME_SECRET", "x" * 31)
    with pytest.raises(ImproperlyConfigured, match="at least 32 characters"):
        env_secret("SOME_SECRET", required=False, min_length=32)
    monkeypatch.setenv("SOME_SECRET", "x" * 32)
    assert env_secret("SOME_SECRET", required=False, min_length=32) == "x" * 32
    monkeypatch.delenv("SOME_SECRET")
    assert env_secret("SOME_SECRET", required=False, min_length=32) == ""
