"""The web app: a small FastAPI server and one page of plain HTML and JavaScript.

Every answer is JSON with plain-language messages; an error on the server is logged with a
reference and never shows a traceback to the user. The app reads only its scenario folder, its
own static files and its working folder, and writes only in its working folder.

Every request must name one of the app's own host names (``Host``), so a web page cannot reach
it through a DNS name it controls; every write must come from the app's own page (``Origin``
or ``Referer``) and carry the page's token in a header that a cross-site form cannot send.
docs/SECURITY.md gives the threat model.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import sim
from sim.config import Region, Scenario, ScenarioError, with_overrides
from sim.results import Filter, ResultsError
from sim.target import ALIASES, Goal, start_problems
from sim.webapp.jobs import Job, JobManager, Limits, Option, RunRefused, Seek, folder_bytes
from sim.webapp.levers import (
    LEVERS,
    RUN_SETTINGS,
    SETTINGS_BY_ID,
    Lever,
    LeverError,
    apply_levers,
    check_number,
    check_start,
    levers_for,
)
from sim.webapp.scenarios import MAX_UPLOAD_BYTES, ScenarioLibrary
from sim.webapp.view import children_view, council_view, indicator, job_view

log = logging.getLogger(__name__)

MAX_OPTIONS = 4
MAX_NAME = 60
MAX_BODY_BYTES = 64 * 1024  # a run request is a few hundred bytes
TOKEN_HEADER = "x-sufficiency-token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SAFE_METHODS = ("GET", "HEAD")
STATIC = files("sim.webapp") / "static"
_STATIC_FILES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
}
#: The goal-seek's levers: what the solver varies, and the range and step it searches.
SEEK_LEVERS = {
    "approvals": Lever(
        "approvals", "Approvals a year: search up to", "", "", 10, 500, 5, "approvals a year"
    ),
    "enquiries": Lever(
        "enquiries", "Enquiries a year: search up to", "", "", 100, 5000, 50, "enquiries a year"
    ),
}
SEEK_DEFAULT_HIGH = {"approvals": 300, "enquiries": 3000}
SEEK_OPS = (">=", "<=")
_CONFIDENCE = Lever("confidence", "Confidence", "", "", 50, 99, 1, "% of runs")
_GOAL_YEARS = 20  # the furthest goal year after the scenario's start
_SEEK_START = Lever("start", "Recruitment", "", "", 0, 0, 0)  # names the start's problems
#: Shown instead of the levers for a region, and given back if levers are sent for one.
REGION_LEVERS = (
    "levers apply to one council's scenario; edit the member files or run a member alone"
)


def default_scenario_folder() -> Path:
    """The ``scenarios/`` folder beside the package's source tree, else in the current folder."""
    beside = Path(sim.__file__).resolve().parent.parent / "scenarios"
    return beside if beside.is_dir() else Path.cwd() / "scenarios"


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class UserError(Exception):
    """Something the user can fix, with the message to show (and optionally a list)."""

    def __init__(self, message: str, problems: list[str] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        self.status = status


def _error(message: str, status: int, problems: list[str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "problems": problems or []}, status_code=status)


def _letter(i: int) -> str:
    return chr(ord("A") + i)


def _hostname(host: str) -> str:
    """The name in a ``Host`` header or URL authority, without port, brackets or final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") <= 1 else host


def _origin(url: str) -> str:
    """``scheme://authority`` of a URL (an ``Origin`` header is already only that)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}" if sep else ""


def allowed_hosts(host: str) -> set[str]:
    """Host names the app answers to when bound to ``host``: the loopback names, plus the
    bound name, or for a wildcard bind (0.0.0.0, ::) this machine's own names."""
    import socket

    names = set(LOOPBACK)
    if host in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    else:
        names.add(_hostname(host))
    return names


def _refusal(request: Request, hosts: set[str], token: str) -> JSONResponse | None:
    """Why the request is refused, as the answer to send; None if it may go on."""
    host = request.headers.get("host", "")
    if _hostname(host) not in hosts:
        return _error(
            "This app answers only at its own address (for example http://localhost:8050/); "
            f"the address {host!r} is not one of them.",
            421,
        )
    if request.method in _SAFE_METHODS:
        return None
    own = f"{request.url.scheme}://{host.lower()}"
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if (origin is not None and _origin(origin) != own) or (
        origin is None and referer and _origin(referer) != own
    ):
        return _error("Requests from other web sites are refused.", 403)
    if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), token):
        return _error("The page is out of date; please reload it.", 403)
    if "transfer-encoding" in request.headers:
        return _error("Send the request with its length (Content-Length).", 411)
    length = request.headers.get("content-length", "0")
    limit = MAX_UPLOAD_BYTES + 16 * 1024 if request.url.path.endswith("/upload") else MAX_BODY_BYTES
    if not length.isdigit() or int(length) > limit:
        return _error(f"The request is larger than the {limit // 1024} KB the app accepts.", 413)
    return None


def create_app(
    scenario_folder: Path | None = None,
    workdir: Path | None = None,
    workers: int = 1,
    hosts: Iterable[str] = LOOPBACK,
    limits: Limits | None = None,
) -> FastAPI:
    """The app. ``workdir`` holds uploads and results (a new temporary folder if not given);
    each run's replications go to ``workers`` processes; ``hosts`` are the host names it
    answers to; ``limits`` bound the queue, each run's size and the disk used."""
    if scenario_folder is None:
        scenario_folder = default_scenario_folder()
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="sufficiency-app-"))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    library = ScenarioLibrary(scenario_folder, workdir / "uploads")
    jobs = JobManager(workdir, workers=workers, make_view=job_view, limits=limits)
    token = secrets.token_urlsafe(24)  # one per start of the app, given to its page
    host_names = {_hostname(h) for h in hosts}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        jobs.start()
        yield
        jobs.shutdown()

    app = FastAPI(
        title="Placement sufficiency",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.library = library
    app.state.jobs = jobs
    app.state.workdir = workdir
    app.state.token = token

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
        refusal = _refusal(request, host_names, token)
        response = refusal or await call_next(request)
        # Not to be framed by another site (a click on its page would press this one's buttons).
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # -- errors: plain messages, never a traceback
    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return _error(exc.message, exc.status, exc.problems)

    @app.exception_handler(RunRefused)
    async def refused(request: Request, exc: RunRefused) -> JSONResponse:
        return _error(exc.message, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return _error(message, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error("The request could not be read; please reload the page.", 400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        ref = secrets.token_hex(4)
        log.error("error on %s (reference %s)", request.url.path, ref, exc_info=exc)
        return _error(
            "Something went wrong on the server; nothing you entered caused it. Please try "
            f"again, and quote reference {ref} if it happens again.",
            500,
        )

    # -- the page
    @app.get("/", include_in_schema=False)
    def index() -> Response:
        page = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{token}}", token)
        return Response(
            page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"}
        )

    @app.get("/runs/{job_id}", include_in_schema=False)
    def run_page(job_id: str) -> Response:
        """A run's own address: the page, which loads the run named in it (reload, share)."""
        return index()

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            return FileResponse(
                _plotly_js(),
                media_type="text/javascript",
                headers={"Cache-Control": "max-age=86400"},
            )
        if name not in _STATIC_FILES:
            raise StarletteHTTPException(404)
        return Response((STATIC / name).read_text(encoding="utf-8"), media_type=_STATIC_FILES[name])

    # -- scenarios and levers
    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": sim.__version__}

    @app.get("/api/config")
    def config() -> dict[str, Any]:
        return {
            "max_options": MAX_OPTIONS,
            "max_upload_kb": MAX_UPLOAD_BYTES // 1024,
            "max_run_years": jobs.limits.run_years,
            "disk_used_mb": round(folder_bytes(workdir) / 1024**2),
            "disk_limit_mb": round(jobs.limits.disk_bytes / 1024**2),
            "settings": [
                {
                    "id": s.id,
                    "label": s.label,
                    "help": s.help,
                    "unit": s.unit,
                    "min": s.minimum,
                    "max": s.maximum,
                    "step": s.step,
                }
                for s in RUN_SETTINGS
            ],
            "levers": [lever.id for lever in LEVERS],
            "seek": {
                "levers": [
                    {
                        "id": k,
                        "label": lv.label,
                        "unit": lv.unit,
                        "min": lv.minimum,
                        "max": lv.maximum,
                        "step": lv.step,
                        "high": SEEK_DEFAULT_HIGH[k],
                    }
                    for k, lv in SEEK_LEVERS.items()
                ],
                "indicators": [
                    {
                        "id": name,
                        "title": indicator(name).title,
                        "unit": "%" if indicator(name).kind == "share" else indicator(name).unit,
                        "share": indicator(name).kind == "share",
                        "op": "<=" if indicator(name).better < 0 else ">=",
                    }
                    for name in ALIASES
                ],
                "ops": list(SEEK_OPS),
                "max_years": _GOAL_YEARS,
            },
        }

    @app.get("/api/scenarios")
    def scenarios() -> list[dict[str, str]]:
        return [
            {
                "id": e.id,
                "name": e.name,
                "description": e.description,
                "source": e.source,
                "kind": e.kind,
            }
            for e in library.bundled()
        ]

    def _entry(sid: str):
        try:
            return library.get(sid)
        except KeyError:
            raise UserError(
                "That scenario is not available; choose one from the list.", status=404
            ) from None

    @app.get("/api/scenarios/{sid}/levers")
    def scenario_levers(sid: str) -> dict[str, Any]:
        entry = _entry(sid)
        sc = entry.scenario
        region = isinstance(sc, Region)
        return {
            "id": entry.id,
            "name": entry.name,
            "description": entry.description,
            "kind": entry.kind,
            "years": sc.years,
            "start": sc.start.isoformat(),
            "councils": sc.councils if region else [],
            "levers": [] if region else levers_for(sc),
            "note": f"This is a region of {len(sc.councils)} councils: {REGION_LEVERS}."
            if region
            else "",
        }

    @app.post("/api/scenarios/upload")
    async def upload(file: UploadFile) -> dict[str, Any]:
        jobs.check_disk()
        content = await file.read(MAX_UPLOAD_BYTES + 1)
        try:
            entry = library.upload(file.filename or "upload.toml", content)
        except ScenarioError as exc:
            lines = str(exc).split("\n")
            raise UserError(lines[0], [ln.strip() for ln in lines[1:]]) from None
        return {
            "id": entry.id,
            "name": entry.name,
            "description": entry.description,
            "source": entry.source,
        }

    # -- runs
    def _options(
        raw: Any, years: float | None, problems: list[str], goal_year: int | None = None
    ) -> list[Option]:
        """Each option with its levers applied, adding every input problem to ``problems``.
        ``years`` None keeps each scenario's horizon; ``goal_year`` sets it to reach 31 March
        of that year."""
        if not isinstance(raw, list) or not raw:
            raise UserError("Add at least one option to run.")
        if len(raw) > MAX_OPTIONS:
            raise UserError(f"Compare at most {MAX_OPTIONS} options at a time.")
        options: list[Option] = []
        own: dict[str, str] = {}  # each option's scenario name before it took its label
        seen: set[str] = set()
        for i, item in enumerate(raw):
            item = item if isinstance(item, dict) else {}
            label = str(item.get("name") or "").strip()[:MAX_NAME] or f"Option {_letter(i)}"
            if label in seen:
                label = f"{label} ({_letter(i)})"
            seen.add(label)
            try:
                entry = library.get(str(item.get("scenario", "")))
            except KeyError:
                problems.append(f"{label}: choose a scenario from the list")
                continue
            levers = item.get("levers") or {}
            starts = item.get("starts") or {}
            if not isinstance(levers, dict) or not isinstance(starts, dict):
                problems.append(f"{label}: the controls could not be read")
                continue
            extra: dict[str, Any] = {"name": ""}
            if goal_year is not None:
                start = entry.scenario.start
                # Whole years from the start to reach 31 March of the goal's year.
                extra["years"] = goal_year - start.year + ((start.month, start.day) < (3, 31))
            elif years is not None:
                extra["years"] = years
            name = (
                entry.scenario.name
                if label == entry.scenario.name
                else (f"{entry.scenario.name} ({label})")
            )
            extra["name"] = name
            if isinstance(entry.scenario, Region):
                if any(levers.values()) or any(starts.values()):
                    problems.append(f"{label}: {REGION_LEVERS}")
                    continue
                options.append(_region_option(label, entry, extra))
                continue
            try:
                scenario = apply_levers(entry.scenario, levers, extra, starts)
            except LeverError as exc:
                problems += [f"{label}, {p}" for p in exc.problems]
                continue
            except ScenarioError as exc:
                detail = [ln.strip() for ln in str(exc).split("\n")[1:]] or [str(exc)]
                problems += [f"{label}: {d}" for d in detail]
                continue
            source = (
                f"{entry.source} scenario '{entry.id}'"
                if entry.source == "bundled"
                else (entry.description)
            )
            upload = entry.id if entry.source == "uploaded" else None
            options.append(Option(label, scenario, source, upload))
            own[label] = entry.scenario.name
        councils = {
            c for o in options if isinstance(o.scenario, Region) for c in o.scenario.councils
        }
        for o in options:
            # A member council run alone beside its region keeps the council's name, so that
            # the region's view of that council sets it against the council alone.
            if own.get(o.label) in councils and isinstance(o.scenario, Scenario):
                o.scenario = o.scenario.model_copy(update={"name": own[o.label]})
        return options

    def _region_option(label: str, entry: Any, extra: dict[str, Any]) -> Option:
        """A region as an option: its name and horizon set, every member's horizon with it."""
        region: Region = entry.scenario
        years = {"years": extra["years"]} if "years" in extra else {}
        members = [with_overrides(m, years) for m in region.members] if years else region.members
        scenario = Region(
            name=extra["name"],
            description=region.description,
            members=members,
            files=region.files,
            shared=region.shared,
        )
        return Option(label, scenario, f"bundled region '{entry.id}'")

    def _number(lever: Lever, raw: Any, problems: list[str]) -> float | None:
        value, problem = check_number(lever, raw)
        if problem:
            problems.append(problem)
        return value

    def _setting(body: dict[str, Any], key: str, default: float, problems: list[str]) -> Any:
        return _number(SETTINGS_BY_ID[key], body.get(key, default), problems)

    async def _body(request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise UserError("Send the run as JSON (Content-Type: application/json).", status=415)
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise UserError("The request could not be read; please reload the page.") from None
        if not isinstance(body, dict):
            raise UserError("The request could not be read; please reload the page.")
        return body

    def _refuse(problems: list[str]) -> None:
        if problems:
            raise UserError("Please correct these inputs:", problems)

    @app.post("/api/runs")
    async def start_run(request: Request) -> dict[str, Any]:
        body = await _body(request)
        problems: list[str] = []  # every input problem, listed at once
        years = _setting(body, "years", 10, problems)
        reps = _setting(body, "replications", 20, problems)
        seed = _setting(body, "seed", 2019, problems)
        options = _options(body.get("options"), years, problems)
        _refuse(problems)
        job = jobs.submit(options, int(reps), int(seed), inputs=body)
        return job.state(jobs.position(job))

    @app.post("/api/targets")
    async def start_target(request: Request) -> dict[str, Any]:
        """Goal-seek: the smallest approvals (or enquiries) a year meeting a goal by a year
        with a given confidence, by the solver of `sufficiency target`."""
        body = await _body(request)
        problems: list[str] = []
        reps = _setting(body, "replications", 10, problems)
        seed = _setting(body, "seed", 2019, problems)
        lever = body.get("lever", "approvals")
        if lever not in SEEK_LEVERS:
            problems.append("Recruit by: choose approvals a year or enquiries a year")
            lever = "approvals"
        high = _number(SEEK_LEVERS[lever], body.get("high", SEEK_DEFAULT_HIGH[lever]), problems)
        name = str(body.get("indicator"))
        if name not in ALIASES:
            problems.append("Indicator: choose one from the list")
        op = str(body.get("op"))
        if op not in SEEK_OPS:
            problems.append("Goal: choose 'at least' (>=) or 'at most' (<=)")
        share = name in ALIASES and indicator(name).kind == "share"
        value = _number(
            Lever("value", "Goal value", "", "", 0, 100 if share else 100_000, 0),
            body.get("value"),
            problems,
        )
        confidence = _number(_CONFIDENCE, body.get("confidence", 80), problems)
        entry_start = _seek_start(body.get("option"))
        # The first 31 March after the scenario's start.
        first = (
            entry_start.year + ((entry_start.month, entry_start.day) >= (3, 31))
            if entry_start
            else 2000
        )
        year = body.get("year")
        if isinstance(year, str) and year.strip().isdigit():
            year = int(year)
        if not isinstance(year, int) or isinstance(year, bool):
            problems.append("By 31 March of: enter a year, such as 2027")
            year = None
        elif not first <= year <= first + _GOAL_YEARS:
            problems.append(
                f"By 31 March of: must be a year from {first} to {first + _GOAL_YEARS} "
                f"(you entered {year})"
            )
            year = None
        options = _options([body.get("option")], None, problems, year or first)
        if any(isinstance(o.scenario, Region) for o in options):
            problems.append(
                "The goal-seek runs on one council's scenario; choose a council, not a region"
            )
        # The day recruitment is raised: the scenario's start unless the user dates it.
        start = None
        raw_start = body.get("start")
        if entry_start and raw_start not in (None, "", entry_start.isoformat()):
            start, problem = check_start(_SEEK_START, raw_start, entry_start)
            if problem:
                problems.append(problem)
        goal = None
        if name in ALIASES and op in SEEK_OPS and value is not None and year:
            table, column = ALIASES[name]
            goal = Goal(table, column, op, value / 100 if share else value, year)
            if start is not None and options and isinstance(options[0].scenario, Scenario):
                problems += start_problems(
                    options[0].scenario, goal, start, f"{_SEEK_START.label}, starts on"
                )
        _refuse(problems)
        assert goal is not None and confidence is not None and high is not None
        seek = Seek(goal, confidence / 100, lever, 0.0, high, SEEK_LEVERS[lever].step, start)
        job = jobs.submit(options, int(reps), int(seed), seek, inputs=body)
        return job.state(jobs.position(job))

    def _seek_start(item: Any) -> Any:
        """The start date of the goal-seek's scenario, or None if it is not known."""
        try:
            return library.get(str(item.get("scenario", ""))).scenario.start
        except (KeyError, AttributeError):
            return None

    def _job(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise UserError(
                "This run is not known here: it was deleted, or the app was started with "
                "another working folder (sufficiency serve --workdir).",
                status=404,
            )
        return job

    @app.get("/api/runs/{job_id}")
    def run_state(job_id: str) -> dict[str, Any]:
        job = _job(job_id)
        return job.state(jobs.position(job) if job.status == "queued" else 0)

    @app.post("/api/runs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        job = _job(job_id)
        job.cancel.set()
        return job.state()

    @app.delete("/api/runs/{job_id}")
    def delete(job_id: str) -> dict[str, Any]:
        """Stop the run if needed, remove its results, and the uploads no other run uses."""
        job = _job(job_id)
        jobs.delete(job)
        removed = {o.upload for o in job.options if o.upload} - jobs.uploads_in_use()
        for sid in removed:
            library.remove(sid)
        return {"id": job.id, "deleted": True, "removed_uploads": sorted(removed)}

    @app.get("/api/runs/{job_id}/result")
    def result(job_id: str, council: str | None = None) -> dict[str, Any]:
        """The finished run's view: of a region, its totals, or one ``council``'s figures."""
        job = _job(job_id)
        view = jobs.view(job)
        if view is None:
            raise UserError("The run has not finished.", status=409)
        councils = jobs.councils(job)
        if council:
            if council not in councils:
                raise UserError(_no_council(council, councils), status=404)
            view = jobs.locked(job, lambda: council_view(job.folder, council))
        return {
            **view,
            "councils": councils,
            "council": council or "",
            "inputs": job.inputs,
            "files": [
                {"name": n, "label": label, "url": f"/api/runs/{job.id}/download/{n}"}
                for n, label in jobs.files(job).items()
            ],
        }

    @app.get("/api/runs/{job_id}/children")
    def children(
        job_id: str, council: str = "", sex: str = "", uasc: str = "", age: str = ""
    ) -> dict[str, Any]:
        """Children in care at each 31 March, counting only those who match the filters: one
        council of a region, sex (F or M), UASC (yes or no) and an age band (e.g. 16-17)."""
        job = _job(job_id)
        if job.status != "done" or job.seek is not None:
            raise UserError("The run has not finished, or it is a goal-seek.", status=409)
        councils = jobs.councils(job)
        problems = []
        if council and council not in councils:
            problems.append(_no_council(council, councils))
        if sex not in ("", "F", "M"):
            problems.append("Sex: choose girls (F), boys (M) or all")
        if uasc not in ("", "yes", "no"):
            problems.append("UASC: choose yes, no or all")
        band = None
        if age:
            try:
                band = Filter.parse_age(age)
                Filter(age=band)
            except ResultsError as exc:
                problems.append(f"Age: {exc}")
        _refuse(problems)
        where = Filter(council or None, sex or None, None if not uasc else uasc == "yes", band)
        return jobs.locked(job, lambda: children_view(job.folder, where))

    def _no_council(council: str, councils: list[str]) -> str:
        held = f"its councils are {', '.join(councils)}" if councils else "it is not a region"
        return f"This run has no council {council[:80]!r}; {held}."

    @app.get("/api/runs/{job_id}/download/{name}")
    def download(job_id: str, name: str) -> FileResponse:
        job = _job(job_id)
        path = jobs.file(job, name)
        if path is None:
            raise UserError("No such file for this run.", status=404)
        return FileResponse(path, filename=name)

    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8050,
    scenario_folder: Path | None = None,
    workdir: Path | None = None,
    workers: int | None = None,
) -> None:
    """Start the app and serve it until interrupted."""
    import uvicorn

    workers = workers or min(2, os.cpu_count() or 1)
    app = create_app(scenario_folder, workdir, workers, hosts=allowed_hosts(host))
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    print(f"Placement sufficiency app: open http://{shown}:{port}/ in your browser")
    print(f"Scenarios from {app.state.library.folder}; uploads and results in {app.state.workdir}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "warning: the app is reachable from other machines; it has no log-in "
            "(see docs/SECURITY.md)"
        )
    print("Press Ctrl+C to stop.")
    uvicorn.run(app, host=host, port=port, log_level="warning")
