"""Read deploy-varying settings from the environment, failing loudly on bad values.

Secrets come from VAR or VAR_FILE (a path whose content is the secret) and never have defaults.
"""

import os
import re

from django.core.exceptions import ImproperlyConfigured

_MISSING = "\0missing"


def env_str(name: str, default: str = _MISSING) -> str:
    value = os.environ.get(name, "")
    if value == "":
        if default == _MISSING:
            raise ImproperlyConfigured(f"Set the environment variable {name}.")
        return default
    return value


def env_int(name: str, default: int | None = None, *, minimum: int | None = None) -> int:
    raw = env_str(name, _MISSING if default is None else str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name, "").lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}.")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str = _MISSING) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def env_secret(name: str, *, required: bool = True, min_length: int = 0) -> str:
    """VAR or VAR_FILE, not both. Secrets have no default; a set one has at least min_length
    characters."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if value and path:
        raise ImproperlyConfigured(f"Set only one of {name} and {name}_FILE.")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {e.strerror}") from e
    if not value and required:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE.")
    if value and len(value) < min_length:
        raise ImproperlyConfigured(f"{name} must have at least {min_length} characters.")
    return value


def env_confirmations(name: str, default: str) -> list[tuple[int | None, int]]:
    """A table "limit:count,...,*:count": amounts below limit need count confirmations; "*" is
    the catch-all and must come last. Returns [(limit or None, count), ...]."""
    raw = env_str(name, default)
    table: list[tuple[int | None, int]] = []
    try:
        for item in raw.split(","):
            limit, count = item.strip().split(":")
            table.append((None if limit == "*" else int(limit), int(count)))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must look like 10000000:2,*:6, got {raw!r}.") from None
    # Only the last row is "*": every other one has a limit, in ascending order.
    limits = [limit for limit, _ in table[:-1] if limit is not None]
    if table[-1][0] is not None or len(limits) < len(table) - 1 or limits != sorted(limits):
        raise ImproperlyConfigured(f"{name}: ascending limits, then *:count last; got {raw!r}.")
    if any(count < 1 for _, count in table):
        raise ImproperlyConfigured(f"{name}: every count must be at least 1; got {raw!r}.")
    return table


RATE = re.compile(r"[1-9][0-9]{0,8}/(second|minute|hour|day)")


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF's throttles read it: "<count>/<second|minute|hour|day>"."""
    raw = env_str(name, default)
    if RATE.fullmatch(raw) is None:
        raise ImproperlyConfigured(f"{name} must look like 60/minute, got {raw!r}.")
    return raw
