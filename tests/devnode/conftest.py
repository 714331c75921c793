"""Fixtures for the Hive tests: a dev node per module that makes blocks only on demand.

These tests need no database. Every test creates its own accounts, so they share the node.
"""

import pytest

from tests.hive_node import start_hive_devnode

IRREVERSIBLE_LAG = 5


@pytest.fixture(scope="module")
def devnode():
    node = start_hive_devnode(block_interval=0, irreversible_lag=IRREVERSIBLE_LAG)
    node.generate_blocks(1)  # hived checks expiration and TaPoS only after the first block
    yield node
    node.stop()


@pytest.fixture
def rpc(devnode):
    with devnode.rpc() as client:
        yield client


@pytest.fixture
def chain_id(rpc):
    return rpc.get_config()["HIVE_CHAIN_ID"]
