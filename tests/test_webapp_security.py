"""The web app under hostile and unlucky use, against a real server (`sufficiency serve` in a
subprocess on a free port of 127.0.0.1): requests from other sites, DNS rebinding, content-type
tricks, oversized runs, a full queue, cancel of a run that would hold the workers for minutes,
SIGTERM and SIGINT, and links out of the scenario folder. See docs/SECURITY.md."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _browser import free_port

from sim.webapp.app import allowed_hosts

ROOT = Path(__file__).resolve().parents[1]
EVIL = "http://evil.example"
OUTSIDE = 'name = "Outside the scenario folder"\nyears = 1\n'


class Server:
    """A `sufficiency serve` process and a few helpers to talk to it."""

    def __init__(self, root: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.workdir = root / "work"
        self.log = root / f"server-{self.port}.log"
        command = "import sys; from sim.cli import main; sys.exit(main())"
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--scenarios", str(root / "scenarios"), "--workdir", str(self.workdir)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", command, *args, "--workers", str(workers)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as in a terminal
            )
        self.own = f"http://127.0.0.1:{self.port}"
        try:
            self.token = self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self) -> str:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, page = self.request("GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the app did not start: {self.log.read_text()}") from None
                time.sleep(0.1)
        assert status == 200
        return re.search(r'name="sufficiency-token" content="([^"]+)"', page).group(1)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, object]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers={"Host": self.own[7:], **(headers or {})})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        kind = response.getheader("content-type", "")
        return response.status, json.loads(data) if "json" in kind else data.decode()

    def write(self, method: str, path: str, body: object = None, **headers: str):
        """A write as the app's own page sends it (own origin, token, JSON)."""
        sent = {"Origin": self.own, "X-Sufficiency-Token": self.token}
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers)
        sent = {k: v for k, v in sent.items() if v is not None}
        data = json.dumps(body).encode() if body is not None else None
        return self.request(method, path, data, sent)

    def wait(self, job_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, state = self.request("GET", f"/api/runs/{job_id}")
            assert status == 200, state
            if state["status"] not in ("queued", "running"):
                return state
            time.sleep(0.1)
        raise AssertionError(f"run {job_id} did not finish in {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _run(scenario: str = "kent_baseline", options: int = 1, years: int = 1, reps: int = 1):
    opts = [{"name": f"Option {i}", "scenario": scenario, "levers": {}} for i in range(options)]
    return {"options": opts, "years": years, "replications": reps, "seed": 7}


def _multipart(filename: str, content: bytes) -> bytes:
    """A file upload as a browser sends it, with the boundary ``b``."""
    head = f'--b\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n\r\n'
    return head.encode() + content + b"\r\n--b--\r\n"


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process on the machine."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
            out[int(entry)] = (int(ppid), state)
    return out


def _descendants(pid: int) -> dict[int, int]:
    """pid -> depth below ``pid`` (1: child, 2: grandchild...) of live processes."""
    table = _processes()
    found, frontier, depth = {}, [pid], 0
    while frontier:
        depth += 1
        frontier = [p for p, (pp, state) in table.items() if pp in frontier and state != "Z"]
        found.update({p: depth for p in frontier})
    return found


def _alive(pids) -> list[int]:
    table = _processes()
    return [p for p in pids if p in table and table[p][1] != "Z"]


def _workers(server: Server) -> list[int]:
    """The job's worker processes: forked by the app's fork server, so grandchildren."""
    return [p for p, d in _descendants(server.process.pid).items() if d >= 2]


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A copy of the bundled scenarios, with links out of the folder and one inside it."""
    root = tmp_path_factory.mktemp("app")
    shutil.copytree(ROOT / "scenarios", root / "scenarios")
    shutil.copytree(ROOT / "calibration", root / "calibration")  # kent_baseline's link
    (root / "outside").mkdir()
    (root / "outside" / "secret.toml").write_text(OUTSIDE)
    scenarios = root / "scenarios"
    (scenarios / "escape.toml").symlink_to(root / "outside" / "secret.toml")
    (scenarios / "hop.toml").write_text('extends = "escape.toml"\nname = "Hop"\n')
    (scenarios / "chain.toml").write_text('extends = "../outside/secret.toml"\nname = "Chain"\n')
    (scenarios / "alias.toml").symlink_to("kent_baseline.toml")
    return root


@pytest.fixture(scope="module")
def server(root) -> Iterator[Server]:
    s = Server(root)
    try:
        yield s
    finally:
        s.stop()


def _headers(server: Server, path: str) -> http.client.HTTPMessage:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.headers


def _no_run_started(server: Server) -> bool:
    runs = server.workdir / "runs"
    return not runs.exists() or not any(runs.iterdir())


@pytest.mark.slow
def test_cross_origin_writes_are_refused(server):
    body = json.dumps(_run()).encode()
    evil_form = {"Origin": EVIL, "Content-Type": "text/plain"}
    assert server.request("POST", "/api/runs", body, evil_form)[0] == 403
    for headers in (
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": f"http://127.0.0.1:{server.port + 1}"},  # another local app
        {"Origin": None, "Referer": f"{EVIL}/page.html"},
    ):
        status, answer = server.write("POST", "/api/runs", _run(), **headers)
        assert status == 403, headers
        assert answer["error"] == "Requests from other web sites are refused."
    upload = _multipart("x.toml", b"years = 1")
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    status, _ = server.write("POST", "/api/scenarios/upload", None, Origin=EVIL, **multipart)
    assert status == 403
    assert (
        server.request("POST", "/api/scenarios/upload", upload, {"Origin": EVIL, **multipart})[0]
        == 403
    )
    # The goal-seek starts runs too: the same checks.
    seek = {"option": _run()["options"][0], "indicator": "waiting", "op": "<=", "value": 9}
    assert server.write("POST", "/api/targets", seek, Origin=EVIL)[0] == 403
    assert server.write("POST", "/api/targets", seek, **{"X-Sufficiency-Token": None})[0] == 403
    assert _no_run_started(server)
    assert not (server.workdir / "uploads").exists()

    # The app's own page, with its token, is served; and may cancel and delete its run.
    status, job = server.write("POST", "/api/runs", _run())
    assert status == 200, job
    for method, path in (
        ("POST", f"/api/runs/{job['id']}/cancel"),
        ("DELETE", f"/api/runs/{job['id']}"),
    ):
        assert server.write(method, path, Origin=EVIL)[0] == 403
        assert server.request(method, path, None, {"Origin": server.own})[0] == 403  # no token
    assert server.write("DELETE", f"/api/runs/{job['id']}")[0] == 200
    assert server.request("GET", f"/api/runs/{job['id']}")[0] == 404
    _wait_for(lambda: _no_run_started(server), 10, "the deleted run's folder was not removed")


@pytest.mark.slow
def test_wrong_host_is_refused(server):
    """DNS rebinding: a page on evil.example, whose name now points at 127.0.0.1, reaches the
    app with its own name in the Host header; it gets neither the page nor its token."""
    for host in (
        f"evil.example:{server.port}",
        "evil.example",
        f"127.0.0.1.evil.example:{server.port}",
    ):
        status, answer = server.request("GET", "/", headers={"Host": host})
        assert status == 421, host
        assert server.token not in json.dumps(answer)
        assert "answers only at its own address" in answer["error"]
        headers = {"Host": host, "Origin": f"http://{host}", "X-Sufficiency-Token": server.token}
        headers["Content-Type"] = "application/json"
        assert server.request("POST", "/api/runs", json.dumps(_run()).encode(), headers)[0] == 421
    for host in (f"localhost:{server.port}", f"[::1]:{server.port}"):
        assert server.request("GET", "/api/health", headers={"Host": host})[0] == 200
    assert _no_run_started(server)


@pytest.mark.slow
def test_the_page_cannot_be_framed_by_another_site(server):
    for path in ("/", "/api/config"):
        headers = _headers(server, path)
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert "Access-Control-Allow-Origin" not in headers


def test_what_host_changes():
    """Bound to loopback, the app answers only to loopback names; bound to an address or a
    wildcard, also to that address or to this machine's names, and still to no other."""
    import socket

    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("192.168.1.5") == {"127.0.0.1", "localhost", "::1", "192.168.1.5"}
    wildcard = allowed_hosts("0.0.0.0")
    assert socket.gethostname().lower() in wildcard
    assert "evil.example" not in wildcard


@pytest.mark.slow
def test_content_type_tricks_are_refused(server):
    body = json.dumps(_run()).encode()
    own = {"Origin": server.own, "X-Sufficiency-Token": server.token}
    for kind in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json-seq",
        None,
    ):
        headers = {**own, "Content-Type": kind} if kind else own
        status, answer = server.request("POST", "/api/runs", body, headers)
        assert status == 415, kind
        assert "Content-Type: application/json" in answer["error"]
    # JSON from the app's origin but without the page's token (what a form could send).
    status, answer = server.write("POST", "/api/runs", _run(), **{"X-Sufficiency-Token": "guess"})
    assert status == 403 and "reload" in answer["error"]
    # No length, or too much of it.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "POST",
        "/api/runs",
        body=iter([body]),
        headers={**own, "Content-Type": "application/json"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 411
    conn.close()
    big = b'{"x": "' + b"a" * 70_000 + b'"}'
    assert (
        server.request("POST", "/api/runs", big, {**own, "Content-Type": "application/json"})[0]
        == 413
    )
    # Deeply nested input is a clear 400, not a server error.
    deep = b"[" * 100_000 + b"]" * 100_000
    status, answer = server.request(
        "POST", "/api/runs", deep[:60_000], {**own, "Content-Type": "application/json"}
    )
    assert status == 400 and "could not be read" in answer["error"]
    for text in ("x = " + "[" * 5000 + "]" * 5000, "x = " + "[" * 900 + "]" * 900):
        upload = _multipart("deep.toml", text.encode())
        headers = {**own, "Content-Type": "multipart/form-data; boundary=b"}
        status, answer = server.request("POST", "/api/scenarios/upload", upload, headers)
        assert status == 400, answer
        assert answer["error"].startswith("deep.toml:")
        assert "nested too deeply" in answer["error"] + " ".join(answer["problems"])
    assert _no_run_started(server)


@pytest.mark.slow
def test_an_oversized_run_is_refused_and_the_queue_is_bounded(server):
    status, answer = server.write("POST", "/api/runs", _run(options=4, years=20, reps=200))
    assert status == 413
    assert "4 options × 200 runs × 20 years = 16,000 simulated years" in answer["error"]
    assert "at most 2,000" in answer["error"]
    assert "sufficiency compare scenario-1.toml scenario-2.toml" in answer["error"]
    assert _no_run_started(server)

    ids = []
    try:
        for _ in range(4):
            status, job = server.write("POST", "/api/runs", _run(years=10, reps=200))
            assert status == 200, job
            ids.append(job["id"])
        status, answer = server.write("POST", "/api/runs", _run())
        assert status == 429 and "4 runs waiting or running" in answer["error"]
    finally:
        for job_id in ids:
            assert server.write("DELETE", f"/api/runs/{job_id}")[0] == 200
    assert _wait_for(lambda: not _workers(server), 10, "the deleted runs' workers did not stop")
    _wait_for(lambda: _no_run_started(server), 10, "the deleted runs' folders were not removed")


@pytest.mark.slow
def test_cancel_stops_the_workers_and_the_next_run_finishes_in_normal_time(server):
    started = time.monotonic()
    status, first = server.write("POST", "/api/runs", _run())
    assert status == 200 and server.wait(first["id"])["status"] == "done"
    normal = time.monotonic() - started

    # One England replication of 20 years takes many minutes: without a real cancel, both
    # workers would stay busy long after the run shows "cancelled".
    status, long = server.write("POST", "/api/runs", _run("england", years=20, reps=2))
    assert status == 200, long
    workers = _wait_for(lambda: len(_workers(server)) == 2 and _workers(server), 30, "no workers")
    time.sleep(1)
    assert server.write("POST", f"/api/runs/{long['id']}/cancel")[0] == 200
    assert server.wait(long["id"], timeout=10)["status"] == "cancelled"
    _wait_for(lambda: not _alive(workers), 5, f"workers {_alive(workers)} still running")

    started = time.monotonic()
    status, job = server.write("POST", "/api/runs", _run())
    assert status == 200 and server.wait(job["id"], timeout=60)["status"] == "done"
    after = time.monotonic() - started
    # Normal time is a few seconds; a run stuck behind the England workers takes minutes.
    assert after < 3 * normal + 10, (normal, after)
    for job_id in (first["id"], job["id"], long["id"]):
        server.write("DELETE", f"/api/runs/{job_id}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"]
)
def test_a_signal_stops_the_app_and_every_worker(tmp_path, root, sig):
    for name in ("scenarios", "calibration"):
        (tmp_path / name).symlink_to(root / name)
    server = Server(tmp_path)
    try:
        status, job = server.write("POST", "/api/runs", _run(years=10, reps=200))
        assert status == 200, job
        _wait_for(lambda: len(_workers(server)) == 2, 30, "no workers")
        family = list(_descendants(server.process.pid))
        if sig == signal.SIGINT:  # Ctrl+C in a terminal: the app and all its processes get it
            os.killpg(server.process.pid, sig)
        else:
            server.process.send_signal(sig)
        # uvicorn stops gracefully, then ends with the signal it was sent; SIGKILL cannot be
        # handled, and the workers die with their parent instead.
        assert server.process.wait(timeout=20) in (0, -sig)
        _wait_for(lambda: not _alive(family), 5, f"processes {_alive(family)} left running")
        log = server.log.read_text()
        assert "Traceback" not in log, log
    finally:
        server.stop()


@pytest.mark.slow
def test_links_out_of_the_scenario_folder_are_not_followed(server, root):
    ids = {s["id"] for s in server.request("GET", "/api/scenarios")[1]}
    assert {"kent_baseline", "alias"} <= ids  # a link inside the folder is fine
    assert not ids & {"escape", "hop", "chain"}
    for sid in ("escape", "hop", "chain"):
        assert server.request("GET", f"/api/scenarios/{sid}/levers")[0] == 404
        status, answer = server.write("POST", "/api/runs", _run(sid))
        assert status == 400 and "choose a scenario from the list" in answer["problems"][0]
    # A link changed to point outside after the app started is refused on its next use.
    alias = root / "scenarios" / "alias.toml"
    alias.unlink()
    alias.symlink_to(root / "outside" / "secret.toml")
    try:
        assert server.request("GET", "/api/scenarios/alias/levers")[0] == 404
        assert "alias" not in {s["id"] for s in server.request("GET", "/api/scenarios")[1]}
    finally:
        alias.unlink()
        alias.symlink_to("kent_baseline.toml")
    assert _no_run_started(server)
