"""`python -m proofs verify proof.json --root HEX`: check your proof of inclusion in the
portal's liabilities. `python -m proofs sign ...`: sign a transfer message with your key."""

import argparse
import json
import sys

from proofs.sign import MAX_KEY_FILE, MAX_MESSAGE_BYTES, read_key, sign_message
from proofs.verify import HEX32, ProofError, verify

MAX_PROOF_BYTES = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proofs")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check an inclusion proof against a root")
    check.add_argument("proof", help="the proof's JSON file, as downloaded")
    check.add_argument("--root", required=True, help="the epoch's root, as published (hex)")
    sign = commands.add_parser("sign", help="sign a transfer message with your key file")
    sign.add_argument("message", help="a file with the message, exactly as the portal shows it")
    sign.add_argument("--key-file", required=True, help="your private key: WIF or 64 hex")
    args = parser.parse_args(argv)
    if args.command == "sign":
        return _sign(args.message, args.key_file)
    return _verify(args.proof, args.root)


def _sign(message_path: str, key_path: str) -> int:
    try:
        with open(key_path, encoding="ascii") as f:
            key = read_key(f.read(MAX_KEY_FILE + 1))
        with open(message_path, encoding="utf-8", newline="") as f:
            message = f.read(MAX_MESSAGE_BYTES + 1)
        # The portal's message ends without a newline; an editor may have added one.
        print(sign_message(key, message.rstrip("\r\n")))
    except (OSError, ValueError) as e:
        print(f"NOT SIGNED: {e}", file=sys.stderr)
        return 1
    return 0


def _verify(path: str, root: str) -> int:
    try:
        if not HEX32.fullmatch(root.lower()):
            raise ProofError("The root must be 64 hex digits.")
        with open(path, "rb") as f:
            data = f.read(MAX_PROOF_BYTES + 1)
        if len(data) > MAX_PROOF_BYTES:
            raise ProofError(f"The file is larger than {MAX_PROOF_BYTES} bytes: not a proof.")
        try:
            parsed = json.loads(data)
        except ValueError as e:
            raise ProofError(f"The file is not JSON: {e}") from None
        proven = verify(parsed, root)
    except (OSError, ValueError) as e:  # ProofError and JSON errors are ValueErrors
        print(f"REJECTED: {e}", file=sys.stderr)
        return 1
    print(f"OK: epoch {proven.epoch}, root {proven.root}")
    print(f"account {proven.account} holds " + _amounts(proven.amounts))
    print("the root proves total liabilities of " + _amounts(proven.totals))
    return 0


def _amounts(amounts: dict[str, int]) -> str:
    return ", ".join(f"{amount} {asset}" for asset, amount in amounts.items()) + " (base units)"


if __name__ == "__main__":
    sys.exit(main())
