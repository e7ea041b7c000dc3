"""Scenarios the web app may use: the bundled ones and the files users upload.

The app reads only the scenario folder it was started with and its own working folder.
A region file of the folder (one that lists ``members``) is offered as one scenario; its
members must be files of the same folder. Uploads are single scenarios: a region names files
on the server, so an uploaded region is refused.
Scenarios are named on the page by an id from this library, never by a path: an id the
library did not hand out is refused. A file in the folder that is a link to somewhere outside
it, or that ``extends`` a file outside it, is not offered.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from sim.config import (
    Region,
    Scenario,
    ScenarioError,
    is_region,
    load_region,
    load_scenario,
    scenario_from_dict,
    with_overrides,
)

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 256 * 1024
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,80}$")
_TOO_DEEP = "arrays or tables are nested too deeply (a scenario needs only a few levels)"


@dataclass(frozen=True)
class Entry:
    id: str
    name: str
    description: str
    source: str  # "bundled" or "uploaded"
    scenario: Scenario | Region

    @property
    def kind(self) -> str:
        """``region`` for a region file, else ``scenario``."""
        return "region" if isinstance(self.scenario, Region) else "scenario"


def _plain(value: Any) -> Any:
    """A value TOML can hold: string keys, no None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def scenario_to_toml(scenario: Scenario, comment: str = "") -> str:
    """The scenario with every resolved parameter, as TOML that loads back to the same."""
    header = [
        f"# {scenario.name}: every parameter resolved, as used by the placement-sufficiency model.",
        f"# Written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Run it with:",
        "#   sufficiency run this_file.toml --out results/my_scenario",
    ]
    if comment:
        header.insert(1, f"# {comment}")
    return "\n".join(header) + "\n\n" + tomli_w.dumps(_plain(scenario.model_dump()))


def region_to_toml(region: Region, member_files: list[str], comment: str = "") -> str:
    """The region as a region file naming ``member_files`` (each written beside it by
    :func:`scenario_to_toml`), with its shared markets."""
    header = [
        f"# {region.name}: a region of {len(region.members)} councils, as used by the "
        "placement-sufficiency model.",
        "# Its members are the files it names, beside it. "
        f"Written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "# Run it with:  sufficiency run this_file.toml --out results/my_region",
    ]
    if comment:
        header.insert(1, f"# {comment}")
    data = {
        "name": region.name,
        "description": region.description,
        "members": member_files,
        "shared": _plain(region.shared.model_dump()),
    }
    return "\n".join(header) + "\n\n" + tomli_w.dumps(data)


class ScenarioLibrary:
    """Bundled scenarios from one folder, and uploads kept in the app's working folder."""

    def __init__(self, folder: Path | None, upload_dir: Path) -> None:
        self.folder = folder
        self.upload_dir = upload_dir
        self._bundled: dict[str, Path] = {}
        self._uploads: dict[str, Entry] = {}
        self._lock = threading.Lock()
        if folder is not None and folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                if not _ID.match(path.stem):
                    continue
                if self._outside(path):
                    log.warning("scenario %s leads outside %s; it is not offered", path, folder)
                    continue
                self._bundled[path.stem] = path

    def _outside(self, path: Path) -> Path | None:
        """The first file of ``path``'s ``extends`` chain that resolves (through links) outside
        the scenario folder, or None if the chain stays inside."""
        assert self.folder is not None
        root = self.folder.resolve()
        seen: set[Path] = set()
        while path not in seen and len(seen) < 50:
            seen.add(path)
            real = path.resolve()
            if not real.is_relative_to(root):
                return path
            try:
                data = tomllib.loads(real.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                return None  # loading it reports the problem
            members = data.get("members")
            if isinstance(members, list):  # a region: every member's chain stays inside too
                for member in members:
                    if isinstance(member, str):
                        outside = self._outside(path.parent / member)
                        if outside is not None:
                            return outside
                return None
            parent = data.get("extends")
            if not isinstance(parent, str):
                return None
            path = path.parent / parent
        return None

    # -- bundled
    def bundled(self) -> list[Entry]:
        """The bundled scenarios that load; those that do not are logged and left out."""
        out = []
        for sid in self._bundled:
            try:
                out.append(self._bundled_entry(sid))
            except ScenarioError as exc:
                log.warning("bundled scenario %s is not valid: %s", sid, exc)
        return out

    def _bundled_entry(self, sid: str) -> Entry:
        path = self._bundled[sid]
        # Checked again on every load: the link may have been changed since the app started.
        outside = self._outside(path)
        if outside is not None:
            raise ScenarioError(f"{path.name}: {outside.name} leads outside the scenario folder")
        sc: Scenario | Region = load_region(path) if is_region(path) else load_scenario(path)
        return Entry(sid, sc.name, sc.description, "bundled", sc)

    def get(self, sid: str) -> Entry:
        """The scenario with id ``sid``; KeyError if the library never handed it out."""
        if not isinstance(sid, str) or not _ID.match(sid):
            raise KeyError(sid)
        with self._lock:
            if sid in self._uploads:
                return self._uploads[sid]
        if sid in self._bundled:
            try:
                return self._bundled_entry(sid)
            except ScenarioError as exc:
                log.warning("bundled scenario %s is not available: %s", sid, exc)
                raise KeyError(sid) from None
        raise KeyError(sid)

    # -- uploads
    def upload(self, filename: str, content: bytes) -> Entry:
        """Validate an uploaded TOML scenario and keep it; ScenarioError says what is wrong.

        An upload may ``extends = "<bundled file>.toml"``; it cannot point at any other file.
        """
        shown = Path(filename or "upload.toml").name[:80] or "upload.toml"
        if len(content) > MAX_UPLOAD_BYTES:
            raise ScenarioError(
                f"{shown}: the file is larger than {MAX_UPLOAD_BYTES // 1024} KB; "
                "a scenario file is a few KB"
            )
        try:
            text = content.decode("utf-8-sig")  # a byte-order mark, as some editors write, is fine
        except UnicodeDecodeError:
            raise ScenarioError(f"{shown}: not a text file (it must be TOML in UTF-8)") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{shown}: not valid TOML: {exc}") from None
        except RecursionError:
            raise ScenarioError(f"{shown}: {_TOO_DEEP}") from None
        if "members" in data:
            raise ScenarioError(
                f"{shown}: a region file cannot be uploaded: its members are files on the "
                "server. Run a bundled region, upload its members one at a time, or run the "
                "region from the command line (sufficiency run region.toml)"
            )
        try:
            scenario = self._scenario(shown, data)
        except RecursionError:
            raise ScenarioError(f"{shown}: invalid scenario\n  {_TOO_DEEP}") from None
        sid = "upload-" + secrets.token_hex(12)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        (self.upload_dir / f"{sid}.toml").write_bytes(content)
        entry = Entry(sid, scenario.name, f"Uploaded from {shown}", "uploaded", scenario)
        with self._lock:
            self._uploads[sid] = entry
        return entry

    def remove(self, sid: str) -> None:
        """Forget an uploaded scenario and delete its file (also one kept from before the
        app restarted, which the library no longer lists)."""
        with self._lock:
            self._uploads.pop(sid, None)
            if _ID.match(sid) and sid.startswith("upload-"):
                (self.upload_dir / f"{sid}.toml").unlink(missing_ok=True)

    def _scenario(self, shown: str, data: dict[str, Any]) -> Scenario:
        parent = data.pop("extends", None)
        # An upload names no file on the server: it runs its own values (a bundled base it
        # extends keeps that base's posterior).
        data.pop("posterior", None)
        if parent is None:
            scenario = scenario_from_dict(data, shown)
        else:
            stem = Path(str(parent)).name.removesuffix(".toml")
            if not isinstance(parent, str) or stem not in self._bundled:
                allowed = ", ".join(f"'{s}.toml'" for s in self._bundled) or "none"
                raise ScenarioError(
                    f"{shown}: 'extends' may name only a bundled scenario ({allowed}); "
                    f"got {parent!r}"
                )
            base = self._bundled_entry(stem).scenario
            if isinstance(base, Region):
                raise ScenarioError(
                    f"{shown}: 'extends' names the region {parent!r}; an upload may extend "
                    "one council's scenario only"
                )
            try:
                scenario = with_overrides(base, data)
            except ScenarioError as exc:
                detail = str(exc).split("\n", 1)[-1]
                raise ScenarioError(f"{shown}: invalid scenario\n{detail}") from None
        return scenario
