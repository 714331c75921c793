"""The mail catcher (maildev, started by bin/stack.py) as the tests read it: its JSON API."""

import json
import os
import re
import time
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Mail:
    to: list[str]
    subject: str
    text: str
    html: str

    def link(self, contains: str) -> str:
        """The first http(s) link in the plain-text part whose URL contains `contains`."""
        for url in re.findall(r"https?://\S+", self.text):
            if contains in url:
                return url
        raise AssertionError(f"no link with {contains!r} in {self.text!r}")


class MailCatcher:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str):
        request = urllib.request.Request(f"{self.url}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def clear(self) -> None:
        self._call("DELETE", "/email/all")

    def mails(self) -> list[Mail]:
        return [
            Mail(
                to=[a["address"] for a in m.get("to", [])],
                subject=m.get("subject", ""),
                text=m.get("text") or "",
                html=m.get("html") or "",
            )
            for m in self._call("GET", "/email")
        ]

    def wait_for(self, *, to: str, subject: str = "", timeout: float = 20) -> Mail:
        """The first mail to `to` whose subject contains `subject`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.mails() if to in m.to and subject in m.subject]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {to} about {subject!r}: {self.mails()}")
            time.sleep(0.2)


def catcher() -> MailCatcher:
    return MailCatcher(os.environ["MAIL_CATCHER_URL"])
