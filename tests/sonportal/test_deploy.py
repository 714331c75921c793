"""`manage.py check --deploy` with the production environment README.md documents, in a fresh
process (settings are read once, at import), and what DEBUG changes for the demo."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lengths the checks ask for: Django's secret key check, our HEALTH_TOKEN minimum.
SECRET_LENGTHS = {"SECRET_KEY_FILE": 64, "HEALTH_TOKEN_FILE": 40}


def readme_production_env() -> dict[str, str]:
    """The lines between the README's production-env markers, as a dict."""
    text = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- production-env -->\n```sh\n(.*?)```\n<!-- /production-env -->", text, re.S
    )
    assert block, "README.md lost its production environment block"
    pairs = [tuple(line.split("=", 1)) for line in block.group(1).splitlines() if line.strip()]
    return dict(pairs)


def with_secret_files(env: dict[str, str], folder: Path) -> dict[str, str]:
    """The README's *_FILE paths point at the operator's secrets; here, at fresh random ones."""
    env = dict(env)
    for name in [n for n in env if n.endswith("_FILE")]:
        path = folder / name.lower()
        path.write_text(secrets.token_urlsafe(SECRET_LENGTHS.get(name, 32)))
        env[name] = str(path)
    return env


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """manage.py in a clean environment: none of the test profile's variables leak in."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(tmp_path) -> dict[str, str]:
    return with_secret_files(readme_production_env(), tmp_path)


def test_the_readme_production_environment_passes_check_deploy(tmp_path):
    env = production_env(tmp_path)
    assert env["DEBUG"] == "false"
    result = run_manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_when_https_is_turned_off(tmp_path):
    env = production_env(tmp_path) | {"SECURE_SSL_REDIRECT": "false", "SECURE_COOKIES": "false"}
    result = run_manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for check in ("security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


def test_a_bad_value_stops_the_portal_with_its_name(tmp_path):
    for name, value, message in [
        ("SECURE_HSTS_SECONDS", "one year", "SECURE_HSTS_SECONDS must be an integer"),
        ("SECURE_SSL_REDIRECT", "maybe", "SECURE_SSL_REDIRECT must be true or false"),
        ("API_THROTTLE_USER", "60/fortnight", "API_THROTTLE_USER must look like 60/minute"),
        ("HEALTH_TOKEN", "short", "HEALTH_TOKEN must have at least 32 characters"),
    ]:
        env = production_env(tmp_path) | {name: value}
        env.pop(f"{name}_FILE", None)
        result = run_manage(env, "check", "--deploy")
        assert result.returncode != 0
        assert message in result.stderr, (name, result.stderr[-500:])


PRINT_SETTINGS = """
import json
from django.conf import settings
from rest_framework.settings import api_settings
print(json.dumps({
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "hsts": settings.SECURE_HSTS_SECONDS,
    "secure_cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
    "renderers": [r.__name__ for r in api_settings.DEFAULT_RENDERER_CLASSES],
}))
"""


def effective_settings(env: dict[str, str]) -> dict:
    result = run_manage(env, "shell", "-c", PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_is_https_only_and_json_only(tmp_path):
    seen = effective_settings(production_env(tmp_path))
    assert seen == {
        "ssl_redirect": True,
        "hsts": 31_536_000,
        "secure_cookies": [True, True],
        "proxy_header": ["HTTP_X_FORWARDED_PROTO", "https"],
        "renderers": ["JSONRenderer"],
    }


def test_debug_turns_https_off_and_the_browsable_api_on_for_the_demo(tmp_path):
    env = production_env(tmp_path) | {"DEBUG": "true"}
    env.pop("SECURE_PROXY_SSL_HEADER")
    seen = effective_settings(env)
    assert seen == {
        "ssl_redirect": False,
        "hsts": 0,
        "secure_cookies": [False, False],
        "proxy_header": None,
        "renderers": ["JSONRenderer", "BrowsableAPIRenderer"],
    }
