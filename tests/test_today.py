"""Forecasting from today: the 2024 Kent start, dated policies, and the terminal tables.

Functional: the 2024 stock is the seeds' figures exactly; the policy scenarios start on the
seeds' dates; a horizon that ends before a policy starts is refused in plain words (command
line and ``check``); ``compare`` shows the years from the first policy start, or those asked
for; ``run`` and ``compare`` print within 80 columns.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sim import cli
from sim.config import load_scenario, long_date, policy_starts
from sim.model import simulate

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
KENT_2024 = SCENARIOS / "kent_2024.toml"


def _first_snapshot(path: Path, replication: int = 0) -> dict:
    scenario = load_scenario(path, {"years": 0.1})
    snaps = simulate(scenario, seed=2024, replication=replication).tables()["snapshots"]
    return snaps.iloc[0].to_dict()


@pytest.mark.parametrize("replication", [0, 1])
def test_kent_2024_stock_is_the_seed_figures(replication):
    """E01, E55-E57, E61: 1,950 in care, 680 with in-house carers, 129 with connected persons
    in 63 kinship households, 617 households in all, at 30 September 2024."""
    s = _first_snapshot(KENT_2024, replication)
    assert str(s["date"])[:10] == "2024-09-30"
    assert s["children_in_care"] == 1950
    assert s["in_house"] == 680
    assert s["connected"] == 129
    assert s["households_connected"] == 63
    assert s["households"] + s["households_connected"] == 617
    assert s["waiting"] == 0


def test_connected_children_share_the_kinship_households():
    """Without ``connected_households`` each connected child has a household of its own;
    with it, the children are spread over exactly that many."""
    base = load_scenario(KENT_2024, {"years": 0.1})
    one_each = base.model_copy(
        update={"initial": base.initial.model_copy(update={"connected_households": None})}
    )
    s = simulate(one_each, seed=2024, replication=0).tables()["snapshots"].iloc[0]
    assert s["connected"] == s["households_connected"] == 129


def test_without_place_all_in_house_some_start_with_agencies():
    """The exemption for children placed alone is what makes the 680 exact."""
    base = load_scenario(KENT_2024, {"years": 0.1})
    loose = base.model_copy(
        update={"initial": base.initial.model_copy(update={"place_all_in_house": False})}
    )
    s = simulate(loose, seed=2024, replication=0).tables()["snapshots"].iloc[0]
    assert s["in_house"] < 680
    assert s["children_in_care"] == 1950


def test_kinship_households_must_each_hold_a_child():
    from sim.config import ScenarioError

    with pytest.raises(ScenarioError, match=r"initial\.connected_households"):
        load_scenario(KENT_2024, {"initial": {"connected_households": 130}})


#: The seeds' dates (seed E69: South Kent "operational by November 2024", East Kent "early
#: 2025"); hub families have no date after 2020 and start with the scenario.
SEED_STARTS = {
    "kent_2024_mockingbird.toml": [
        ("Mockingbird constellation (South)", dt.date(2024, 11, 1)),
        ("Mockingbird constellation (East)", dt.date(2025, 2, 1)),
    ],
    "kent_2024_hub_families.toml": [("Hub families", dt.date(2024, 9, 30))],
    "kent_2024_plan.toml": [
        ("Hub families", dt.date(2024, 9, 30)),
        ("Mockingbird constellation (South)", dt.date(2024, 11, 1)),
        ("Mockingbird constellation (East)", dt.date(2025, 2, 1)),
    ],
}


@pytest.mark.parametrize("name", sorted(SEED_STARTS))
def test_policy_scenarios_for_today_start_on_the_seed_dates(name, capsys):
    path = SCENARIOS / name
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    policy, base = load_scenario(path), load_scenario(KENT_2024)
    assert policy.start == base.start == dt.date(2024, 9, 30)
    assert policy_starts(policy, base) == SEED_STARTS[name]
    for title, day in SEED_STARTS[name]:
        assert f"{title}: from {long_date(day)}" in out
    # the ring-fence is part of the 2024 position, not of the policy
    assert ("UASC ring-fence", base.start) in policy_starts(policy)
