"""The signer's benchmark: python -m bench.signer (bench/README.md).

No portal and no node: the signer alone, as one operator's process runs it. It measures:

- raw signatures: coincurve (libsecp256k1) signing 32-byte digests, the floor of any signer;
- the real path: sign_request (the policy, with each input's previous transaction hashed and
  parsed, the journal's checks and its two fsync'ed commits, the BIP143 digests and the
  signatures) on fresh requests of `--inputs` inputs, each from its own previous transaction,
  half the federation's wallet and half users' deposit scripts, and `--withdrawals` payouts;
  in input signatures per second of one process (one core), at journal sizes of 0 and the
  `--sizes` given, seeded in between (requests.py).
"""
