"""Run inside cs-demand-model's environment: project an SSDA903 history with its Markov model.

Usage: ``python demand_model.py ARGS_JSON`` with ``source`` (the export folder), ``days``,
``step_days``, ``reference_start`` and ``reference_end`` (ISO dates or null). Prints one line,
``@@RESULT@@`` followed by the prediction and the weekly history as JSON.
"""

# mypy: ignore-errors

import json
import logging
import sys

import pandas as pd
from cs_demand_model import Config, DemandModellingDataContainer, ModelPredictor, PopulationStats
from cs_demand_model.datastore import fs_datastore


def flat(df):
    df = df.copy()
    df.columns = ["|".join(c) if isinstance(c, tuple) else str(c) for c in df.columns]
    df.index = [pd.Timestamp(i).strftime("%Y-%m-%d") for i in df.index]
    return json.loads(df.to_json(orient="split"))


def main(args):
    config = Config()
    dc = DemandModellingDataContainer(fs_datastore(args["source"]), config)
    stats = PopulationStats(dc.enriched_view, config)
    end = pd.Timestamp(args["reference_end"]) if args["reference_end"] else dc.end_date
    if args["reference_start"]:
        start = pd.Timestamp(args["reference_start"])
    else:
        start = end - pd.DateOffset(months=6)  # the demand model's own default
    predictor = ModelPredictor.from_model(stats, start, end)
    step = int(args["step_days"])
    pred = predictor.predict(int(args["days"]) // step, step_days=step)
    hist = stats.stock.loc[:end]
    return {
        "reference_start": pd.Timestamp(start).strftime("%Y-%m-%d"),
        "reference_end": pd.Timestamp(end).strftime("%Y-%m-%d"),
        "prediction": flat(pred),
        "history": flat(hist.iloc[::7]),
    }


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    print("@@RESULT@@" + json.dumps(main(json.loads(sys.argv[1]))))
