"""The Merkle sum tree: the chunked build gives the tree over all leaves; sums add up."""

import hashlib

import pytest

from solvency import tree
from solvency.tree import CHUNK, chunk_tops


def _leaves(n: int) -> list[tree.Node]:
    return [tree.leaf(hashlib.sha256(str(i).encode()).digest(), (i, 2 * i, 1)) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3])
def test_the_tree_over_chunk_tops_is_the_tree_over_all_leaves(n):
    leaves = _leaves(n)
    whole = tree.top_of(leaves, 3)
    assert tree.top_of(chunk_tops(leaves), 3) == whole
    assert whole.sums == (sum(range(n)), 2 * sum(range(n)), n)


@pytest.mark.parametrize("n", [1, 2, 7, CHUNK + 1])
def test_every_path_leads_to_the_top(n):
    leaves = _leaves(n)
    top = tree.top_of(leaves, 3)
    for index in {0, n // 2, n - 1}:
        node = leaves[index]
        for side, sibling in tree.path(tree.levels(leaves), index):
            node = tree.parent(sibling, node) if side == "left" else tree.parent(node, sibling)
        assert node == top


def test_an_empty_tree_has_a_zero_top_and_still_a_root():
    top = tree.top_of([], 3)
    assert top == tree.Node(b"\x00" * 32, (0, 0, 0))
    assert len(tree.root_hash(["pBTC", "pHIVE", "pHBD"], top)) == 32


def test_the_root_commits_to_the_assets_and_their_order():
    top = tree.top_of(_leaves(4), 3)
    assert tree.root_hash(["a", "b", "c"], top) != tree.root_hash(["b", "a", "c"], top)


def test_it_refuses_amounts_and_sums_that_do_not_fit_64_bits():
    with pytest.raises(tree.TreeError):
        tree.leaf(b"\x00" * 32, (-1,))
    big = tree.leaf(b"\x00" * 32, (tree.MAX_SUM,))
    with pytest.raises(tree.TreeError):
        tree.parent(big, tree.leaf(b"\x01" * 32, (1,)))


def test_salts_differ_per_account_and_per_secret():
    assert tree.salt_for(b"a" * 32, "user:1") != tree.salt_for(b"a" * 32, "user:2")
    assert tree.salt_for(b"a" * 32, "user:1") != tree.salt_for(b"b" * 32, "user:1")


@pytest.mark.parametrize("n", [0, 1, CHUNK + 5])
def test_chunk_tops_from_sorted_leaves_match_those_from_their_nodes(n):
    accounts = [(i, f"user:{i}", (i, 0, 1)) for i in range(n)]
    leaves = tree.build_leaves(b"s" * 32, accounts)
    nodes = [tree.leaf(c, amounts) for c, _, amounts in leaves]
    assert tree.leaf_chunk_tops(leaves) == chunk_tops(nodes)
    assert [c for c, _, _ in leaves] == sorted(c for c, _, _ in leaves)
