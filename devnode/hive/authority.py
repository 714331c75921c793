"""Authority checks, ported from hived's sign_state and verify_authority (before HF28).

The keys recovered from a transaction's signatures must satisfy, for every account an operation
requires, its active authority (or its owner authority, which also counts as active), and its
owner authority where an operation needs owner. Key weights are summed in key order until the
threshold is met; an account_auths entry counts when that account's active authority is met,
to a depth of 2. A signature whose key was never needed makes the transaction fail with
"Unnecessary signature(s) detected", as hived did before HF28.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from devnode.hive import errors
from devnode.hive.protocol import Authority

MAX_SIG_CHECK_DEPTH = 2
MAX_AUTHORITY_MEMBERSHIP = 40
MAX_SIG_CHECK_ACCOUNTS = 125

AuthorityGetter = Callable[[str], Authority]


class SignState:
    def __init__(self, signing_keys: Iterable[str], get_active: AuthorityGetter) -> None:
        self.used = dict.fromkeys(signing_keys, False)
        self.approved_by: set[str] = set()
        self.get_active = get_active
        self._account_checks = 1

    def signed_by(self, key: str) -> bool:
        if key not in self.used:
            return False
        self.used[key] = True
        return True

    def check_account(self, name: str) -> bool:
        """Whether the account's active authority is met (sign_state::check_authority(id))."""
        return name in self.approved_by or self.check_authority(self.get_active(name))

    def check_authority(self, authority: Authority) -> bool:
        self._account_checks = 1
        return self._check(authority, 0)

    def _check(self, authority: Authority, depth: int) -> bool:
        total = 0
        members = 0
        for key, weight in authority.key_auths:
            if self.signed_by(key):
                total += weight
                if total >= authority.weight_threshold:
                    return True
            members += 1
            if members >= MAX_AUTHORITY_MEMBERSHIP:
                return False
        for name, weight in authority.account_auths:
            if name not in self.approved_by:
                if depth == MAX_SIG_CHECK_DEPTH:
                    continue
                if self._account_checks >= MAX_SIG_CHECK_ACCOUNTS:
                    return False
                self._account_checks += 1
                if self._check(self.get_active(name), depth + 1):
                    self.approved_by.add(name)
            if name in self.approved_by:
                total += weight
                if total >= authority.weight_threshold:
                    return True
            members += 1
            if members >= MAX_AUTHORITY_MEMBERSHIP:
                return False
        return total >= authority.weight_threshold

    def has_unused_signatures(self) -> bool:
        return not all(self.used.values())


def verify_authority(
    *,
    required_active: Iterable[str],
    required_owner: Iterable[str],
    signing_keys: Iterable[str],
    get_active: AuthorityGetter,
    get_owner: AuthorityGetter,
) -> None:
    """Raise hived's error if the signing keys do not satisfy the required authorities exactly."""
    state = SignState(signing_keys, get_active)
    for name in required_active:
        if not (state.check_account(name) or state.check_authority(get_owner(name))):
            raise errors.missing_active_authority(name)
    for name in required_owner:
        if not state.check_authority(get_owner(name)):
            raise errors.missing_owner_authority(name)
    if state.has_unused_signatures():
        raise errors.irrelevant_signature()
