"""python -m bench.proofs: liabilities epochs at scale (docs/proofs.md, bench/README.md)."""
