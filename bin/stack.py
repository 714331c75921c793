"""Start and stop the project-local stack: PostgreSQL, Redis, bcoin, signers, web, worker, beat.

Everything lives under .stack/<profile>/ (git-ignored): data, logs, pid files and the generated
environment file. Two profiles: "demo" (the whole portal with demo data) and "test" (only the
PostgreSQL and Redis the test suite uses; tests start their own bcoin nodes and workers).

    python bin/stack.py up            # the demo
    python bin/stack.py down          # stop what `up` started
    python bin/stack.py services test # PostgreSQL + Redis for the tests
    python bin/stack.py down test
"""

import argparse
import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORTS = {
    "demo": {
        "postgres": 54320,
        "redis": 63790,
        "bcoin": 48332,
        "hive": 48091,
        "web": 8000,
        "smtp": 10250,
        "mail": 10800,
    },
    "test": {"postgres": 54321, "redis": 63791, "smtp": 10251, "mail": 10801},
}
SIGNERS = 3
HIVE_FEDERATION = "son-federation"
# Blocks come every 3 s on the demo's Hive dev node: a deposit is credited ~15 s after its block.
HIVE_DEMO_LAG = 5
# With a Redis broker, gossip, mingle and heartbeat keep a worker from consuming again after the
# broker restarts (celery/celery#8030, #8091); the portal uses none of them.
WORKER_FLAGS = ["--without-gossip", "--without-mingle", "--without-heartbeat"]


class StackError(Exception):
    pass


def hive_threshold(n: int) -> int:
    """m = n - floor(n/3), the federation's rule (docs/decisions.md)."""
    return n - n // 3


def hive_federation_spec(son_keys: list[str], account: str) -> dict:
    """The federation account for the Hive dev node: its active and owner authorities are the
    SONs' Hive keys ("STM..."), weight 1 each, threshold m; nobody else holds a key to it."""
    authority = {
        "weight_threshold": hive_threshold(len(son_keys)),
        "account_auths": [],
        "key_auths": [[key, 1] for key in son_keys],
    }
    return {
        "name": account,
        "balance": "10000.000 HIVE",
        "hbd_balance": "1000.000 HBD",
        "key": son_keys[0],  # posting and memo keys: they move nothing
        "owner": authority,
        "active": authority,
    }


def hive_signer_section(chain_id: str, account: str) -> dict:
    """A signer's "hive" section (signer/hive_config.py): caps in 0.001 units per 24 h."""
    return {
        "chain_id": chain_id,
        "federation_account": account,
        "daily_caps": {"HIVE": 1_000_000_000, "HBD": 100_000_000},
        "journal": "hive-journal.sqlite",
    }


def demo_hive_wallet(path: Path) -> dict[str, str]:
    """The demo users' Hive private keys (WIF), made once and kept private in `path`."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    sys.path.insert(0, str(ROOT))
    import coincurve

    from devnode.hive.keys import private_key_to_wif

    wallet = {name: private_key_to_wif(coincurve.PrivateKey()) for name in ("carol", "erin")}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(wallet, f)
    return wallet


def hive_user_spec(name: str, wif: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from devnode.hive.keys import private_key_from_wif, public_key_of

    key = public_key_of(private_key_from_wif(wif))
    return {"name": name, "key": key, "balance": "1000.000 HIVE", "hbd_balance": "100.000 HBD"}


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


class Stack:
    def __init__(self, profile: str) -> None:
        self.profile = profile
        # Two checkouts on one machine (say, two branches' test runs at once) each set their own
        # STACK_PORT_OFFSET so that their PostgreSQL, Redis and the rest do not collide.
        offset = int(os.environ.get("STACK_PORT_OFFSET", "0"))
        self.ports = {name: port + offset for name, port in PORTS[profile].items()}
        self.dir = ROOT / ".stack" / profile
        self.pids = self.dir / "pids"
        self.logs = self.dir / "logs"
        for path in (self.dir, self.pids, self.logs):
            path.mkdir(parents=True, exist_ok=True)

    # -- environment ----------------------------------------------------------------------

    def secret_file(self, name: str) -> Path:
        path = self.dir / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        return path

    def env(self) -> dict[str, str]:
        env = {
            "DJANGO_SETTINGS_MODULE": "sonportal.settings",
            "SECRET_KEY_FILE": str(self.secret_file("secret_key")),
            "SOLVENCY_SALT_KEY_FILE": str(self.secret_file("solvency_salt_key")),
            "DATABASE_HOST": "127.0.0.1",
            "DATABASE_PORT": str(self.ports["postgres"]),
            "DATABASE_NAME": "sonportal",
            "DATABASE_USER": "sonportal",
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "BITCOIN_NETWORK": "regtest",
            # Mail goes to the local mail catcher; its web inbox (and JSON API) is MAIL_CATCHER_URL.
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.ports["smtp"]),
            "MAIL_CATCHER_URL": f"http://127.0.0.1:{self.ports['mail']}/",
        }
        if self.profile == "demo":
            env |= {
                "DEBUG": "true",
                "BITCOIN_RPC_URL": f"http://127.0.0.1:{self.ports['bcoin']}/",
                "BITCOIN_RPC_USER": "sonportal",
                "BITCOIN_RPC_PASSWORD_FILE": str(self.secret_file("bcoin_api_key")),
                "BITCOIN_DEPOSIT_TIMELOCK": "144",
                "HIVE_NODE_URL": f"http://127.0.0.1:{self.ports['hive']}/",
                "HIVE_FEDERATION_ACCOUNT": HIVE_FEDERATION,
                # The dev chain starts with the demo: read all of it, never skip a deposit.
                "HIVE_START_BLOCK": "1",
                "DEMO_HIVE_WALLET_FILE": str(self.dir / "demo-hive-wallet.json"),
                "BITCOIN_START_HEIGHT": "600",
                "BITCOIN_CONFIRMATIONS": "10000000:1,100000000:2,*:3",
                "BITCOIN_WITHDRAWAL_CONFIRMATIONS": "1",
                "DEMO_WALLET_FILE": str(self.dir / "demo-wallet.json"),
                "SON_HEARTBEAT_FREQUENCY": "10",
                "SON_DOWN_TIME": "30",
                # Short enough to see a deregistration proposal within the demo.
                "SON_DEREGISTER_TIME": "300",
                "WITNESS_CYCLE": "600",
                "SON_LIVENESS_CHECK_EVERY": "10",
                # bin/demo reads /healthz's details with it while it waits for the stack.
                "HEALTH_TOKEN_FILE": str(self.secret_file("health_token")),
            }
        else:
            # Tests start their own bcoin nodes and point the client at them. Live-server
            # threads must not keep connections that block dropping the test database.
            env["BITCOIN_RPC_URL"] = "http://127.0.0.1:9/"
            env["DATABASE_CONN_MAX_AGE"] = "0"
            # Each test sees the health it set up, not an answer kept from an earlier one.
            env["HEALTH_PUBLIC_CACHE"] = "0"
            env["HEALTH_LEDGER_CACHE"] = "0"
            env |= self.test_security_env()
        return env

    @staticmethod
    def test_security_env() -> dict[str, str]:
        """The tests run with DEBUG off, as production does, against plain-HTTP live servers:
        no redirect to HTTPS and no Secure-only cookies there. Throttle rates no test reaches
        unless it lowers them (the throttle tests do)."""
        return {
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "API_THROTTLE_SIGNER": "100000/minute",
            "API_THROTTLE_USER": "100000/minute",
            "API_THROTTLE_ANON": "100000/minute",
            # Every browser test logs in from 127.0.0.1: only per-account limits stay as they
            # are (the login-throttle tests lower the per-address one themselves).
            "LOGIN_LIMIT": "100000/m/ip",
            "LOGIN_FAILED_LIMIT": "100000/m/ip,5/5m/key",
        }

    def write_env_file(self) -> Path:
        path = self.dir / "env"
        path.write_text("".join(f"{k}={v}\n" for k, v in self.env().items()))
        return path

    def process_env(self) -> dict[str, str]:
        return {**os.environ, **self.env()}

    # -- processes --------------------------------------------------------------------------

    def pid_of(self, name: str) -> int | None:
        path = self.pids / f"{name}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text().strip())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink()
            return None
        return pid

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        pid = self.pid_of(name)
        if pid is not None:
            log(f"{name} already running (pid {pid})")
            return pid
        logfile = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or self.process_env(),
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        (self.pids / f"{name}.pid").write_text(str(process.pid))
        log(f"started {name} (pid {process.pid}), log {self.logs / (name + '.log')}")
        return process.pid

    def stop(self, name: str) -> None:
        pid = self.pid_of(name)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)
        log(f"stopped {name} (pid {pid})")

    def wait_for_port(self, name: str, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            if name and self.pid_of(name) is None:
                raise StackError(f"{name} exited; see {self.logs / (name + '.log')}")
            time.sleep(0.2)
        raise StackError(f"{name} did not listen on port {port} within {timeout:.0f} s")

    # -- PostgreSQL -------------------------------------------------------------------------

    def pg_bin(self, tool: str) -> str:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
        if not found:
            raise StackError("PostgreSQL server binaries not found; run bin/bootstrap first.")
        return found[-1]

    def as_postgres(self, argv: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root.
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def pg_dir(self) -> Path:
        """The cluster's folder: under .stack unless the postgres user cannot reach it there
        (a checkout under /root, say); then a folder of its own under /var/tmp."""
        local = self.dir / "pg"
        if os.geteuid() != 0:
            return local
        reach = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(self.dir)])
        if reach.returncode == 0:
            return local
        digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
        return Path(f"/var/tmp/sonportal-{digest}/{self.profile}/pg")

    def start_postgres(self) -> None:
        pg = self.pg_dir()
        pg.mkdir(parents=True, exist_ok=True)
        data, run = pg / "data", pg / "run"
        run.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(pg, "postgres")
            shutil.chown(run, "postgres")
            pg.chmod(0o700)
        if not (data / "PG_VERSION").exists():
            initdb = [self.pg_bin("initdb"), "-D", str(data), "-U", "sonportal"]
            initdb += ["--auth=trust", "-E", "UTF8", "--no-locale"]
            subprocess.run(self.as_postgres(initdb), check=True, stdout=subprocess.DEVNULL, cwd="/")
        if (data / "postmaster.pid").exists() and self.postgres_ready():
            log("postgres already running")
        else:
            options = f"-p {self.ports['postgres']} -k {run} -c listen_addresses=127.0.0.1"
            if self.profile == "test":
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            ctl = [self.pg_bin("pg_ctl"), "-D", str(data), "-l", str(pg / "postgres.log")]
            ctl += ["-o", options, "-w", "-t", "60", "start"]
            subprocess.run(self.as_postgres(ctl), check=True, stdout=subprocess.DEVNULL, cwd="/")
            log(f"started postgres on 127.0.0.1:{self.ports['postgres']}")
        self.psql("SELECT 1 FROM pg_database WHERE datname = 'sonportal'", create_db=True)

    def postgres_ready(self) -> bool:
        ready = subprocess.run(
            [self.pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.ports["postgres"])],
            stdout=subprocess.DEVNULL,
        )
        return ready.returncode == 0

    def psql(self, query: str, *, create_db: bool = False) -> None:
        base = [self.pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.ports["postgres"])]
        base += ["-U", "sonportal", "-d", "postgres", "-tA"]
        out = subprocess.run([*base, "-c", query], check=True, capture_output=True, text=True)
        if create_db and out.stdout.strip() != "1":
            subprocess.run([*base, "-c", "CREATE DATABASE sonportal"], check=True)

    def stop_postgres(self) -> None:
        data = self.pg_dir() / "data"
        if not (data / "postmaster.pid").exists():
            return
        ctl = [self.pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
        subprocess.run(self.as_postgres(ctl), stdout=subprocess.DEVNULL, cwd="/")
        log("stopped postgres")

    # -- Redis --------------------------------------------------------------------------------

    def start_redis(self) -> None:
        redis_dir = self.dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        argv = ["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1"]
        argv += ["--dir", str(redis_dir), "--save", "", "--appendonly", "no"]
        self.spawn("redis", argv)
        self.wait_for_port("redis", self.ports["redis"])

    # -- the demo -----------------------------------------------------------------------------

    def start_mail(self) -> None:
        """maildev (tools/node, installed by bin/bootstrap): an SMTP server that keeps every mail
        it gets, with a web inbox and a JSON API (GET /email) the tests read."""
        argv = ["node", "tools/node/node_modules/maildev/bin/maildev", "--ip", "127.0.0.1"]
        argv += ["--smtp", str(self.ports["smtp"]), "--web", str(self.ports["mail"]), "--silent"]
        self.spawn("mail", argv)
        self.wait_for_port("mail", self.ports["mail"])
        self.wait_for_port("mail", self.ports["smtp"])

    def services(self) -> None:
        self.start_postgres()
        self.start_redis()
        self.start_mail()
        self.write_env_file()

    def start_bcoin(self) -> None:
        env = self.process_env() | {
            "BCOIN_HTTP_PORT": str(self.ports["bcoin"]),
            "BCOIN_API_KEY": self.secret_file("bcoin_api_key").read_text().strip(),
            "BCOIN_DATA_DIR": str(self.dir / "bcoin"),
        }
        (self.dir / "bcoin").mkdir(exist_ok=True)
        self.spawn("bcoin", ["node", "devnode/bitcoin/regtest.js"], env)
        self.wait_for_port("bcoin", self.ports["bcoin"])

    def start_hive(self, son_hive_keys: list[str]) -> None:
        """The Hive dev node, with the federation account (its active and owner authority the
        SONs' keys, threshold m) and an account for each demo user, whose private keys only the
        demo's Hive wallet file holds (it plays the users' own Hive wallets)."""
        folder = self.dir / "hive"
        folder.mkdir(exist_ok=True)
        wallet_file, chain = self.dir / "demo-hive-wallet.json", folder / "chain.jsonl"
        if chain.exists() and not wallet_file.exists():
            # A chain from before the demo paid Hive: its users' keys were never kept.
            log("the Hive dev chain predates the demo's Hive wallet: starting a new chain")
            chain.unlink()
        wallet = demo_hive_wallet(wallet_file)
        specs = [hive_federation_spec(son_hive_keys, HIVE_FEDERATION)]
        specs += [hive_user_spec(name, wif) for name, wif in sorted(wallet.items())]
        (folder / "accounts.json").write_text(json.dumps(specs, indent=2))
        argv = [PYTHON, "-m", "devnode.hive", "--port", str(self.ports["hive"])]
        argv += ["--state-file", str(chain), "--accounts", str(folder / "accounts.json")]
        argv += ["--irreversible-lag", str(HIVE_DEMO_LAG)]
        self.spawn("hive", argv)
        self.wait_for_port("hive", self.ports["hive"])

    def hive_chain_id(self) -> str:
        """The dev node's chain id, as its get_config reports it (signers check it)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "database_api.get_config"})
        url = f"http://127.0.0.1:{self.ports['hive']}/"
        request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.load(response)["result"]["HIVE_CHAIN_ID"])

    def manage(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.process_env(),
            check=True,
            text=True,
            stdout=subprocess.PIPE if capture else None,
        )
        return result.stdout or ""

    def signer_env(self, index: int) -> dict[str, str]:
        (self.dir / f"signer-{index}").mkdir(mode=0o700, exist_ok=True)
        path = self.secret_file(f"signer-{index}/passphrase")
        # A signer gets no portal secret: it is a separate trust domain.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SECRET"))}
        return env | {"SIGNER_PASSPHRASE_FILE": str(path)}

    def signer_public_keys(self, index: int) -> dict[str, str]:
        key = self.dir / f"signer-{index}" / "key.json"
        command = "pubkeys" if key.exists() else "keygen"
        flag = "--key" if key.exists() else "--out"
        out = subprocess.run(
            [PYTHON, "-m", "signer", command, flag, str(key)],
            cwd=ROOT,
            env=self.signer_env(index),
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    def write_signer_configs(self, federation_keys: list[str], hive_chain_id: str) -> None:
        """Each signer's own view of the federation (docs/signer.md): in production its
        operator writes it; nothing in it comes from the portal."""
        env = self.env()
        for i in range(1, SIGNERS + 1):
            config = {
                "network": env["BITCOIN_NETWORK"],
                "federation_keys": federation_keys,
                "deposit_timelock": int(env["BITCOIN_DEPOSIT_TIMELOCK"]),
                "max_feerate": 50,
                "max_fee": 1_000_000,
                "daily_cap": 100 * 100_000_000,
                "journal": "journal.sqlite",
                "hive": hive_signer_section(hive_chain_id, HIVE_FEDERATION),
            }
            (self.dir / f"signer-{i}" / "config.json").write_text(json.dumps(config, indent=2))

    def up(self) -> None:
        self.services()
        self.start_bcoin()
        sons = []
        for i in range(1, SIGNERS + 1):
            keys = self.signer_public_keys(i)
            token_file = self.dir / f"signer-{i}" / "token"
            sons.append({"name": f"son-{i}", **keys, "token_file": str(token_file)})
        self.start_hive([son["hive"] for son in sons])
        self.manage("migrate", "--noinput", "-v", "0")
        for i in range(1, SIGNERS + 1):
            self.stop(f"signer-{i}")  # seeding issues new tokens; signers restart with them
        self.write_signer_configs([son["bitcoin"] for son in sons], self.hive_chain_id())
        sons_file = self.dir / "sons.json"
        sons_file.write_text(json.dumps(sons))
        logins = self.manage("seed_demo", "--sons", str(sons_file), capture=True)
        # Segwit is active on bcoin's regtest after ~432 blocks.
        self.manage("demo_wallet", "mine", "--to-height", "600")
        web = f"http://127.0.0.1:{self.ports['web']}"
        self.manage("collectstatic", "--noinput", "-v", "0")
        # As in production (README "Processes in production"): gunicorn, two workers per core.
        workers = str(2 * (os.cpu_count() or 1))
        gunicorn = [PYTHON, "-m", "gunicorn", "sonportal.wsgi", "--bind", web[7:]]
        gunicorn += ["--workers", workers, "--timeout", "60", "--access-logfile", "-"]
        self.spawn("web", gunicorn)
        self.wait_for_port("web", self.ports["web"])
        celery = [PYTHON, "-m", "celery", "-A", "sonportal"]
        self.spawn("worker", [*celery, "worker", "-l", "info", "--concurrency", "2", *WORKER_FLAGS])
        self.spawn("beat", [*celery, "beat", "-l", "info"])
        # A block every 15 s, so deposits confirm in the demo.
        self.spawn("miner", [PYTHON, "manage.py", "demo_wallet", "mine", "--every", "15"])
        for i in range(1, SIGNERS + 1):
            folder = self.dir / f"signer-{i}"
            argv = [PYTHON, "-m", "signer", "serve", "--key", str(folder / "key.json")]
            argv += ["--config", str(folder / "config.json")]
            argv += ["--portal-url", web, "--token-file", str(folder / "token")]
            argv += ["--heartbeat-every", "5", "--poll-every", "5"]
            self.spawn(f"signer-{i}", argv, self.signer_env(i))
        self.wait_healthy(web)
        self.demo_hive_deposit()
        print(f"\nSON portal is running at {web}/\n")
        print(logins)
        print(f"Health: {web}/healthz   Stop: bin/demo stop   Logs: {self.logs}/")
        print("A deposit from the demo wallet, once user_carol has registered Bitcoin addresses:")
        print(f"  set -a; . {self.dir / 'env'}; set +a")
        print("  .venv/bin/python manage.py demo_wallet deposit --user user_carol --btc 0.5")
        print("A Hive deposit from the demo's Hive wallet (@erin is then user_erin's account):")
        print("  .venv/bin/python manage.py demo_hive deposit --user user_erin --account erin")
        print(f"Environment for manage.py: set -a; . {self.dir / 'env'}; set +a")

    def demo_hive_deposit(self) -> None:
        """user_carol's Hive account, proved by a deposit carrying the claim's code, credited
        (once: a re-run finds the deposit credited and sends nothing)."""
        try:
            self.manage(
                "demo_hive", "deposit", "--user", "user_carol", "--account", "carol", "--once"
            )
        except subprocess.CalledProcessError as e:
            log(f"the demo's Hive deposit failed ({e}); see the output above")

    def wait_healthy(self, web: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        report: dict = {}
        token = self.secret_file("health_token").read_text().strip()
        request = urllib.request.Request(
            f"{web}/healthz", headers={"Authorization": f"Bearer {token}"}
        )
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    report = json.load(response)
            except urllib.error.HTTPError as e:
                report = json.load(e)
            except OSError:
                pass
            if report.get("status") == "ok":
                return
            time.sleep(2)
        down = [c for c in report.get("checks", []) if not c["ok"]]
        log(f"not every component is up yet: {down}")

    def down(self) -> None:
        names = ["signer-3", "signer-2", "signer-1", "miner", "beat", "worker", "web", "hive"]
        names.append("bcoin")
        names += ["mail", "redis"]
        for name in names:
            self.stop(name)
        self.stop_postgres()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "services", "env"])
    parser.add_argument("profile", nargs="?", default="demo", choices=sorted(PORTS))
    args = parser.parse_args()
    if args.command == "up" and args.profile != "demo":
        parser.error("`up` runs the demo profile; the tests use `services test`.")
    stack = Stack(args.profile)
    try:
        if args.command == "env":
            print(stack.write_env_file())
        else:
            getattr(stack, args.command)()
    except (StackError, subprocess.CalledProcessError) as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
