"""Command line: `python -m signer keygen | pubkeys | serve | federation add`.

Exit codes: 0 success (and a clean stop of `serve` on SIGTERM/SIGINT); 2 usage or configuration
errors (bad arguments, missing or wrong passphrase, bad key file, missing token, a configuration
file that is missing, invalid or refused by the policy, a journal that cannot be opened), reported
on stderr as one line without a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from signer import config, keystore
from signer.client import PortalClient
from signer.hive_config import HiveSigning
from signer.hive_journal import HiveJournal
from signer.journal import Journal, JournalError
from signer.service import Signer, Signing

TOKEN_ENV = "SIGNER_TOKEN"
EXIT_USAGE = 2
log = logging.getLogger("signer")


class CliError(Exception):
    """A configuration problem to report to the operator."""


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.command(args, environ)
        return code
    except (CliError, keystore.KeystoreError, config.ConfigError, JournalError) as exc:
        print(f"signer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m signer",
        description="SON signer. The key file passphrase comes from SIGNER_PASSPHRASE or "
        "SIGNER_PASSPHRASE_FILE.",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="generate an encrypted key file")
    keygen.add_argument("--out", required=True, type=Path, help="key file to create")
    keygen.add_argument("--overwrite", action="store_true", help="replace an existing file")
    keygen.set_defaults(command=keygen_command)

    pubkeys = commands.add_parser("pubkeys", help="print the public keys of a key file")
    pubkeys.add_argument("--key", required=True, type=Path, help="key file")
    pubkeys.set_defaults(command=pubkeys_command)

    serve = commands.add_parser("serve", help="send heartbeats and sign signing requests")
    serve.add_argument("--key", required=True, type=Path, help="key file")
    serve.add_argument(
        "--config",
        type=Path,
        help="the signer's configuration file (federation, limits, journal); without it the "
        "signer only sends heartbeats and counts signing requests",
    )
    serve.add_argument("--portal-url", required=True, type=portal_url, help="http(s)://host[:port]")
    serve.add_argument("--token-file", type=Path, help=f"SON API token file (or env {TOKEN_ENV})")
    serve.add_argument("--heartbeat-every", type=positive_seconds, default=5.0, metavar="SECONDS")
    serve.add_argument("--poll-every", type=positive_seconds, default=5.0, metavar="SECONDS")
    serve.set_defaults(command=serve_command)
    _add_federation_parser(commands)
    return parser


def _add_federation_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    federation = commands.add_parser("federation", help="the federation versions accepted")
    actions = federation.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="accept a federation version (after checking its fingerprint)"
    )
    add.add_argument("--config", required=True, type=Path, help="the configuration file")
    add.add_argument(
        "--sidechain",
        choices=["bitcoin", "hive"],
        default="bitcoin",
        help="whose federation (default bitcoin; hive: the hive section's list)",
    )
    add.add_argument(
        "--keys", required=True, nargs="+", help="its public keys (Bitcoin: hex; Hive: STM...)"
    )
    add.add_argument("--threshold", required=True, type=int, help="its threshold m")
    add.set_defaults(command=federation_add_command)


def federation_add_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Accept a version: the signer then signs its coins and moves coins to its wallet (Hive:
    signs the account_update setting the federation account's authority to it). The fingerprint
    printed must be the one on the portal's SON page and rotation proposal; a running signer
    reads its configuration when it starts."""
    add = config.add_accepted_hive if args.sidechain == "hive" else config.add_accepted
    fingerprint, added = add(args.config, args.keys, args.threshold)
    n = len(args.keys)
    what = "accepted" if added else "already accepted"
    chain = "Hive federation" if args.sidechain == "hive" else "federation"
    print(f"{what}: {chain} {args.threshold} of {n}, fingerprint {fingerprint}")
    return 0


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def portal_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected http(s)://host[:port], got {text!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError("the portal URL must not carry credentials or a query")
    return text.rstrip("/")


def keygen_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    passphrase = keystore.passphrase_from_env(environ)
    keys = keystore.generate()
    keystore.save(args.out, keys, passphrase, overwrite=args.overwrite)
    print(json.dumps(keys.public()))
    return 0


def pubkeys_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    keys = keystore.load(args.key, keystore.passphrase_from_env(environ))
    print(json.dumps(keys.public()))
    return 0


def serve_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    token = read_token(args.token_file, environ)
    keys = keystore.load(args.key, keystore.passphrase_from_env(environ))
    if urlsplit(args.portal_url).scheme == "http" and not _is_loopback(args.portal_url):
        log.warning("the portal URL is plain http: the SON token travels unencrypted")
    signing = None
    if args.config is None:
        log.warning("no --config: this signer sends heartbeats but signs nothing")
    else:
        loaded = config.load(args.config, keys.bitcoin)
        hive = _hive_signing(loaded, keys)
        signing = Signing(loaded.signer, _open_journal(loaded.journal), hive)
        log.info(
            "signing on %s for a federation of %d keys (threshold %d), journal %s",
            loaded.signer.network,
            len(loaded.signer.federation_keys),
            loaded.signer.threshold,
            loaded.journal,
        )
    client = PortalClient(args.portal_url, token)
    signer = Signer(
        client,
        keys,
        heartbeat_every=args.heartbeat_every,
        poll_every=args.poll_every,
        signing=signing,
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        signer.run_forever(stop)
    finally:
        client.close()
        if signing is not None:
            signing.journal.close()
            if signing.hive is not None:
                signing.hive.journal.close()
    return 0


def _hive_signing(loaded: config.FileConfig, keys: keystore.Keys) -> HiveSigning | None:
    if loaded.hive is None or loaded.hive_journal is None:
        return None
    log.info("signing Hive for @%s", loaded.hive.federation_account)
    return HiveSigning(loaded.hive, HiveJournal(loaded.hive_journal), keys.hive)


def _open_journal(path: Path) -> Journal:
    try:
        return Journal(path)
    except (OSError, sqlite3.Error) as exc:
        raise CliError(f"cannot open the journal {path}: {exc}") from None


def read_token(token_file: Path | None, environ: Mapping[str, str]) -> str:
    if token_file is not None and TOKEN_ENV in environ:
        raise CliError(f"use either --token-file or {TOKEN_ENV}, not both")
    if token_file is None and TOKEN_ENV not in environ:
        raise CliError(f"no SON token: pass --token-file or set {TOKEN_ENV}")
    token = environ[TOKEN_ENV] if token_file is None else _read_token_file(token_file)
    token = token.strip()
    if not token:
        raise CliError("the SON token is empty")
    return token


def _read_token_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the token file {path}: {exc}") from None


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1")


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT set `stop`; the loop only reads it, so the handler cannot deadlock."""

    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
