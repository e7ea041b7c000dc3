"""Run inside csc-validator-be-903's environment: the DfE rules over exported collection years.

Usage: ``python validate_903.py ARGS_JSON`` with ``jobs``, each ``{"year", "ruleset",
"this_year": [csv paths], "prev_year": [csv paths], "la"}``. Prints one line, ``@@RESULT@@``
followed by, per job, the rules that ran, were skipped or crashed, and the failures.
"""

# mypy: ignore-errors

import importlib
import json
import logging
import sys

import pandas as pd
from lac_validator import datastore, lac_validator
from lac_validator.utils import process_uploaded_files


def keep_only_postcodes_in(paths):
    """Trim the validator's postcode table to the postcodes in the uploaded files.

    Every postcode lookup is a left join of the files' postcodes, upper-cased and without
    spaces, on this table (a million rows for Kent's letters), which it factorises afresh for
    each join: a third of the time of the rules. Rows that no value in the files can match never
    join, so every result is unchanged.
    """
    keys = set()
    for path in paths:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in df.columns:
            keys.update(df[col].str.upper().str.replace(r"\s+", "", regex=True))
    table = datastore.postcodes
    load = table.load_postcodes

    def load_and_trim(letters):
        load(letters)
        table._df = table._df[table._df["pcd_abbr"].isin(keys)].reset_index(drop=True)

    table.load_postcodes = load_and_trim


def _failures(v):
    failures, examples, values = {}, {}, {}
    for table, df in v.ds_results.items():
        if table == "metadata" or not isinstance(df, pd.DataFrame):
            continue
        for col in df.columns:
            if not str(col).startswith("ERR_"):
                continue
            hit = df[col].fillna(False).astype(bool)
            n = int(hit.sum())
            if not n:
                continue
            rule = str(col)[4:]
            failures[rule] = failures.get(rule, 0) + n
            if "CHILD" in df:
                examples.setdefault(rule, [str(c) for c in df.loc[hit, "CHILD"][:5]])
            if table == "Episodes" and "PLACE" in df:
                places = values.setdefault(rule, {})
                for k, m in df.loc[hit, "PLACE"].fillna("").value_counts().items():
                    places[str(k)] = places.get(str(k), 0) + int(m)
    return failures, examples, values


def run(job):
    registry = importlib.import_module("lac_validator.rules." + job["ruleset"]).registry
    files = {"This year": job["this_year"]}
    if job["prev_year"]:
        files["Prev year"] = job["prev_year"]
    v = lac_validator.LacValidator(
        metadata={"collectionYear": str(job["year"]), "localAuthority": job["la"]},
        files=process_uploaded_files(files),
        registry=registry,
        selected_rules=None,
    )
    failures, examples, values = _failures(v)
    return {
        "year": job["year"],
        "ruleset": job["ruleset"],
        "rules": {
            c: {"message": r.message, "tables": list(r.tables or [])} for c, r in registry.items()
        },
        "ran": sorted(v.dones),
        "skipped": sorted(v.skips),
        "crashed": sorted(v.fails),
        "failures": failures,
        "examples": examples,
        "failing_places": values,
        "has_previous": bool(job["prev_year"]),
        "rows": {t: len(df) for t, df in v.dfs.items()},
    }


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    args = json.loads(sys.argv[1])
    keep_only_postcodes_in(p for job in args["jobs"] for p in job["this_year"] + job["prev_year"])
    print("@@RESULT@@" + json.dumps([run(job) for job in args["jobs"]]))
