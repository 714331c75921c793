"""The listener benchmark's scanning process: the portal's listener, alone in a fresh process.

    python -m bench.listener.scanner bulk --end HEIGHT   scan up to HEIGHT as fast as it goes
    python -m bench.listener.scanner live --end HEIGHT   poll continuously, report each commit

Configured like the portal (DATABASE_*, BITCOIN_RPC_*); the cursor must exist. Writes one JSON
object per line to stdout (logs go to stderr), so its own peak RSS is what it reports.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def emit(**fields) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def peak_rss_kb() -> int:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: on Linux ru_maxrss survives
    exec, so a child would report its parent's size at fork time if that was larger."""
    try:
        status = open("/proc/self/status").read()  # noqa: SIM115
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1])


def postgres_memory_kb() -> dict[str, int]:
    """The database backend serving this process: peak RSS (with the shared buffers it touched)
    and its private memory now, from /proc (empty if PostgreSQL runs elsewhere)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT pg_backend_pid()")
        pid = c.fetchone()[0]
    try:
        lines = open(f"/proc/{pid}/status").read().splitlines()  # noqa: SIM115
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {k: int(fields[k].split()[0]) for k in ("VmHWM", "RssAnon") if k in fields}


def cursor_height() -> int:
    from sidechains.models import ChainCursor

    return ChainCursor.objects.get(chain="bitcoin").height


def bulk(rpc, end: int) -> None:
    from sidechains.bitcoin.listener import listener_scan

    started, cpu = time.perf_counter(), time.process_time()
    blocks = 0
    while cursor_height() < end:
        blocks += listener_scan(rpc=rpc, max_blocks=1000)
    emit(
        event="scanned",
        blocks=blocks,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu,
        peak_rss_kb=peak_rss_kb(),
        postgres=postgres_memory_kb(),
    )


def live(rpc, end: int) -> None:
    from sidechains.bitcoin.listener import listener_scan

    height = cursor_height()
    while height < end:
        if listener_scan(rpc=rpc, max_blocks=1):
            height = cursor_height()
            emit(event="recorded", height=height, at=time.time())
        else:
            time.sleep(0.002)
    emit(event="done", peak_rss_kb=peak_rss_kb())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.listener.scanner")
    parser.add_argument("mode", choices=["bulk", "live"])
    parser.add_argument("--end", type=int, required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from sidechains.bitcoin.node import bitcoin_rpc

    rpc = bitcoin_rpc()
    emit(event="ready", peak_rss_kb=peak_rss_kb())
    (bulk if args.mode == "bulk" else live)(rpc, args.end)


if __name__ == "__main__":
    main()
