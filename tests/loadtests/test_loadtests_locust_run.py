"""The headless Locust runner's pure parts: host check, durations, the stats CSV, arguments."""

from __future__ import annotations

import doctest
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests import locust_run
from loadtests.locust_run import (
    GRACE_S,
    RunError,
    Summary,
    check_host,
    is_loopback,
    locust_command,
    main,
    parse_run_time,
    read_summary,
)

# Header and rows as Locust 2.47.0 writes <prefix>_stats.csv (from a real run).
STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
STATS_ROWS = (
    "POST,/v1/documents,9,0,3,4.855687222112061,2.4777059988991823,19.791120999798295,151.0,"
    "4.602942494458908,0.0,3,3,3,4,20,20,20,20,20,20,20",
    "POST,/v1/query complex,5,1,3,4.505518600126379,2.739397001278121,9.519781000562944,158.0,"
    "2.5571902746993933,0.5,3,4,4,10,10,10,10,10,10,10,10",
    "POST,/v1/query simple,23,0,3,4.03948886955534,2.4513959997420898,13.700280000193743,158.0,"
    "11.76307526361721,0.0,3,3,3,3,7,12,14,14,14,14,14",
    ",Aggregated,37,1,3,4.301000594578737,2.4513959997420898,19.791120999798295,"
    "156.2972972972973,18.923208032775513,0.5,3,3,3,4,10,14,20,20,20,20,20",
)
EMPTY_AGGREGATED = ",Aggregated,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A"


def _write(path: Path, *rows: str) -> Path:
    path.write_text("\r\n".join((STATS_HEADER, *rows)) + "\r\n", encoding="utf-8")
    return path


def test_doctests() -> None:
    assert doctest.testmod(locust_run).failed == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
        ("45", 45),
        (" 10S ", 10),
        ("1s", 1),
    ],
)
def test_parse_run_time(text: str, seconds: int) -> None:
    assert parse_run_time(text) == seconds


@pytest.mark.parametrize("text", ["", "fast", "10 s", "1.5m", "-5s", "5d", "s", "10s5m", "1h-"])
def test_parse_run_time_rejects_garbage_naming_the_option(text: str) -> None:
    with pytest.raises(ValueError, match=r"--run-time must be a duration such as 30s"):
        parse_run_time(text)


@pytest.mark.parametrize("text", ["0s", "0", "61m", "1h1s", "2h", "3601"])
def test_parse_run_time_rejects_zero_and_over_an_hour(text: str) -> None:
    with pytest.raises(ValueError, match=r"--run-time must be between 1s and 1h"):
        parse_run_time(text)


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "127.0.0.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1"],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "10.0.0.5", "192.168.1.1", "::", "example.com", "localhost.example.com"]
)
def test_remote_hosts(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://localhost:8000/",
        "https://127.0.0.2",
        "http://[::1]:8000",
    ],
)
def test_check_host_accepts_this_machine(url: str) -> None:
    assert check_host(url) == url.rstrip("/")


def test_check_host_refuses_a_remote_host_unless_allowed() -> None:
    with pytest.raises(ValueError, match="not this machine.*--allow-remote"):
        check_host("http://10.1.2.3:8000")
    assert check_host("http://10.1.2.3:8000", allow_remote=True) == "http://10.1.2.3:8000"


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8000", "ftp://127.0.0.1", "http://", "localhost", "http://:8000"]
)
def test_check_host_wants_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="--host must be an http"):
        check_host(url, allow_remote=True)


def test_check_host_names_a_malformed_port() -> None:
    with pytest.raises(ValueError, match="--host has a malformed port"):
        check_host("http://127.0.0.1:notaport")


def test_read_summary_takes_the_aggregated_row(tmp_path: Path) -> None:
    summary = read_summary(_write(tmp_path / "locust_stats.csv", *STATS_ROWS))
    assert summary == Summary(
        requests=37, failures=1, p50_ms=3.0, p95_ms=14.0, requests_per_s=18.923208032775513
    )
    assert summary.failure_ratio == pytest.approx(1 / 37)
    assert summary.line() == "37 requests, 1 failures (2.70%), 18.92 req/s, p50 3 ms, p95 14 ms"


def test_read_summary_without_requests(tmp_path: Path) -> None:
    summary = read_summary(_write(tmp_path / "locust_stats.csv", EMPTY_AGGREGATED))
    assert (summary.requests, summary.p50_ms, summary.p95_ms) == (0, None, None)
    assert summary.failure_ratio == 0.0
    assert "p50 n/a, p95 n/a" in summary.line()


def test_read_summary_errors(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="does not exist"):
        read_summary(tmp_path / "missing.csv")
    with pytest.raises(RunError, match="no Aggregated row"):
        read_summary(_write(tmp_path / "a.csv", *STATS_ROWS[:-1]))
    with pytest.raises(RunError, match="malformed Aggregated row"):
        read_summary(_write(tmp_path / "b.csv", ",Aggregated,many,0,3"))


def test_locust_command_is_headless_bounded_and_uses_the_venv(tmp_path: Path) -> None:
    cmd = locust_command(
        host="http://127.0.0.1:8000", users=8, spawn_rate=4.0, run_time_s=60, out_dir=tmp_path
    )
    assert cmd[0] == str(Path(sys.executable).parent / "locust")
    assert cmd[1:3] == ["-f", str(locust_run.LOCUSTFILE)]
    assert locust_run.LOCUSTFILE.is_file()
    flags = dict(zip(cmd[3:], cmd[4:], strict=False))
    assert "--headless" in cmd and "--only-summary" in cmd
    assert flags["--users"] == "8" and flags["--spawn-rate"] == "4.0"
    assert flags["--run-time"] == "60s" and flags["--host"] == "http://127.0.0.1:8000"
    assert flags["--csv"] == str(tmp_path / "locust")
    assert flags["--html"] == str(tmp_path / "locust.html")
    assert flags["--exit-code-on-error"] == "0"
    assert GRACE_S == 60


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "http://example.com:8000"], "--allow-remote"),
        (["--run-time", "2h"], "--run-time must be between 1s and 1h"),
        (["--run-time", "soon"], "--run-time must be a duration"),
        (["--users", "0"], "--users must be between 1 and 10000"),
        (["--spawn-rate", "0"], "--spawn-rate must be above 0"),
        (["--max-failure-ratio", "2"], "--max-failure-ratio must be between 0 and 1"),
    ],
)
def test_main_rejects_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_main_says_to_start_the_graph_when_nothing_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = f"http://127.0.0.1:{_closed_port()}"
    assert main(["--host", host, "--run-time", "5s", "--out-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the graph at {host}" in err
    assert "serve run serve_config.yaml" in err
    assert not (tmp_path / "out").exists()


def test_main_refuses_to_overwrite_earlier_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "locust_stats.csv", *STATS_ROWS)
    assert main(["--run-time", "5s", "--out-dir", str(tmp_path)]) == 1
    assert "already exists; choose a new --out-dir" in capsys.readouterr().err


def test_main_checks_the_user_settings_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(locust_run, "check_health", lambda host: None)
    monkeypatch.setenv("RAG_LOCUST_TOP_K", "500")

    def no_locust(*args, **kwargs):
        raise AssertionError("locust must not start with a bad setting")

    monkeypatch.setattr(locust_run.subprocess, "run", no_locust)
    assert main(["--run-time", "5s", "--out-dir", str(tmp_path / "out")]) == 1
    assert "RAG_LOCUST_TOP_K must be between 1 and 50 (got '500')" in capsys.readouterr().err


class FakeLocust:
    """Stands in for subprocess.run: records the call and writes a stats CSV."""

    def __init__(self, *rows: str, returncode: int = 0, hang: bool = False) -> None:
        self.rows, self.returncode, self.hang = rows, returncode, hang
        self.calls: list[dict] = []

    def __call__(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        self.calls.append({"command": command, **kwargs})
        if self.hang:
            raise subprocess.TimeoutExpired(command, kwargs["timeout"])
        prefix = Path(command[command.index("--csv") + 1])
        if self.rows:
            _write(prefix.with_name(prefix.name + "_stats.csv"), *self.rows)
        return subprocess.CompletedProcess(command, self.returncode)


@pytest.fixture
def healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locust_run, "check_health", lambda host: None)
    for name in ("RAG_LOCUST_RUN_TOKEN", "RAG_LOCUST_COMPLEX_SHARE", "RAG_LOCUST_TOP_K"):
        monkeypatch.delenv(name, raising=False)


def _run_fake(
    monkeypatch: pytest.MonkeyPatch, fake: FakeLocust, tmp_path: Path, *extra: str
) -> int:
    monkeypatch.setattr(locust_run.subprocess, "run", fake)
    return main(["--run-time", "1m", "--out-dir", str(tmp_path / "out"), *extra])


def test_main_passes_with_few_failures_and_reports(
    healthy: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeLocust(*STATS_ROWS)
    assert _run_fake(monkeypatch, fake, tmp_path, "--max-failure-ratio", "0.05") == 0
    (call,) = fake.calls
    assert call["timeout"] == 60 + GRACE_S
    assert call["cwd"] == locust_run.ROOT
    assert call["env"]["RAG_LOCUST_RUN_TOKEN"]
    out = capsys.readouterr().out
    assert f"loadtest-{call['env']['RAG_LOCUST_RUN_TOKEN']}-*" in out
    assert str(tmp_path / "out" / "locust.html") in out
    assert "summary: 37 requests, 1 failures (2.70%)" in out


def test_main_fails_above_the_failure_ratio(
    healthy: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run_fake(monkeypatch, FakeLocust(*STATS_ROWS), tmp_path) == 1
    assert "failure ratio 2.70% exceeds --max-failure-ratio 1.00%" in capsys.readouterr().err


def test_main_fails_without_completed_requests(
    healthy: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run_fake(monkeypatch, FakeLocust(EMPTY_AGGREGATED), tmp_path) == 1
    assert "no request completed" in capsys.readouterr().err


def test_main_fails_when_locust_fails(
    healthy: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run_fake(monkeypatch, FakeLocust(returncode=1), tmp_path) == 1
    assert "locust exited with 1" in capsys.readouterr().err


def test_main_fails_when_locust_overruns(
    healthy: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run_fake(monkeypatch, FakeLocust(hang=True), tmp_path) == 1
    assert "did not finish within --run-time + 60s" in capsys.readouterr().err
