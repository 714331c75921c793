"""The real CLI, run as `python -m signer` in a subprocess."""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from signer.keystore import generate, load, save
from tests.signer.conftest import last_heartbeat

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
HEX64 = re.compile(r"[0-9a-fA-F]{64}")
WIF = re.compile(r"\b[5KL][1-9A-HJ-NP-Za-km-z]{50,51}\b")
TOKEN = "tok-3f9a1c7e5b2d4f60a8e1"  # for runs that stop before they reach a portal


def run_signer(*args, env=None, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "signer", *map(str, args)],
        cwd=ROOT,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(extra):
    """The signer is a separate trust domain: none of the portal's settings (DATABASE_*,
    SECRET_KEY*, REDIS_URL, ...) reach it; it gets PATH and what the test passes."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra or {}),
    }


def with_passphrase(passphrase=PASSPHRASE, **extra):
    return {"SIGNER_PASSPHRASE": passphrase, **extra}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One key file made by `keygen` (the real scrypt cost), and what keygen printed."""
    path = tmp_path_factory.mktemp("keygen") / "son.key"
    result = run_signer("keygen", "--out", path, env=with_passphrase())
    assert result.returncode == 0, result.stderr
    return path, result


@pytest.fixture
def key_copy(generated, tmp_path):
    path = tmp_path / "son.key"
    shutil.copy(generated[0], path)
    return path


def test_it_writes_a_key_file_readable_only_by_its_owner(generated):
    path = generated[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["kdf"]["n"] == 2**15


def test_it_prints_only_the_public_keys_as_one_json_line(generated):
    result = generated[1]
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    public = json.loads(lines[0])
    assert set(public) == {"bitcoin", "hive"}
    assert re.fullmatch(r"0[23][0-9a-f]{64}", public["bitcoin"])
    assert public["hive"].startswith("STM")
    assert not HEX64.search(result.stdout.replace(public["bitcoin"], ""))
    assert not WIF.search(result.stdout)


def test_it_never_writes_the_private_keys_in_clear(generated):
    path, result = generated
    keys = load(path, PASSPHRASE)
    content = path.read_bytes()
    assert keys.public() == json.loads(result.stdout)
    for key in (keys.bitcoin, keys.hive):
        assert key.secret.hex().encode() not in content
        assert key.secret not in content
        assert key.secret.hex() not in result.stdout + result.stderr


def test_it_prints_the_same_public_keys_from_the_file(generated):
    path, keygen = generated
    result = run_signer("pubkeys", "--key", path, env=with_passphrase())
    assert result.returncode == 0, result.stderr
    assert result.stdout == keygen.stdout


def test_it_reads_the_passphrase_from_a_file(generated, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    result = run_signer("pubkeys", "--key", generated[0], env={"SIGNER_PASSPHRASE_FILE": secret})
    assert result.returncode == 0, result.stderr
    assert result.stdout == generated[1].stdout


def _assert_clean_failure(result, message):
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_it_rejects_a_wrong_passphrase_with_exit_code_2(generated):
    result = run_signer("pubkeys", "--key", generated[0], env=with_passphrase("wrong"))
    _assert_clean_failure(result, "wrong passphrase")


def test_it_rejects_a_tampered_ciphertext(key_copy):
    document = json.loads(key_copy.read_text())
    ciphertext = bytearray.fromhex(document["ciphertext"])
    ciphertext[0] ^= 0x01
    document["ciphertext"] = ciphertext.hex()
    key_copy.write_text(json.dumps(document))
    result = run_signer("pubkeys", "--key", key_copy, env=with_passphrase())
    _assert_clean_failure(result, "modified")


def test_it_refuses_a_world_readable_key_file(key_copy):
    key_copy.chmod(0o644)
    result = run_signer("pubkeys", "--key", key_copy, env=with_passphrase())
    _assert_clean_failure(result, "chmod 600")


def test_it_refuses_to_overwrite_without_the_flag(key_copy):
    before = key_copy.read_bytes()
    result = run_signer("keygen", "--out", key_copy, env=with_passphrase())
    _assert_clean_failure(result, "refusing to overwrite")
    assert key_copy.read_bytes() == before

    result = run_signer("keygen", "--out", key_copy, "--overwrite", env=with_passphrase())
    assert result.returncode == 0, result.stderr
    assert load(key_copy, PASSPHRASE).public() == json.loads(result.stdout)


def test_it_fails_clearly_without_a_passphrase(tmp_path):
    result = run_signer("keygen", "--out", tmp_path / "son.key")
    _assert_clean_failure(result, "SIGNER_PASSPHRASE")
    assert not (tmp_path / "son.key").exists()


@pytest.fixture
def fast_key_file(tmp_path, keys):
    """A key file of `keys`, the key pair the `portal` fixture registers for its SON."""
    path = tmp_path / "son.key"
    save(path, keys, PASSPHRASE, n=2**10)
    return path


def test_it_fails_clearly_without_a_token(fast_key_file, closed_port_url):
    result = run_signer(
        "serve", "--key", fast_key_file, "--portal-url", closed_port_url, env=with_passphrase()
    )
    _assert_clean_failure(result, "SIGNER_TOKEN")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--portal-url", "ftp://portal"], "--portal-url"),
        (["--portal-url", "http://user:pw@portal"], "credentials"),
        (["--portal-url", "http://127.0.0.1:1", "--heartbeat-every", "0"], "positive"),
        (["--portal-url", "http://127.0.0.1:1", "--poll-every", "soon"], "not a number"),
        ([], "--portal-url"),
    ],
)
def test_it_rejects_bad_serve_arguments_with_exit_code_2(fast_key_file, args, message):
    result = run_signer(
        "serve", "--key", fast_key_file, *args, env=with_passphrase(SIGNER_TOKEN=TOKEN)
    )
    _assert_clean_failure(result, message)


def _signer_config(keys, tmp_path, **changes):
    """A configuration file for `keys` in a federation of three; its journal beside it."""
    others = [generate().public()["bitcoin"] for _ in range(2)]
    document = {
        "network": "regtest",
        "federation_keys": [keys.public()["bitcoin"], *others],
        "deposit_timelock": 144,
        "max_feerate": 50,
        "max_fee": 1_000_000,
        "daily_cap": 10**9,
        "journal": "journal.sqlite",
        **changes,
    }
    document = {key: value for key, value in document.items() if value is not None}
    path = tmp_path / "signer.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda path: None, "cannot read the configuration file"),
        (lambda path: path.write_text("{not json"), "is not JSON"),
        (lambda path: path.write_text("[]"), "expected a JSON object"),
        (lambda path: path.write_text('{"network": "regtest"}'), "missing field(s):"),
    ],
)
def test_it_rejects_a_missing_or_invalid_config_file(fast_key_file, tmp_path, write, message):
    path = tmp_path / "signer.json"
    write(path)
    args = ["serve", "--key", fast_key_file, "--config", path, "--portal-url", "http://127.0.0.1:1"]
    result = run_signer(*args, env=with_passphrase(SIGNER_TOKEN=TOKEN))
    _assert_clean_failure(result, message)
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"federation_keys": None}, "missing field(s): federation_keys"),
        ({"max_fee": "1000"}, "max_fee must be an integer"),
        ({"max_fee": True}, "max_fee must be an integer"),
        ({"maxfee": 1000}, "unknown field(s): maxfee"),
        ({"federation_keys": ["zz"]}, "a federation key is not hex"),
        ({"network": "bitcoin"}, "network must be one of"),
        ({"deposit_timelock": 0}, "the deposit timelock must be"),
        ({"journal": "missing-folder/journal.sqlite"}, "cannot open the journal"),
    ],
)
def test_it_rejects_a_config_the_policy_refuses(fast_key_file, keys, tmp_path, changes, message):
    path = _signer_config(keys, tmp_path, **changes)
    args = ["serve", "--key", fast_key_file, "--config", path, "--portal-url", "http://127.0.0.1:1"]
    result = run_signer(*args, env=with_passphrase(SIGNER_TOKEN=TOKEN))
    _assert_clean_failure(result, message)


def test_it_refuses_a_config_whose_federation_lacks_its_own_key(fast_key_file, keys, tmp_path):
    strangers = [generate().public()["bitcoin"] for _ in range(3)]
    path = _signer_config(keys, tmp_path, federation_keys=strangers)
    args = ["serve", "--key", fast_key_file, "--config", path, "--portal-url", "http://127.0.0.1:1"]
    result = run_signer(*args, env=with_passphrase(SIGNER_TOKEN=TOKEN))
    _assert_clean_failure(result, "own key is not one of the federation keys")


def test_it_serves_with_a_config_and_opens_its_journal(fast_key_file, keys, portal, tmp_path):
    path = _signer_config(keys, tmp_path)
    args = ["serve", "--key", fast_key_file, "--config", path, "--portal-url", portal.url]
    args += ["--heartbeat-every", "0.2", "--poll-every", "0.2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", *map(str, args)],
        cwd=ROOT,
        env=_env(with_passphrase(SIGNER_TOKEN=portal.token)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: last_heartbeat(portal.son), timeout=10)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "signing on regtest for a federation of 3 keys (threshold 2)" in stderr
    assert "0 signing request(s) pending\n" in stderr
    journal = tmp_path / "journal.sqlite"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_it_serves_heartbeats_to_the_portal_and_exits_0_when_stopped(
    fast_key_file, portal, tmp_path, stop_signal
):
    token_file = tmp_path / "token"
    token_file.write_text(portal.token + "\n")
    args = ["serve", "--key", fast_key_file, "--portal-url", portal.url]
    args += ["--token-file", token_file, "--heartbeat-every", "0.2", "--poll-every", "0.2"]
    env = _env(with_passphrase())
    assert not [name for name in env if name.startswith(("DATABASE_", "SECRET_KEY", "DJANGO_"))]
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = _wait_for(lambda: last_heartbeat(portal.son), timeout=10)
        _wait_for(lambda: last_heartbeat(portal.son) > first, timeout=5)
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert stdout == ""
    assert f"heartbeat accepted: SON {portal.son.pk} is active" in stderr
    assert "0 signing request(s) pending (no configuration: not signing)" in stderr
    assert "no --config: this signer sends heartbeats but signs nothing" in stderr
    assert "signer stopped" in stderr
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stderr, re.MULTILINE)
    assert portal.token not in stderr
    keys = load(fast_key_file, PASSPHRASE)
    assert keys.bitcoin.secret.hex() not in stderr and keys.hive.secret.hex() not in stderr


def _wait_for(condition, timeout):
    """The first truthy value of condition(), polled until timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
    return value
