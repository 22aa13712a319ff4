"""Where ingest's CPU goes, process by process: microseconds a signal.

`bench/serve.py` says how fast; this says who pays. It runs one load with wrk
(2 threads, 16 connections, as serve.py does) against a real `escalade serve`
and reads each process's user and system time from `/proc` before and after:
the API, the worker (when apart), every PostgreSQL process together, and wrk
itself. Rounds repeat the same load, so a change measured against the code
before it can be interleaved with it in the same minutes (this machine's
speed drifts by a fifth from one minute to the next).

    .venv/bin/python bench/processes.py [--postgres URL] [--batch 1] [--at-once]
        [--shape serve|apart|api] [--duration 5] [--rounds 3]

`--shape api` is `serve --no-engine` beside a worker that is stopped (SIGSTOP)
for the load: the API alone, as in a burst the router has not caught up with.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from serve import ONE_SIGNAL, Sink, batch_body, escalade, reset_schema, wrk

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Times:
    """Seconds of CPU, user and system."""

    user: float = 0.0
    system: float = 0.0

    def __add__(self, other: Times) -> Times:
        return Times(self.user + other.user, self.system + other.system)

    def __sub__(self, other: Times) -> Times:
        return Times(self.user - other.user, self.system - other.system)


def of_process(pid: int) -> Times:
    """A process's CPU so far, its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return Times(int(fields[11]) / TICK, int(fields[12]) / TICK)


def of_all(pids: Iterable[int]) -> Times:
    total = Times()
    for pid in pids:
        try:
            total += of_process(pid)
        except FileNotFoundError:
            continue  # gone between the listing and the read
    return total


def of_postgres() -> dict[int, Times]:
    """Every process named `postgres` (backends, writers, checkpointer) and its
    CPU so far. Backends come and go (the API opens its inbox connection at its
    first commit), so each reading lists them again."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found[int(entry.name)] = of_process(int(entry.name))
            except OSError:
                continue  # gone between the listing and the read
    return found


def grown(before: dict[int, Times], after: dict[int, Times]) -> Times:
    """CPU spent between two readings by the processes alive at the second
    (one that started in between counts from zero)."""
    total = Times()
    for pid, times in after.items():
        total += times - before.get(pid, Times())
    return total


def of_children() -> Times:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Times(usage.ru_utime, usage.ru_stime)


def per_signal(times: Times, signals: float) -> str:
    us = 1e6 / signals
    return f"{times.user * us:.1f} + {times.system * us:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--batch", type=int, default=1, help="signals per request")
    parser.add_argument("--at-once", action="store_true", help="no Prefer: respond-async")
    parser.add_argument("--shape", choices=("serve", "apart", "api"), default="apart")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    body = ONE_SIGNAL if args.batch == 1 else batch_body(args.batch)
    sink = Sink()
    sink.start()
    print(
        "| round | signals/s accepted | API | worker | PostgreSQL | wrk |\n"
        "|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for n in range(1, args.rounds + 1):
            db_url = reset_schema(args.postgres) if args.postgres else f"sqlite:///{tmp}/b{n}.db"
            pids: list[int] = []
            with escalade(db_url, sink, 1, tmp, apart=args.shape != "serve", pids=pids) as url:
                api, workers = pids[0], pids[1:]
                if args.shape == "api":
                    for pid in workers:
                        os.killpg(pid, signal.SIGSTOP)
                api0, workers0, database0, wrk0 = (
                    of_process(api),
                    of_all(workers),
                    of_postgres(),
                    of_children(),
                )
                rate = wrk(
                    url, "/v1/signals", body, args.duration, tmp, auth=True, queued=not args.at_once
                )
                spent = [  # in the table's order
                    of_process(api) - api0,
                    of_all(workers) - workers0,
                    grown(database0, of_postgres()),
                    of_children() - wrk0,
                ]
            signals = rate * args.batch * args.duration
            used = [per_signal(times, signals) for times in spent]
            if args.shape == "serve":
                used[1] = "(in the API)"
            if not args.postgres:
                used[2] = "(in the API)"
            print(f"| {n} | {rate * args.batch:,.0f} | " + " | ".join(used) + " |")
    print(
        "\nCPU is µs a signal, user + system. "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}, {args.batch} a request, "
        f"{'at once' if args.at_once else 'respond-async'}, shape {args.shape}."
    )


if __name__ == "__main__":
    main()
