"""The portal under load with a large database: `python -m bench.web` (bench/README.md).

Seeds its own database by COPY (100,000 users, 1,000,000 deposits, 200,000 withdrawals, 10,000
proposals by default; reused on later runs unless --fresh), starts a Celery worker and the
portal under gunicorn, times the admin deposit changelist alone, then drives a mix of people
with Locust (headless, bounded) and prints p50/p95/p99 per page, failures and requests/s.
"""

import argparse
import csv
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
TARGET_P95_MS = 150
TARGET_CHANGELIST_MS = 500


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--deposits", type=int, default=1_000_000)
    parser.add_argument("--withdrawals", type=int, default=200_000)
    parser.add_argument("--proposals", type=int, default=10_000)
    parser.add_argument("--database", default="sonportal_bench_web")
    parser.add_argument("--fresh", action="store_true", help="seed again even if seeded")
    parser.add_argument("--clients", type=int, default=50, help="concurrent Locust users")
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--duration", type=int, default=180, help="seconds of load")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args(argv)
    if args.deposits < 20_000 or args.users < 10 or args.proposals < 200:
        parser.error("at least 20,000 deposits, 10 users and 200 proposals")
    return args


def configure(args: argparse.Namespace) -> dict[str, str]:
    """Production-like settings on the test stack's PostgreSQL and Redis."""
    if "SECRET_KEY" not in os.environ and "SECRET_KEY_FILE" not in os.environ:
        sys.exit("Load the test stack's settings first: set -a; . .stack/test/env; set +a")
    os.environ.update(
        DATABASE_NAME=args.database,
        DATABASE_CONN_MAX_AGE="60",
        HEALTH_PUBLIC_CACHE="10",
        HEALTH_LEDGER_CACHE="60",
        HEALTH_BROKER_TIMEOUT="2",
        DEBUG="false",
        LOG_LEVEL="WARNING",
    )
    return dict(os.environ)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # answering
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


class Processes:
    def __init__(self, logs: Path) -> None:
        self.logs, self.running = logs, []

    def start(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running.append(process)

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def seed(args: argparse.Namespace):
    from django.core.management import call_command
    from django.db import connections

    from bench.web import seed as seeding
    from bench.web import world

    shape = seeding.Shape(args.users, args.deposits, args.withdrawals, args.proposals)
    reuse = not args.fresh and seeding.database_exists(args.database)
    if reuse:
        call_command("migrate", verbosity=0)
        reuse = seeding.seeded(shape)
    if reuse:
        print(f"Reusing the seeded database {args.database} (--fresh seeds it again)")
    else:
        connections.close_all()
        seeding.recreate_database(args.database)
        print(f"Seeding {args.users:,} users, {args.deposits:,} deposits, ", end="")
        print(f"{args.withdrawals:,} withdrawals, {args.proposals:,} proposals (COPY)")
        timings = seeding.seed(shape)
        for part, seconds in timings.items():
            print(f"  {part:<30} {seconds:8.1f} s")
        print(f"  {'total':<30} {sum(timings.values()):8.1f} s")
    world.build(shape)
    return shape


def time_changelist(url: str, session: str) -> dict[str, list[float]]:
    """The admin deposit changelist at full size, alone on the machine: 5 loads of each view."""
    views = {
        "changelist": "/admin/sidechains/deposit/",
        "filtered (status)": "/admin/sidechains/deposit/?status__exact=credited",
        "search by txid": "/admin/sidechains/deposit/?q=" + _a_txid(),
        "search by username": "/admin/sidechains/deposit/?q=user_1",
    }
    times: dict[str, list[float]] = {}
    for label, path in views.items():
        request = urllib.request.Request(url + path, headers={"Cookie": f"sessionid={session}"})
        times[label] = []
        for _ in range(6):
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                assert response.status == 200, response.status
            times[label].append((time.perf_counter() - started) * 1000)
        times[label] = times[label][1:]  # the first warms the worker
    return times


def _a_txid() -> str:
    import hashlib

    return hashlib.sha256(b"deposit-12345").hexdigest()


def run_locust(args: argparse.Namespace, url: str, sessions: Path, folder: Path) -> Path:
    prefix = folder / "locust"
    argv = [PYTHON, "-m", "locust", "-f", str(ROOT / "bench/web/locustfile.py"), "--headless"]
    argv += ["-u", str(args.clients), "-r", str(args.spawn_rate), "-t", f"{args.duration}s"]
    argv += ["--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]
    env = {**os.environ, "BENCH_WEB_SESSIONS": str(sessions)}
    with open(folder / "locust.log", "wb") as log:
        subprocess.run(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    return Path(f"{prefix}_stats.csv")


def report(stats: Path, changelist: dict[str, list[float]], args: argparse.Namespace) -> None:
    rows = list(csv.DictReader(stats.open()))
    print(f"\nLocust: {args.clients} users, {args.duration} s, gunicorn {args.workers} workers")
    print(
        f"{'page':<34} {'requests':>9} {'fails':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'req/s':>7}"
    )
    missed = []
    for row in rows:
        name = "all pages" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
        p95 = float(row["95%"] or 0)
        print(
            f"{name[:34]:<34} {int(row['Request Count']):>9,} {int(row['Failure Count']):>6} "
            f"{row['50%']:>6} {row['95%']:>6} {row['99%']:>6} {float(row['Requests/s']):>7.1f}"
        )
        if row["Name"] != "Aggregated" and p95 >= TARGET_P95_MS:
            missed.append(name)
    total = next(r for r in rows if r["Name"] == "Aggregated")
    print("(milliseconds)")
    print(f"\nAdmin deposit changelist at {args.deposits:,} rows, alone (median of 5, ms):")
    for label, times in changelist.items():
        print(f"  {label:<22} {statistics.median(times):7.0f}  (max {max(times):.0f})")
    slow = max(statistics.median(t) for t in changelist.values())
    print(f"\nTargets: p95 < {TARGET_P95_MS} ms per page: ", end="")
    print("met" if not missed else f"missed by {', '.join(missed)}")
    print(f"         admin changelist < {TARGET_CHANGELIST_MS} ms: ", end="")
    print("met" if slow < TARGET_CHANGELIST_MS else f"missed ({slow:.0f} ms)")
    print(f"         0 failures: {'met' if total['Failure Count'] == '0' else 'missed'}")


def start_portal(processes: Processes, port: int, workers: int) -> None:
    """A Celery worker (for /healthz's broker round trip) and gunicorn."""
    worker = ["worker", "-l", "warning", "--concurrency", "1", "-n", "bench-web@%h"]
    worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    processes.start("worker", [PYTHON, "-m", "celery", "-A", "sonportal", *worker])
    bind = ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "120"]
    processes.start("gunicorn", [PYTHON, "-m", "gunicorn", "sonportal.wsgi", *bind])


def record_health(stop: threading.Event, every: float) -> None:
    """What beat's health task does in production: run the checks every `every` seconds and
    store them, so the status panel and /healthz read a fresh report under the load."""
    from django.db import connection

    from sonportal.health import health_record

    while not stop.is_set():
        started = time.perf_counter()
        health_record(ran_on="the benchmark")
        HEALTH_RUNS.append((time.perf_counter() - started) * 1000)
        stop.wait(every)
    connection.close()


HEALTH_RUNS: list[float] = []


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure(args)
    import django

    django.setup()
    started = time.perf_counter()
    shape = seed(args)
    print(f"Database ready in {time.perf_counter() - started:.1f} s")
    from bench.web import world

    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    sessions = folder / "sessions.json"
    cookies = world.sessions(shape, 500, sessions)
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    processes = Processes(folder)
    stop = threading.Event()
    from django.conf import settings

    health = threading.Thread(target=record_health, args=(stop, settings.HEALTH_CHECK_EVERY))
    try:
        start_portal(processes, port, args.workers)
        health.start()
        wait_for(url + "/login/")
        changelist = time_changelist(url, cookies["admins"][0])
        print(f"Load: {args.clients} users for {args.duration} s (logs in {folder})")
        stats = run_locust(args, url, sessions, folder)
        report(stats, changelist, args)
        runs = ", ".join(f"{ms:.0f}" for ms in HEALTH_RUNS)
        print(f"\nHealth checks stored (beat's task, off the request path), ms: {runs}")
    finally:
        stop.set()
        processes.stop()


if __name__ == "__main__":
    main()
