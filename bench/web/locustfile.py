"""Locust's people for `python -m bench.web`: users (the account page, the deposits and
withdrawals pages with their htmx polls, withdrawal requests through the API), witnesses (the
inbox and its poll), SON operators (their SON's page), administrators (the admin index, its
status panel, the deposit changelist) and anonymous visitors (login page, /healthz, a static
file). Each simulated person takes a signed-in session from the file bench.web wrote
(BENCH_WEB_SESSIONS); wait times are a person's, not a script's."""

import itertools
import json
import os
import uuid

from locust import HttpUser, between, task

SESSIONS = json.loads(open(os.environ["BENCH_WEB_SESSIONS"]).read())  # noqa: SIM115
HTMX = {"HX-Request": "true"}
_counters = {role: itertools.count() for role in ("users", "witnesses", "operators", "admins")}


class Person(HttpUser):
    abstract = True
    role = "users"

    def on_start(self) -> None:
        pool = SESSIONS[self.role]
        self.index = next(_counters[self.role]) % len(pool)
        self.client.cookies.set("sessionid", pool[self.index])

    def get(self, path: str, name: str | None = None, **kwargs) -> None:
        with self.client.get(path, name=name or path, catch_response=True, **kwargs) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code} {r.text[:200]}")


class User(Person):
    """A depositor: the first one simulated is the heavy user (18,000 deposits)."""

    weight = 12
    wait_time = between(1, 5)

    @task(2)
    def account(self) -> None:
        self.get("/account/")

    @task(3)
    def deposits(self) -> None:
        self.get("/deposits/")

    @task(10)
    def deposits_poll(self) -> None:
        self.get("/deposits/?page=1", name="/deposits/ (htmx poll)", headers=HTMX)

    @task(2)
    def withdrawals(self) -> None:
        self.get("/withdrawals/")

    @task(6)
    def withdrawals_poll(self) -> None:
        self.get("/withdrawals/?page=1", name="/withdrawals/ (htmx poll)", headers=HTMX)

    @task(1)
    def withdrawal_request(self) -> None:
        token = self.client.cookies.get("csrftoken")
        if token is None:
            self.get("/withdrawals/")
            token = self.client.cookies.get("csrftoken")
        body = {"amount": "0.0002", "request_id": str(uuid.uuid4())}
        headers = {"X-CSRFToken": token or "", "Referer": self.host + "/withdrawals/"}
        with self.client.post(
            "/api/v1/withdrawals", json=body, headers=headers, catch_response=True
        ) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:200]}")


class WitnessPerson(Person):
    role = "witnesses"
    weight = 2
    wait_time = between(2, 8)

    @task(1)
    def inbox(self) -> None:
        self.get("/proposals/")

    @task(4)
    def inbox_poll(self) -> None:
        self.get("/proposals/?page=1", name="/proposals/ (htmx poll)", headers=HTMX)


class Operator(Person):
    role = "operators"
    weight = 1
    wait_time = between(2, 8)

    @task
    def son_page(self) -> None:
        name = SESSIONS["sons"][self.index % len(SESSIONS["sons"])]
        self.get(f"/son/{name}/", name="/son/<name>/")


class Administrator(Person):
    role = "admins"
    weight = 1
    wait_time = between(2, 8)

    @task(1)
    def index(self) -> None:
        self.get("/admin/")

    @task(3)
    def status_panel(self) -> None:
        self.get("/admin/status/", name="/admin/status/ (htmx poll)", headers=HTMX)

    @task(1)
    def deposits(self) -> None:
        self.get("/admin/sidechains/deposit/")


class Visitor(HttpUser):
    weight = 2
    wait_time = between(1, 5)

    @task(2)
    def login_page(self) -> None:
        self.client.get("/login/")

    @task(2)
    def health(self) -> None:
        # 503 is an answer too: the benchmark runs no Bitcoin node and no signers.
        with self.client.get("/healthz", name="/healthz (anonymous)", catch_response=True) as r:
            if r.status_code in (200, 503):
                r.success()
            else:
                r.failure(str(r.status_code))

    @task(1)
    def static(self) -> None:
        self.client.get("/static/sonportal/site.css", name="/static/ (WhiteNoise)")
