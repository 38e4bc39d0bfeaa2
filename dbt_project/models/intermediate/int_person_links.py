"""One person_id per live record role (SPEC §4), from masip.linkage.

A Python model so that the linkage rules live in one tested Python function
(``masip.linkage.link_with_state``) instead of being restated in SQL.

Weekly runs are incremental: the model reads the previous build's linkage
state from the warehouse (``masip.linkage.warehouse_state``: the frozen
Fellegi–Sunter model and every scored pair with its records' fingerprints),
scores only pairs with a new or changed record, and stores the new state.
Clustering is redone in full, so the links equal those of scoring every pair
under the same model. The model is retrained on a first build and when the
config ``linkage_retrain`` is true (``masip run --full-refresh``).

Besides the person records it passes the linkage the *context* of each
record: the police crime it is about (a crime itself; the crime an order's
``crime_ref`` names; the crime an advocacy case's ``force`` +
``police_crime_ref`` names). The linkage uses it to tie a case's client and
named perpetrator, and an order's protected person and subject, to that
crime's victim and suspect. Staging models are read (not int_crimes etc.),
because those depend on this model's output.
"""

import pandas as pd

from masip.linkage import OUTPUT_COLUMNS, link_with_state
from masip.linkage.warehouse_state import load_state, store_state

CONTEXT_COLUMNS = ["source_id", "source_table", "record_ref", "force", "crime_ref"]


def _context(dbt) -> pd.DataFrame:
    crimes = dbt.ref("stg_police__crimes").df()
    orders = dbt.ref("stg_police__orders").df()
    cases = dbt.ref("stg_advocacy__cases").df()
    frames = [
        pd.DataFrame(
            {
                "source_id": crimes["source_id"],
                "source_table": "crimes",
                "record_ref": crimes["crime_ref"],
                "force": crimes["force"],
                "crime_ref": crimes["crime_ref"],
            }
        ),
        pd.DataFrame(
            {
                "source_id": orders["source_id"],
                "source_table": "orders",
                "record_ref": orders["order_ref"],
                "force": orders["force"],
                "crime_ref": orders["crime_ref"],
            }
        ),
        pd.DataFrame(
            {
                "source_id": cases["source_id"],
                "source_table": "cases",
                "record_ref": cases["case_ref"],
                "force": cases["force"],
                "crime_ref": cases["police_crime_ref"],
            }
        ),
    ]
    context = pd.concat(frames, ignore_index=True)
    return context.astype(object).where(context.notna(), None)[CONTEXT_COLUMNS]


def model(dbt, session):
    dbt.config(materialized="table")
    # Arrow-backed columns: a national year of records takes about a third of
    # the memory of Python string objects
    records = dbt.ref("int_person_records").to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
    retrain = str(dbt.config.get("linkage_retrain")).lower() == "true"
    previous = None if retrain else load_state(session)
    links, state = link_with_state(records, context=_context(dbt), previous=previous)
    store_state(session, state)
    # Explicit dtypes: an empty frame of object columns would reach DuckDB as
    # columns of type NULL.
    typed = {
        c: links[c].astype("string") for c in OUTPUT_COLUMNS if c != "match_probability"
    }
    typed["match_probability"] = links["match_probability"].astype("Float64")
    return pd.DataFrame(typed)[list(OUTPUT_COLUMNS)]
