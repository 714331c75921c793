"""Verify the SON portal's proofs of liabilities on your own machine (docs/proofs.md)."""
