"""Hive: the portal's JSON-RPC client, transaction building and signing, and the dev node.

Nothing in this package imports Django, so the signer, management commands and tests share it.
"""
