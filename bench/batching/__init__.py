"""The withdrawal batching benchmark: python -m bench.batching (bench/README.md).

On a fresh bcoin regtest node (the tests' launcher, devnode/bitcoin/regtest.js) and
its own PostgreSQL database (sonportal_bench_batching, dropped, created and migrated each run),
a three-SON federation holds coins paying its wallet script. The portal's builder
(withdrawals_batch) batches real withdrawal requests; the three SONs' real signers
(signer.signing.sign_request, each with its own key and journal) fetch and answer through the
portal's API in process (GET/POST /api/v1/son/signing-requests), which finishes and broadcasts;
the tracker settles after mining. Measured:

- vbytes and fee per withdrawal of the signed, broadcast transactions for batches of 1, 10, 50
  and 200, against one transaction per withdrawal (the batch of 1);
- withdrawals completed per minute: a backlog requested, batched, signed by three signers,
  broadcast, mined and settled, on the wall clock.
"""
