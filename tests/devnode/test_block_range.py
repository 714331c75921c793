"""block_api.get_block_range: consecutive blocks, as hived answers them."""

import pytest

from chains.hive.rpc import HiveRPCError


def test_it_answers_consecutive_blocks_and_stops_at_the_head(hive_devnode):
    hive_devnode.generate_blocks(3)
    with hive_devnode.rpc() as rpc:
        head = rpc.get_dynamic_global_properties()["head_block_number"]
        blocks = rpc.get_block_range(head - 2, 10)
        assert [int(b["block_id"][:8], 16) for b in blocks] == [head - 2, head - 1, head]
        assert blocks[0] == rpc.get_block(head - 2)
        assert rpc.get_block_range(head + 1, 5) == []


@pytest.mark.parametrize("count", [0, 1001])
def test_it_refuses_a_range_of_no_or_too_many_blocks(hive_devnode, count):
    with hive_devnode.rpc() as rpc, pytest.raises(HiveRPCError, match="1000 blocks"):
        rpc.get_block_range(1, count)
