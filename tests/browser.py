"""Helpers for the Chromium tests: logging in through allauth's pages as a person does."""

from pathlib import Path

from tests import fixtures


def log_in(page, live_server, username: str, *, next_path: str = "") -> None:
    """Log in on the login page; a person with a second factor types its current code."""
    page.goto(f"{live_server.url}/accounts/login/{'?next=' + next_path if next_path else ''}")
    page.fill("#id_login", username)
    page.fill("#id_password", fixtures.PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    if "/accounts/2fa/authenticate/" in page.url:
        user = fixtures.User.objects.get(username=username)
        page.fill("#id_code", fixtures.totp_code(user))
        page.click("form button[type=submit]")
        page.wait_for_load_state()


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}


def assert_fits(page) -> None:
    """The page does not scroll sideways: the document is no wider than the viewport."""
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{page.url} is {wide} px wider than the viewport"


AXE = Path(__file__).resolve().parent.parent / "tools/node/node_modules/axe-core/axe.min.js"
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
  .map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))"""


def axe_serious(page) -> list[dict]:
    """axe-core's serious and critical violations on the page (axe-core from tools/node, run
    through DevTools, so the page's Content-Security-Policy does not block it)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    return [v for v in page.evaluate(AXE_RUN) if v["impact"] in ("serious", "critical")]
