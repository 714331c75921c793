"""The Hive dev node: a JSON-RPC test double of hived for development and tests.

Plain Python (no Django). See docs/hive-node.md for what it implements and how it differs from
hived; run it with `python -m devnode.hive --port P`.
"""
