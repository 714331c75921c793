"""The Hive client's tests run against the dev node, with the dev node tests' own fixtures."""

from tests.devnode.conftest import devnode, rpc  # noqa: F401 - fixtures for the Hive client
