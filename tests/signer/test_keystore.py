import json
import os
import stat

import pytest

from signer import keystore
from signer.keystore import KeystoreError, generate, load, passphrase_from_env, save

FAST_N = 2**10  # scrypt cost for in-process tests; the CLI default (2**15) is tested in test_cli


@pytest.fixture
def key_file(tmp_path):
    keys = generate()
    path = tmp_path / "son.key"
    save(path, keys, "correct horse", n=FAST_N)
    return path, keys


def _edit(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _secrets(keys):
    return [keys.bitcoin.secret.hex(), keys.hive.secret.hex()]


def test_it_round_trips_keys_through_the_encrypted_file(key_file):
    path, keys = key_file
    loaded = load(path, "correct horse")
    assert _secrets(loaded) == _secrets(keys)
    assert loaded.public() == keys.public()


def test_it_writes_a_0600_file_without_private_keys_in_clear(key_file):
    path, keys = key_file
    content = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for secret in _secrets(keys):
        assert secret.encode() not in content
        assert bytes.fromhex(secret) not in content
    assert json.loads(content)["public"] == keys.public()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_it_uses_scrypt_2_15_and_aes_gcm_by_default(tmp_path):
    path = tmp_path / "son.key"
    save(path, generate(), "pw")
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert document["cipher"] == "aes-256-gcm"
    assert {k: document["kdf"][k] for k in ("name", "n", "r", "p")} == {
        "name": "scrypt",
        "n": 2**15,
        "r": 8,
        "p": 1,
    }
    assert len(bytes.fromhex(document["kdf"]["salt"])) == 16
    assert len(bytes.fromhex(document["nonce"])) == 12


def test_it_refuses_a_wrong_passphrase(key_file):
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        load(key_file[0], "wrong horse")


def test_it_detects_a_tampered_ciphertext(key_file):
    path = key_file[0]

    def flip_last_byte(document):
        data = bytearray.fromhex(document["ciphertext"])
        data[-1] ^= 1
        document["ciphertext"] = data.hex()

    _edit(path, flip_last_byte)
    with pytest.raises(KeystoreError, match="modified"):
        load(path, "correct horse")


def test_it_detects_swapped_public_keys(key_file):
    path = key_file[0]
    other = generate().public()
    _edit(path, lambda document: document.update(public=other))
    with pytest.raises(KeystoreError):
        load(path, "correct horse")


def test_it_refuses_an_unknown_version(key_file):
    path = key_file[0]
    _edit(path, lambda document: document.update(version=2))
    with pytest.raises(KeystoreError, match="unsupported key file version 2"):
        load(path, "correct horse")


def test_it_refuses_out_of_range_scrypt_parameters(key_file):
    path = key_file[0]
    _edit(path, lambda document: document["kdf"].update(n=2**40))
    with pytest.raises(KeystoreError, match="scrypt parameters"):
        load(path, "correct horse")


def test_it_refuses_a_malformed_file(tmp_path):
    path = tmp_path / "son.key"
    path.write_text("not json")
    path.chmod(0o600)
    with pytest.raises(KeystoreError, match="cannot read key file"):
        load(path, "pw")


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660])
def test_it_refuses_a_group_or_world_accessible_file(key_file, mode):
    path = key_file[0]
    path.chmod(mode)
    with pytest.raises(KeystoreError, match="chmod 600"):
        load(path, "correct horse")


def test_it_reports_a_missing_file(tmp_path):
    with pytest.raises(KeystoreError, match="not found"):
        load(tmp_path / "absent.key", "pw")


def test_it_refuses_to_overwrite_without_overwrite(key_file):
    path, keys = key_file
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        save(path, generate(), "correct horse", n=FAST_N)
    assert load(path, "correct horse").public() == keys.public()


def test_it_overwrites_when_asked(key_file):
    path = key_file[0]
    replacement = generate()
    save(path, replacement, "new", overwrite=True, n=FAST_N)
    assert load(path, "new").public() == replacement.public()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_it_keeps_private_keys_out_of_the_repr():
    keys = generate()
    for secret in _secrets(keys):
        assert secret not in repr(keys)


def test_it_reads_the_passphrase_from_the_environment():
    assert passphrase_from_env({"SIGNER_PASSPHRASE": "pw"}) == "pw"


def test_it_reads_the_passphrase_file_without_its_trailing_newline(tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("pass phrase \n")
    assert passphrase_from_env({"SIGNER_PASSPHRASE_FILE": str(secret)}) == "pass phrase "


@pytest.mark.parametrize(
    "environ, message",
    [
        ({}, "no passphrase"),
        ({"SIGNER_PASSPHRASE": "a", "SIGNER_PASSPHRASE_FILE": "/x"}, "only one"),
        ({"SIGNER_PASSPHRASE": ""}, "empty"),
        ({"SIGNER_PASSPHRASE_FILE": "/nonexistent/passphrase"}, "cannot read"),
    ],
)
def test_it_refuses_a_missing_ambiguous_or_empty_passphrase(environ, message):
    with pytest.raises(KeystoreError, match=message):
        passphrase_from_env(environ)


def test_it_refuses_an_empty_passphrase_file(tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("\n")
    with pytest.raises(KeystoreError, match="empty"):
        passphrase_from_env({"SIGNER_PASSPHRASE_FILE": str(secret)})


def test_it_never_leaves_a_readable_temp_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "son.key"

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(keystore.os, "fsync", fail)
    with pytest.raises(OSError):
        save(path, generate(), "pw", n=FAST_N)
    assert os.listdir(tmp_path) == []
