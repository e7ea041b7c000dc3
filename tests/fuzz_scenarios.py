"""A generated corpus of malformed and adversarial scenario files, for ``test_fuzz.py``.

Cases are built from the schema itself (every scalar field, its type and its bounds) and from
families of hostile files (encodings, sizes, nesting, ``extends`` chains and loops, paths that
are not regular files), not listed one by one. Each case knows the field an error must name.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import annotated_types as at
import tomli_w
from pydantic import BaseModel

from sim.config import (
    LAST_DATE,
    MAX_DEPTH,
    MAX_EXTENDS,
    MAX_FILE_BYTES,
    MAX_ITEMS,
    Interventions,
    Scenario,
)

ROOT = Path(__file__).resolve().parents[1]
KENT = ROOT / "scenarios" / "kent_baseline.toml"

#: The least each intervention needs, so that one of its fields can be spoiled at a time.
MINIMAL_ITEMS: dict[str, dict[str, Any]] = {
    "hub_families": {},
    "mockingbird": {"area": "North"},
    "recruitment_targets": {"approvals_per_year": 100.0},
    "assessment_capacity": {},
    "retention_offers": {},
    "uasc_ring_fence": {},
    "step_across": {},
    "provider_changes": {"kind": "residential"},
    "nts_changes": {},
}
START = dt.date(2020, 1, 1)


@dataclass
class Case:
    """One scenario to check: the files to create, which one to check, and what must happen.

    ``field`` is the dotted field an error must name (``""``: a file-level problem, where the
    file is named with what is wrong with it); ``valid`` cases must run instead.
    """

    name: str
    files: dict[str, bytes | str] = field(default_factory=dict)
    entry: str = "case.toml"
    field: str = ""
    valid: bool = False
    setup: Callable[[Path], None] | None = None

    def build(self, folder: Path) -> Path:
        for name, content in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_bytes(content)
        if self.setup is not None:
            self.setup(folder)
        return folder / self.entry


def _toml(data: dict[str, Any], extends: Path | None = KENT) -> str:
    head = f'extends = "{extends}"\n' if extends is not None else ""
    return head + tomli_w.dumps(data)


def _nested(path: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path.split(".")):
        out = [out] if part.isdigit() else {part: out}
    return out


# ------------------------------------------------------------------------------ the schema


@dataclass
class Scalar:
    """A scalar field of the schema: its dotted path, base type and bounds."""

    path: str
    kind: type
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    #: For a list or keyed table of such values, its default (one element is spoiled).
    container: list[Any] | dict[str, Any] | None = None


def _bounds(metadata: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metadata:
        for name, cls in (("ge", at.Ge), ("gt", at.Gt), ("le", at.Le)):
            if isinstance(m, cls):
                out[name] = getattr(m, name)
    return out


def _base(annotation: Any) -> tuple[Any, list[Any]]:
    """The type inside ``Annotated`` (and ``| None``), with its metadata."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return args[0], list(annotation.__metadata__)
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return _base(inner)
    return annotation, []


def scalars(model: type[BaseModel] = Scenario, prefix: str = "") -> list[Scalar]:
    """Every scalar (or list-of-scalar) field reachable through tables, not lists of tables."""
    out: list[Scalar] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        ann, meta = _base(info.annotation)
        meta = [*info.metadata, *meta]
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if ann is not Interventions:
                out += scalars(ann, f"{path}.")
            continue
        container = None
        origin = typing.get_origin(ann)
        if origin in (list, dict):
            default = info.get_default(call_default_factory=True)
            if not default:
                continue
            container = default
            ann, meta = _base(typing.get_args(ann)[-1])
        if ann in (int, float, bool, str, dt.date):
            out.append(Scalar(path, ann, container=container, **_bounds(meta)))
    return out


def intervention_scalars() -> list[Scalar]:
    """Scalar fields of each intervention, at index 0 of its list."""
    out = []
    for kind, info in Interventions.model_fields.items():
        item = typing.get_args(_base(info.annotation)[0])[0]
        for s in scalars(item, f"interventions.{kind}.0."):
            out.append(s)
    return out


def _with(s: Scalar, value: Any) -> dict[str, Any]:
    """A scenario fragment setting field ``s`` to ``value`` (inside an intervention if need be)."""
    if s.path.startswith("interventions."):
        _, kind, _, name = s.path.split(".")
        item = {"start": START, **MINIMAL_ITEMS[kind], name: value}
        return {"interventions": {kind: [item]}}
    if isinstance(s.container, list):
        return _nested(s.path, [value, *s.container[1:]])
    if isinstance(s.container, dict):
        first = next(iter(s.container))
        return _nested(s.path, {**{str(k): v for k, v in s.container.items()}, str(first): value})
    return _nested(s.path, value)


def _where(s: Scalar) -> str:
    """Where the error is reported: a spoiled element at its index or key."""
    if isinstance(s.container, list):
        return f"{s.path}.0"
    if isinstance(s.container, dict):
        return f"{s.path}.{next(iter(s.container))}"
    return s.path


WRONG_TYPES: dict[type, list[Any]] = {
    float: [True, "1.5", [1.0], {"a": 1.0}, START],
    int: [True, "12", 1.5, [1], {"a": 1}],
    bool: [1, "yes", 0.0],
    str: [True, 5, [1], {"a": "b"}],
    dt.date: [True, 5.5, [START], {"a": 1}],
}


def _spoil(s: Scalar, label: str, value: Any) -> Case:
    return Case(
        f"{label}:{s.path}={value!r:.20}", {"case.toml": _toml(_with(s, value))}, field=_where(s)
    )


def type_cases() -> Iterator[Case]:
    """Each field with values of the wrong type, taking the wrong types in turn."""
    for i, s in enumerate([*scalars(), *intervention_scalars()]):
        if s.path in ("name", "description") or s.path.endswith(".area"):
            continue  # any text is a name; an area is checked against the areas
        wrong = WRONG_TYPES[s.kind]
        yield _spoil(s, "type", wrong[i % len(wrong)])
        if i % 2:
            yield _spoil(s, "type", wrong[(i + 1) % len(wrong)])


def range_cases() -> Iterator[Case]:
    """Each number just past its bounds, and (in turn) far past them or not a number."""
    for i, s in enumerate([*scalars(), *intervention_scalars()]):
        if s.kind not in (int, float):
            continue
        if s.le is not None:
            yield _spoil(s, "range", s.le + 1 if s.kind is int else s.le * (1 + 1e-6) + 1e-9)
            if i % 2:
                yield _spoil(s, "range", 2**70 if s.kind is int else 1e308)
        if s.gt is not None:
            yield _spoil(s, "range", s.gt)
        elif s.ge is not None:
            yield _spoil(s, "range", s.ge - (1 if s.kind is int else 1e-6))
        if s.kind is float and i % 3 == 0:
            yield _spoil(s, "range", float("nan"))


# ------------------------------------------------------------------------------- meaning

WEIGHTS = [
    "children.entry_age_weights",
    "children.sibling_group_weights",
    "recruitment.household.places_weights",
    "initial.places_weights",
    "initial.age_weights",
]
KEYED_WEIGHTS = {
    "children.area_weights": ["North", "South", "East", "West"],
    "uasc.area_weights": ["North", "South", "East", "West"],
    "recruitment.household.area_weights": ["North", "South", "East", "West"],
    "recruitment.household.type_weights": [
        "mainstream",
        "short_breaks",
        "parent_and_child",
        "emergency",
    ],
    "uasc.age_weights": ["13", "14", "15", "16", "17"],
}


def meaning_cases() -> Iterator[Case]:
    kent = Scenario()
    for path in WEIGHTS:
        n = len(_lookup(kent, path))
        yield Case(
            f"meaning:{path}=zeros", {"case.toml": _toml(_nested(path, [0.0] * n))}, field=path
        )
    for path, keys in KEYED_WEIGHTS.items():
        yield Case(
            f"meaning:{path}=zeros",
            {"case.toml": _toml(_nested(path, dict.fromkeys(keys, 0.0)))},
            field=path,
        )
    for path in ("children.seasonality", "recruitment.seasonality"):
        for n in (0, 11, 13):
            yield Case(
                f"meaning:{path}[{n}]", {"case.toml": _toml(_nested(path, [1.0] * n))}, field=path
            )
    edges = [[], [0], [0, 18], [0, 5, 100], [1, 5, 18], [0, 10, 5, 18], [0, 5, 5, 18], [0, 5, 16]]
    for e in edges:
        yield Case(
            f"meaning:age_band_edges={e}",
            {"case.toml": _toml({"age_band_edges": e})},
            field="age_band_edges",
        )
    for lists in (
        [[], []],
        [[0.0, 2.0], [0.1]],
        [[1.0, 2.0], [0.1, 0.1]],
        [[0.0, 2.0, 1.0], [0.1] * 3],
    ):
        data = {"attrition": {"tenure_edges_years": lists[0], "deregistration_per_year": lists[1]}}
        yield Case(f"meaning:tenure={lists}", {"case.toml": _toml(data)}, field="attrition")
    yield Case(
        "meaning:households=0",
        {"case.toml": _toml({"initial": {"households": 0}})},
        field="initial.households",
    )
    no_mainstream = {"type_weights": {"mainstream": 0.0, "emergency": 1.0}}
    yield Case(
        "meaning:no mainstream households",
        {"case.toml": _toml({"recruitment": {"household": no_mainstream}})},
        field="initial.households",
    )
    # Too few places for the in-house children is allowed (check notes it), and runs.
    yield Case(
        "meaning:households=400",
        {"case.toml": _toml({"initial": {"households": 400}})},
        valid=True,
    )
    yield Case(
        "meaning:age_ranges=[]",
        {"case.toml": _toml(_nested("recruitment.household.age_ranges", []))},
        field="recruitment.household.age_ranges",
    )
    yield Case("meaning:areas=[]", {"case.toml": _toml({"areas": []})}, field="areas")
    yield Case(
        "meaning:areas=repeated",
        {"case.toml": _toml({"areas": ["North", "North", "South", "East", "West"]})},
        field="areas",
    )
    for start, years in (
        (dt.date(9999, 6, 1), 1),
        (dt.date(1066, 10, 14), 1),
        (dt.date(2095, 1, 1), 10),
    ):
        where = "years" if dt.date(2000, 1, 1) <= start <= LAST_DATE else "start"
        yield Case(
            f"meaning:start={start}",
            {"case.toml": _toml({"start": start, "years": years})},
            field=where,
        )
    for stream, path in (
        ("children", "children.arrival_changes"),
        ("uasc", "uasc.surges"),
        ("recruitment", "recruitment.campaigns"),
    ):
        overlapping = [
            {"start": dt.date(2020, 1, 1), "end": dt.date(2021, 1, 1), "multiplier": 100.0}
        ] * 3
        yield Case(
            f"meaning:{path}=compounding",
            {"case.toml": _toml(_nested(path, overlapping))},
            field=stream,
        )
        outside = [{"start": dt.date(2010, 1, 1), "end": dt.date(2011, 1, 1), "multiplier": 2.0}]
        yield Case(
            f"meaning:{path}=outside",
            {"case.toml": _toml(_nested(path, outside))},
            field=f"{path}[0]",
        )
    target = {
        "interventions": {
            "recruitment_targets": [{"start": START, "approvals_per_year": 150_000.0}]
        }
    }
    yield Case(
        "meaning:target=enquiries",
        {"case.toml": _toml(target)},
        field="interventions.recruitment_targets[0]",
    )
    no_funnel = {"recruitment": {"application_prob": 0.0}, **target}
    yield Case(
        "meaning:target=no funnel",
        {"case.toml": _toml(no_funnel)},
        field="interventions.recruitment_targets[0]",
    )
    worst = {"breakdown": {"high_risk_multiplier": 100.0, "teen_multiplier": 10.0}}
    yield Case("meaning:breakdown=daily", {"case.toml": _toml(worst)}, field="breakdown")


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------- sizes and encodings


def size_cases() -> Iterator[Case]:
    many = MAX_ITEMS + 1
    yield Case(
        "size:areas", {"case.toml": _toml({"areas": [f"A{i}" for i in range(many)]})}, field="areas"
    )
    window = {"start": dt.date(2020, 1, 1), "end": dt.date(2020, 2, 1), "multiplier": 1.0}
    yield Case(
        "size:campaigns",
        {"case.toml": _toml(_nested("recruitment.campaigns", [window] * many))},
        field="recruitment.campaigns",
    )
    step = {"start": START}
    yield Case(
        "size:step_across",
        {"case.toml": _toml({"interventions": {"step_across": [step] * many}})},
        field="interventions.step_across",
    )
    yield Case("size:name", {"case.toml": _toml({"name": "x" * 201})}, field="name")
    yield Case(
        "size:description", {"case.toml": _toml({"description": "x" * 10_001})}, field="description"
    )
    yield Case("size:area name", {"case.toml": _toml({"areas": ["x" * 101]})}, field="areas.0")
    yield Case("size:empty area name", {"case.toml": _toml({"areas": [""]})}, field="areas.0")
    padding = "# " + "x" * 98 + "\n"
    yield Case("size:file", {"case.toml": padding * (MAX_FILE_BYTES // 100 + 1)})
    for depth in (MAX_DEPTH + 1, 1_000, 5_000, 100_000):
        yield Case(
            f"size:nested lists {depth}", {"case.toml": "a = " + "[" * depth + "]" * depth + "\n"}
        )
    for depth in (MAX_DEPTH + 1, 3_000):
        yield Case(f"size:dotted keys {depth}", {"case.toml": ".".join(["a"] * depth) + " = 1\n"})
        yield Case(
            f"size:inline tables {depth}",
            {"case.toml": "a = " + "{b = " * depth + "1" + "}" * depth + "\n"},
        )


def encoding_cases() -> Iterator[Case]:
    text = KENT.read_text(encoding="utf-8")
    for codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        yield Case(f"encoding:{codec}", {"case.toml": text.encode(codec)})
    yield Case("encoding:latin-1", {"case.toml": 'name = "Kent café"\n'.encode("latin-1")})
    yield Case("encoding:nul", {"case.toml": b"years = 2\x00\n"})
    yield Case("encoding:BOM twice", {"case.toml": b"\xef\xbb\xbf\xef\xbb\xbfyears = 2\n"})
    rng = random.Random(13)
    for i in range(6):
        yield Case(
            f"encoding:random bytes {i}",
            {"case.toml": bytes(rng.randrange(256) for _ in range(300))},
        )
    for cut in (100, 1000, 2500):
        yield Case(f"encoding:truncated at {cut}", {"case.toml": text[:cut] + "\n[children\n"})
    yield Case(
        "encoding:BOM", {"case.toml": b"\xef\xbb\xbf" + _toml({"years": 1}).encode()}, valid=True
    )


# ------------------------------------------------------------- extends and non-files


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda folder: os.mkfifo(folder / name)


def _symlink(name: str, target: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).symlink_to(target)


def extends_cases() -> Iterator[Case]:
    for k in range(1, 5):
        files = {f"f{i}.toml": f'extends = "f{(i + 1) % k}.toml"\n' for i in range(k)}
        yield Case(f"extends:loop of {k}", files, entry="f0.toml", field="extends")
    files = {f"f{i}.toml": f'extends = "f{i + 1}.toml"\n' for i in range(MAX_EXTENDS + 5)}
    files[f"f{MAX_EXTENDS + 5}.toml"] = "years = 2\n"
    yield Case("extends:long chain", files, entry="f0.toml", field="extends")
    yield Case(
        "extends:tail loop",
        {
            "a.toml": 'extends = "b.toml"\n',
            "b.toml": 'extends = "c.toml"\n',
            "c.toml": 'extends = "b.toml"\n',
        },
        entry="a.toml",
        field="extends",
    )
    targets: list[tuple[str, Any, Callable[[Path], None] | None]] = [
        ("missing", "nowhere.toml", None),
        ("directory", ".", None),
        ("proc mem", "/proc/self/mem", None),
        ("dev null", "/dev/null", None),
        ("dev zero", "/dev/zero", None),
        ("fifo", "pipe", _fifo("pipe")),
        ("dangling link", "gone", _symlink("gone", "nothing-here.toml")),
        (
            "link loop",
            "loop1",
            lambda f: (_symlink("loop1", "loop2")(f), _symlink("loop2", "loop1")(f)),
        ),
        ("link to folder", "there", _symlink("there", "/tmp")),
        ("long name", "x" * 5000, None),
        ("NUL in name", "a\x00b.toml", None),
        ("empty", "", None),
        ("number", 5, None),
        ("list", ["kent.toml"], None),
        ("table", {"path": "kent.toml"}, None),
        ("true", True, None),
    ]
    for label, target, setup in targets:
        for key in ("extends", "calibration"):
            yield Case(
                f"{key}:{label}",
                {"case.toml": tomli_w.dumps({key: target})},
                field=key,
                setup=setup,
            )
    yield Case(
        "extends:bad parent",
        {
            "parent.toml": "[children]\nkinship_prob = 2.0\n",
            "case.toml": 'extends = "parent.toml"\n',
        },
        field="children.kinship_prob",
    )
    yield Case(
        "extends:binary parent",
        {"parent.toml": bytes(range(256)), "case.toml": 'extends = "parent.toml"\n'},
        field="extends",
    )
    yield Case(
        "extends:calibration without table",
        {"fit.toml": "x = 1\n", "case.toml": 'calibration = "fit.toml"\n'},
        field="calibration",
    )


def entry_cases() -> Iterator[Case]:
    """The file to check is itself not a readable regular file."""
    yield Case("entry:missing", entry="missing.toml")
    yield Case("entry:directory", entry="folder", setup=lambda f: (f / "folder").mkdir())
    yield Case("entry:fifo", entry="pipe.toml", setup=_fifo("pipe.toml"))
    yield Case(
        "entry:dangling link", entry="gone.toml", setup=_symlink("gone.toml", "nothing.toml")
    )
    yield Case(
        "entry:link to dev zero", entry="zero.toml", setup=_symlink("zero.toml", "/dev/zero")
    )
    yield Case(
        "entry:link to proc mem", entry="mem.toml", setup=_symlink("mem.toml", "/proc/self/mem")
    )
    yield Case("entry:empty file", {"case.toml": b""}, valid=True)


def corpus() -> list[Case]:
    """Every case, in a fixed order."""
    families = (
        type_cases,
        range_cases,
        meaning_cases,
        size_cases,
        encoding_cases,
        extends_cases,
        entry_cases,
    )
    return [case for family in families for case in family()]
