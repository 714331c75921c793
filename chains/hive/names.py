"""Hive account names, by the chain's own rule (hive::protocol::is_valid_account_name).

Total length 3 to 16; dot-separated segments, each at least 3 characters, starting with a
lowercase letter, ending with a lowercase letter or digit, with only lowercase letters, digits
and hyphens in between. Consensus allows "--" inside a segment; some wallets refuse it for new
names, but the portal checks names that already exist, so it must not be stricter than the chain.
"""

from __future__ import annotations

import string

MIN_LENGTH = 3
MAX_LENGTH = 16
MIN_SEGMENT_LENGTH = 3
_LETTERS = set(string.ascii_lowercase)
_LETTERS_DIGITS = _LETTERS | set(string.digits)
_ALLOWED = _LETTERS_DIGITS | {"-", "."}


class AccountNameError(ValueError):
    """Not a valid Hive account name; str() is a message for the user."""


def validate_account_name(text: str) -> str:
    """The account name, stripped of whitespace and of the "@" people often write before it."""
    name = text.strip().removeprefix("@")
    if not name:
        raise AccountNameError("Enter a Hive account name.")
    _check_length(name)
    _check_characters(name)
    for segment in name.split("."):
        _check_segment(segment)
    return name


def _check_length(name: str) -> None:
    if len(name) < MIN_LENGTH:
        raise AccountNameError(f"A Hive account name has at least {MIN_LENGTH} characters.")
    if len(name) > MAX_LENGTH:
        raise AccountNameError(
            f"A Hive account name has at most {MAX_LENGTH} characters; this one has {len(name)}."
        )


def _check_characters(name: str) -> None:
    for char in name:
        if char not in _ALLOWED:
            raise AccountNameError(
                f"A Hive account name has only lowercase letters, digits, hyphens and dots; "
                f"{char!r} is not allowed."
            )


def _check_segment(segment: str) -> None:
    if len(segment) < MIN_SEGMENT_LENGTH:
        raise AccountNameError(
            f"Each part of a Hive account name between dots has at least {MIN_SEGMENT_LENGTH} "
            f"characters; {segment!r} is too short."
        )
    if segment[0] not in _LETTERS:
        raise AccountNameError(
            f"Each part of a Hive account name starts with a letter; {segment!r} does not."
        )
    if segment[-1] not in _LETTERS_DIGITS:
        raise AccountNameError(
            f"Each part of a Hive account name ends with a letter or digit; {segment!r} does not."
        )
