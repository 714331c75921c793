from django.conf import settings

from chains.hive.rpc import HiveRPC


def hive_rpc() -> HiveRPC:
    """The portal's client of its Hive node: one attempt per call, a 10 s timeout."""
    return HiveRPC(settings.HIVE_NODE_URL, timeout=10)
