"""`python -m proofs verify proof.json --root HEX`: check your proof of inclusion in the
portal's liabilities. `python -m proofs sign ...`: sign a transfer message with your key."""

import argparse
import json
import sys

from proofs.verify import HEX32, ProofError, verify

MAX_PROOF_BYTES = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proofs")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check an inclusion proof against a root")
    check.add_argument("proof", help="the proof's JSON file, as downloaded")
    check.add_argument("--root", required=True, help="the epoch's root, as published (hex)")
    args = parser.parse_args(argv)
    return _verify(args.proof, args.root)


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
