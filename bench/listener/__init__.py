"""The deposit listener's benchmark: python -m bench.listener (bench/README.md).

Builds a fresh in-memory bcoin regtest node with its wallet plugin (node.js), fills its own
PostgreSQL database (sonportal_bench) with registered deposit scripts by COPY, mines blocks of
small payments of which a share pays registered scripts, then measures:

- the portal's listener (sidechains.bitcoin.listener) scanning those blocks, alone in a child
  process (scanner.py): wall time, outputs/s, peak RSS, deposits recorded;
- the lean block parser against python-bitcoinlib, parsing only;
- bcoin's own wallet doing the same detection: a watch-only wallet importing the addresses that
  the deposits pay, a rescan of the same blocks, listsinceblock; and the time ratio;
- block-to-recorded latency: blocks mined one at a time while a listener polls continuously.
"""
