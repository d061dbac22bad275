"""Run the Locust load test headless against a running graph for a bounded time.

``python -m loadtests.locust_run --host http://127.0.0.1:8000 --users 8 --spawn-rate 4
--run-time 60s --out-dir loadtests/results/<timestamp>``

Checks that the host is local (unless ``--allow-remote``) and that ``GET /healthz`` answers
200, runs ``locust -f loadtests/locustfile.py --headless ...`` with a hard timeout, writes
``OUT/locust_stats.csv`` (and Locust's other CSVs) and ``OUT/locust.html``, and prints a
one-line summary of the Aggregated row. Exits non-zero when Locust fails, when no request
completes, or when the failure ratio exceeds ``--max-failure-ratio``.

Start the graph (``serve run serve_config.yaml``) and ingest the sample corpus
(``python -m graph.ingest graph/sample_corpus``) first: queries without citations count as
failures. The ``RAG_LOCUST_*`` environment variables (see ``loadtests/locustfile.py``) are
passed through to the users.
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from loadtests.workload import check_run_token, new_run_token, settings_from_env

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
RESULTS_DIR = Path(__file__).with_name("results")
#: Longest accepted ``--run-time``.
MAX_RUN_TIME_S = 3600
#: Extra time Locust gets beyond ``--run-time`` (start-up, shutdown, reports) before it is killed.
GRACE_S = 60
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


class RunError(RuntimeError):
    """The load test could not run, or its result is not acceptable."""


def parse_run_time(text: str) -> int:
    """Seconds in a Locust-style duration: ``"90"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1m30s"``.

    Args:
        text: The ``--run-time`` value.

    Returns:
        The duration in seconds, 1..3600.

    Raises:
        ValueError: Not a duration, zero, or longer than an hour; the message names --run-time.

    Example:
        >>> parse_run_time("1m30s"), parse_run_time("45")
        (90, 45)
    """
    value = text.strip().lower()
    match = _DURATION.match(value) if value else None
    if value.isdigit():
        seconds = int(value)
    elif match and any(match.groupdict().values()):
        parts = {k: int(v or 0) for k, v in match.groupdict().items()}
        seconds = parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    else:
        raise ValueError(
            f"--run-time must be a duration such as 30s, 5m, 1h or 1m30s (got {text!r})"
        )
    if not 1 <= seconds <= MAX_RUN_TIME_S:
        raise ValueError(
            f"--run-time must be between 1s and {MAX_RUN_TIME_S // 3600}h (got {text!r}); "
            "run several bounded tests rather than one unbounded one"
        )
    return seconds


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` is ``localhost`` or a loopback address (127.0.0.0/8, ``::1``).

    Example:
        >>> [is_loopback(h) for h in ("localhost", "127.1.2.3", "::1", "10.0.0.1", "example.com")]
        [True, True, True, False, False]
    """
    name = hostname.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def check_host(url: str, *, allow_remote: bool = False) -> str:
    """Validate ``--host`` and return it without a trailing slash.

    Args:
        url: The graph's base URL, e.g. ``http://127.0.0.1:8000``.
        allow_remote: Accept a host that is not this machine.

    Raises:
        ValueError: Not an http(s) URL with a host, or a remote host without ``allow_remote``.
    """
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"--host has a malformed port (got {url!r})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"--host must be an http(s) URL such as http://127.0.0.1:8000 (got {url!r})"
        )
    if not allow_remote and not is_loopback(parts.hostname):
        raise ValueError(
            f"--host {url!r} is not this machine (localhost, 127.0.0.0/8 or ::1); a load test "
            "of a remote service needs its owner's consent: pass --allow-remote to run it anyway"
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class Summary:
    """The Aggregated row of Locust's ``*_stats.csv``.

    Attributes:
        requests: Requests completed (successes and failures).
        failures: Requests that failed.
        p50_ms: Median response time in milliseconds (None without requests).
        p95_ms: 95th percentile response time in milliseconds (None without requests).
        requests_per_s: Mean throughput over the run.
    """

    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    requests_per_s: float

    @property
    def failure_ratio(self) -> float:
        """Failures per request (0 when no request completed)."""
        return self.failures / self.requests if self.requests else 0.0

    def line(self) -> str:
        """One line for a terminal."""

        def ms(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.0f} ms"

        return (
            f"{self.requests} requests, {self.failures} failures "
            f"({self.failure_ratio:.2%}), {self.requests_per_s:.2f} req/s, "
            f"p50 {ms(self.p50_ms)}, p95 {ms(self.p95_ms)}"
        )


def read_summary(stats_csv: Path) -> Summary:
    """Read the Aggregated row of a Locust ``*_stats.csv``.

    Locust rewrites this file once a second while it runs and does not rewrite it at exit, so
    requests completed in the last second may be missing (the console summary has them).

    Args:
        stats_csv: Path of ``<--csv prefix>_stats.csv``.

    Raises:
        RunError: The file is missing or has no well-formed Aggregated row.
    """
    if not stats_csv.is_file():
        raise RunError(f"Locust wrote no statistics: {stats_csv} does not exist")
    with stats_csv.open(newline="", encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row.get("Name") == "Aggregated"]
    if not rows:
        raise RunError(f"{stats_csv} has no Aggregated row")
    row = rows[-1]
    try:
        return Summary(
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            p50_ms=_optional_float(row["50%"]),
            p95_ms=_optional_float(row["95%"]),
            requests_per_s=float(row["Requests/s"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{stats_csv}: malformed Aggregated row {row!r} ({exc})") from None


def _optional_float(value: str) -> float | None:
    return None if value.strip().upper() in ("", "N/A") else float(value)


def check_health(host: str, *, timeout_s: float = 10.0) -> None:
    """Raise RunError unless ``GET {host}/healthz`` answers 200."""
    hint = "start the graph with `serve run serve_config.yaml` and wait until /healthz is 200"
    try:
        reply = httpx.get(f"{host}/healthz", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise RunError(f"cannot reach the graph at {host} ({exc!r}); {hint}") from None
    if reply.status_code != 200:
        raise RunError(
            f"the graph at {host} is not ready: GET /healthz answered {reply.status_code} "
            f"{reply.text[:300]!r}; {hint}"
        )


def locust_command(
    *,
    host: str,
    users: int,
    spawn_rate: float,
    run_time_s: int,
    out_dir: Path,
    locustfile: Path = LOCUSTFILE,
) -> list[str]:
    """The headless Locust command line (``locustfile``: this project's users by default;
    ``loadtests.overload`` runs the crowd's).

    ``--exit-code-on-error 0`` keeps Locust's exit code for its own failures; request
    failures are judged afterwards against ``--max-failure-ratio``.
    """
    return [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(locustfile),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        f"{run_time_s}s",
        "--host",
        host,
        "--csv",
        str(out_dir / "locust"),
        "--html",
        str(out_dir / "locust.html"),
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.locust_run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="http://127.0.0.1:8000", help="default %(default)s")
    parser.add_argument("--users", type=int, default=8, help="peak users (default %(default)s)")
    parser.add_argument(
        "--spawn-rate", type=float, default=4.0, help="users started per second (default 4)"
    )
    parser.add_argument(
        "--run-time", default="60s", help="30s, 5m, 1h or 1m30s; at most 1h (default 60s)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="report folder (default loadtests/results/<UTC timestamp>)",
    )
    parser.add_argument(
        "--max-failure-ratio",
        type=float,
        default=0.01,
        help="fail the run above this share of failed requests (default %(default)s)",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a --host that is not this machine"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the load test; return 0 on success, 1 when the run failed or is not acceptable."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        host = check_host(args.host, allow_remote=args.allow_remote)
        run_time_s = parse_run_time(args.run_time)
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.users <= 10_000:
        parser.error(f"--users must be between 1 and 10000 (got {args.users})")
    if not 0 < args.spawn_rate <= 1_000:
        parser.error(f"--spawn-rate must be above 0 and at most 1000 (got {args.spawn_rate})")
    if not 0 <= args.max_failure_ratio <= 1:
        parser.error(f"--max-failure-ratio must be between 0 and 1 (got {args.max_failure_ratio})")
    out_dir: Path = args.out_dir or RESULTS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        return _run(args, host=host, run_time_s=run_time_s, out_dir=out_dir.resolve())
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, *, host: str, run_time_s: int, out_dir: Path) -> int:
    stats_csv = out_dir / "locust_stats.csv"
    if stats_csv.exists():
        raise RunError(f"{stats_csv} already exists; choose a new --out-dir")
    check_health(host)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        settings_from_env(os.environ)  # the users would fail on the same check, less clearly
        run_token = check_run_token(
            os.environ.get("RAG_LOCUST_RUN_TOKEN") or new_run_token(), "RAG_LOCUST_RUN_TOKEN"
        )
    except ValueError as exc:
        raise RunError(str(exc)) from None
    command = locust_command(
        host=host,
        users=args.users,
        spawn_rate=args.spawn_rate,
        run_time_s=run_time_s,
        out_dir=out_dir,
    )
    print(
        f"locust: {args.users} users for {run_time_s}s against {host}; "
        f"documents ingested as loadtest-{run_token}-*",
        flush=True,
    )
    env = {**os.environ, "RAG_LOCUST_RUN_TOKEN": run_token}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, timeout=run_time_s + GRACE_S)
    except subprocess.TimeoutExpired:
        raise RunError(
            f"locust did not finish within --run-time + {GRACE_S}s and was killed; "
            f"partial reports may be in {out_dir}"
        ) from None
    except OSError as exc:
        raise RunError(
            f"cannot start {command[0]} ({exc}); install the dev extra: pip install -e '.[dev]'"
        ) from None
    if done.returncode != 0:
        raise RunError(f"locust exited with {done.returncode}; see its output above")
    summary = read_summary(stats_csv)
    print(f"reports: {stats_csv} and {out_dir / 'locust.html'}")
    print(f"summary: {summary.line()}")
    if summary.requests == 0:
        raise RunError("no request completed; is the graph answering?")
    if summary.failure_ratio > args.max_failure_ratio:
        raise RunError(
            f"failure ratio {summary.failure_ratio:.2%} exceeds --max-failure-ratio "
            f"{args.max_failure_ratio:.2%}; see {out_dir / 'locust_failures.csv'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
