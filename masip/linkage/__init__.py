"""Person linkage: resolve every source record role to a pseudonymous person_id.

The rest of the pipeline (the ``int_person_links`` dbt Python model) calls
only :func:`link_person_records`, so the method behind it can grow from exact
keyed-token matching to probabilistic (Splink) matching without touching
the warehouse code.
"""

from __future__ import annotations

import pandas as pd

from masip.linkage.deterministic import (
    KEY_COLUMNS,
    LINK_METHODS,
    OUTPUT_COLUMNS,
    TOKEN_RULES,
    link_deterministic,
    person_id_for,
)

__all__ = [
    "KEY_COLUMNS",
    "LINK_METHODS",
    "OUTPUT_COLUMNS",
    "TOKEN_RULES",
    "link_person_records",
    "person_id_for",
]


def link_person_records(records: pd.DataFrame) -> pd.DataFrame:
    """Assign a ``person_id`` to each record role in ``records``.

    ``records`` holds rows of ``intermediate.int_person_records`` (the
    columns of ``raw.person_records``, live versions only). Returns one row
    per input row: ``source_id, source_table, record_ref, role, person_id,
    link_method, match_probability``, sorted by record role so the result
    does not depend on input order.

    Today this is exact keyed-token linkage only (PNC > NHS > CRN >
    name+DOB, transitive); see :mod:`masip.linkage.deterministic`.
    """
    return link_deterministic(records)
