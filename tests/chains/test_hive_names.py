"""Hive account names (chains.hive.names), by the rule of hive::protocol::is_valid_account_name
(openhive-network/hive, libraries/protocol/authority.cpp, detail::check_account_name)."""

import re

import pytest

from chains.hive.names import AccountNameError, validate_account_name


@pytest.mark.parametrize(
    "name",
    [
        "abc",  # shortest
        "alice",
        "a-b",  # a hyphen inside a segment
        "bob123",
        "abc1",  # ends with a digit
        "a1-2b",
        "sixteen-letters1",  # longest: 16
        "hive.blog",
        "abc.def.ghi",  # several segments of the minimum length
        "ab--cd",  # consensus accepts a double hyphen (see the module docstring)
    ],
)
def test_it_accepts_valid_names(name):
    assert validate_account_name(name) == name


def test_it_strips_whitespace_and_a_leading_at_sign():
    assert validate_account_name("  @alice \n") == "alice"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a Hive account name."),
        ("   ", "Enter a Hive account name."),
        ("@", "Enter a Hive account name."),
        # total length 3..16
        ("ab", "at least 3 characters"),
        ("seventeen-letters", "at most 16 characters; this one has 17"),
        # only lowercase letters, digits, hyphens (and the dots between segments)
        ("Alice", "'A' is not allowed"),
        ("al_ice", "'_' is not allowed"),
        ("al ice", "' ' is not allowed"),
        ("alicé", "'é' is not allowed"),
        # each segment has at least 3 characters
        ("ab.cde", "'ab' is too short"),
        ("abc.de", "'de' is too short"),
        (".abcd", "'' is too short"),
        ("abcd.", "'' is too short"),
        ("abc..def", "'' is too short"),
        # each segment starts with a letter
        ("1abc", "starts with a letter; '1abc' does not"),
        ("-abc", "starts with a letter; '-abc' does not"),
        ("abc.9xyz", "starts with a letter; '9xyz' does not"),
        # each segment ends with a letter or digit
        ("abc-", "ends with a letter or digit; 'abc-' does not"),
        ("abc-.def", "ends with a letter or digit; 'abc-' does not"),
    ],
)
def test_it_names_the_broken_rule(text, message):
    with pytest.raises(AccountNameError, match=re.escape(message)):
        validate_account_name(text)
