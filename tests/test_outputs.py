"""The output catalogue (sim/outputs.py) declares exactly the columns the model writes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sim import load_scenario, outputs
from sim.batch import KPIS, replication_kpis
from sim.model import simulate
from sim.model.metrics import Recorder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    # The combination of every policy exercises hub families, Mockingbird, ring-fencing,
    # step-across and the National Transfer Scheme, whose flows the baseline never records.
    scenario = load_scenario(ROOT / "scenarios" / "policy_combined.toml", {"years": 6})
    res = simulate(scenario, seed=7, replication=0)
    return scenario, res.tables()


@pytest.mark.parametrize("table", ["snapshots", "flows"])
def test_every_column_the_model_writes_is_catalogued_and_vice_versa(tables, table):
    _, t = tables
    assert set(t[table].columns) == set(outputs.columns(table))


def test_every_kpi_is_catalogued_and_vice_versa(tables):
    scenario, t = tables
    kpis = replication_kpis(t["snapshots"], t["flows"], scenario)
    # "events" is added by the batch from the run's metadata.
    assert set(kpis) | {"events"} == set(outputs.columns("kpis")) == set(KPIS)


def test_a_flow_that_never_happened_is_zero_not_missing(tables):
    _, t = tables
    flows = t["flows"]
    counts = flows[list(outputs.FLOW_COUNTS)]
    assert not counts.isna().any().any()
    # at least one catalogued flow does not happen in these six years, and reads as 0
    assert (counts.sum() == 0).any()


def test_a_flow_missing_from_the_catalogue_is_refused(monkeypatch):
    arrival = Recorder.arrival

    def arrival_and_a_typo(self, child):
        arrival(self, child)
        self.flow("carers_lost_to_a_typo")

    monkeypatch.setattr(Recorder, "arrival", arrival_and_a_typo)
    scenario = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 0.5})
    with pytest.raises(ValueError, match="carers_lost_to_a_typo"):
        simulate(scenario, seed=1, replication=0)


def test_titles_units_and_directions_are_declared_once():
    for table in outputs.TABLES:
        for name, o in outputs.CATALOGUE[table].items():
            assert o.name == name and o.table == table
            assert o.title and o.unit, name
            assert o.better in (-1, 0, 1) and o.kind in (
                "count",
                "share",
                "money",
                "months",
                "key",
            )
    assert outputs.title("ifa_spot") == outputs.CATALOGUE["snapshots"]["ifa_spot"].title
    # a stock and a flow may share a name: each table keeps its own entry
    assert outputs.title("placed_for_adoption", "flows") != outputs.title("placed_for_adoption")


def test_values_are_written_by_kind():
    assert outputs.fmt("kpi_3plus_placements", 0.106) == "10.6%"
    assert outputs.fmt("kpi_3plus_placements", 0.012, signed=True) == "+1.2 points"
    assert outputs.fmt("weekly_cost", 2_850_000) == "£2.85m"
    assert outputs.fmt("weekly_cost", -1500, signed=True) == "-£1,500"
    assert outputs.fmt("in_house", 1234.4) == "1,234"
    assert outputs.fmt("in_house", math.nan) == "–"
    assert outputs.fmt("not_a_column", 3.0) == "3"


def test_every_reader_takes_its_titles_from_the_catalogue(tables, monkeypatch):
    """Renaming a column in the catalogue renames it in the CLI summary, the report, the
    paired differences and the fan charts: there is no second label table."""
    import dataclasses

    from sim import analysis, compare, plots, report

    new = "Children with the council's carers (renamed)"
    entry = outputs.CATALOGUE["snapshots"]["in_house"]
    monkeypatch.setitem(
        outputs.CATALOGUE["snapshots"], "in_house", dataclasses.replace(entry, title=new)
    )
    _, t = tables
    snaps = t["snapshots"].assign(replication=0)
    summary = analysis.yearly_summary(snaps, ["in_house"])
    assert new in analysis.format_summary(summary)
    result = report.ScenarioResult({"snapshots": snaps}, {"scenario": "x", "seed": 1})
    assert new.replace("'", "&#x27;") in report.summary_table_html(result, ["in_house"])
    diff = compare.paired_differences(snaps, snaps, ["in_house"])
    assert set(diff["label"]) == {new}
    assert plots.fan_chart(snaps, "in_house").get_title(loc="left") == new
