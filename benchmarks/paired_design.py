"""How many fewer replications a paired (common random numbers) comparison needs.

For each policy, the variance across replications of the paired difference (policy minus base,
same seeds) is compared with the variance of the difference of independent runs (the sum of
the two variances). Their ratio is the share of replications the paired design needs for the
same precision. Run from the repository root:

    python benchmarks/paired_design.py --reps 30 --years 7
"""

from __future__ import annotations

import argparse

import pandas as pd

from sim import load_scenario
from sim.compare import compare, variance_reduction

POLICIES = ("policy_hub_families", "policy_recruitment_campaign", "policy_retention_offer")
OUTCOMES = ("in_house", "ifa_spot", "households", "total_weekly_cost")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--years", type=float, default=7)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    base = load_scenario("scenarios/kent_baseline.toml", {"years": args.years})
    policies = [load_scenario(f"scenarios/{p}.toml", {"years": args.years}) for p in POLICIES]
    result = compare(base, policies, args.reps, args.seed, args.workers)
    rows = []
    base_snaps = result.tables[base.name]["snapshots"]
    for p in policies:
        for col in OUTCOMES:
            vr = variance_reduction(base_snaps, result.tables[p.name]["snapshots"], col)
            last = vr.iloc[-1]
            rows.append(
                {
                    "policy": p.name,
                    "outcome": col,
                    "year": int(last["year"]),
                    "paired / independent variance": round(last["replications_ratio"], 3),
                    "replications saved": f"{1 - last['replications_ratio']:.0%}",
                }
            )
    table = pd.DataFrame(rows)
    print(f"{args.reps} replications, seed {args.seed}, horizon {args.years} years\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
