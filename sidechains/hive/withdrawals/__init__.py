"""pHIVE / pHBD withdrawals: requests and escrow, batching into one Hive transaction, the
SONs' signatures, broadcast, confirmation, rebuild after expiry (docs/hive.md)."""
