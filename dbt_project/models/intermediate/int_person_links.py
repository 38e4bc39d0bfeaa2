"""One person_id per live record role (SPEC §4), from masip.linkage.

A Python model so that the linkage rules live in one tested Python function
(``masip.linkage.link_person_records``) that the fuzzy linkage can later
extend, instead of being restated in SQL.
"""

import pandas as pd

from masip.linkage import OUTPUT_COLUMNS, link_person_records


def model(dbt, session):
    dbt.config(materialized="table")
    records = dbt.ref("int_person_records").df()
    links = link_person_records(records)
    # Explicit dtypes: an empty frame of object columns would reach DuckDB as
    # columns of type NULL.
    typed = {
        c: links[c].astype("string") for c in OUTPUT_COLUMNS if c != "match_probability"
    }
    typed["match_probability"] = links["match_probability"].astype("Float64")
    return pd.DataFrame(typed)[list(OUTPUT_COLUMNS)]
