"""Deterministic person linkage on exact keyed tokens.

Why this exists: every source record role (the victim of crime C, the
subject of order O, ...) must resolve to one pseudonymous ``person_id`` so
that a victim's journey can be followed across agencies (SPEC §4). This
module does the exact-token part of that job: two record roles that share a
keyed PNC, NHS, CRN or name+date-of-birth token are taken to be the same
person. :func:`token_edges` gives these links to the full linkage
(:func:`masip.linkage.link_person_records`), which adds Fellegi–Sunter and
context links and clusters them with guards; :func:`link_deterministic`,
exact tokens alone with plain transitive closure, remains as the baseline
the linkage benchmark compares against.

Design constraints:

* **Order independence.** Ingesting the same drops in any order must give
  byte-identical marts, so ``person_id`` is derived from content (the
  smallest member key of a component), never from row positions or
  component numbers.
* **Scale.** The graph is built as a sparse bipartite matrix (record roles
  on one side, distinct token values on the other) and solved with
  :func:`scipy.sparse.csgraph.connected_components`; nothing loops over rows
  in Python except hashing one key per component.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from masip.linkage.comparisons import arrow_array

#: Columns that identify one record role; their ``|``-joined values form the member key.
KEY_COLUMNS: Final[tuple[str, ...]] = (
    "source_id",
    "source_table",
    "record_ref",
    "role",
)

#: Exact-token rules, strongest first, as (token column, link_method).
#: PNC and NHS numbers are validated national identifiers; a CRN is
#: probation-local but still a reliable key; name+DOB is the weakest exact rule
#: (namesakes born on the same day do exist), so it ranks last.
TOKEN_RULES: Final[tuple[tuple[str, str], ...]] = (
    ("pnc_token", "PNC"),
    ("nhs_token", "NHS"),
    ("crn_token", "CRN"),
    ("name_dob_token", "NAME_DOB"),
)

SINGLETON: Final[str] = "SINGLETON"
#: Every ``link_method`` of ``marts.person_xref``, strongest first: the exact
#: token rules, then Fellegi–Sunter and context links (masip.linkage), a
#: reviewer's decision alone (masip.linkage.review), then records linked to nothing.
LINK_METHODS: Final[tuple[str, ...]] = (
    tuple(m for _, m in TOKEN_RULES) + ("PROBABILISTIC", "CONTEXT", "CLERICAL", SINGLETON)
)
OUTPUT_COLUMNS: Final[tuple[str, ...]] = (
    *KEY_COLUMNS,
    "person_id",
    "link_method",
    "match_probability",
)


def person_id_for(member_key: str) -> str:
    """Return the person_id of a component named by ``member_key`` (the linkage: its first-delivered record;
    :func:`link_deterministic`: its smallest member key).

    A hash of a member key (not a counter) makes the id independent of row
    order and of how many other people are in the data; SHA-256 truncated to
    64 bits keeps ids short while collisions stay negligible at partnership
    scale (about 1 in 10^7 for a million people).
    """
    return "P" + hashlib.sha256(member_key.encode("utf-8")).hexdigest()[:16]


def sorted_member_keys(records: pd.DataFrame) -> tuple[np.ndarray, pa.Array]:
    """The row order that sorts ``records`` by member key, and the sorted keys.

    A member key is ``source_id|source_table|record_ref|role``, the identity
    of a record role. Built and sorted with Arrow (millions of rows, no
    Python string per row); the order is UTF-8 byte order, which is code
    point order. Refuses records without the key columns, and a record role
    that occurs twice: that would mean the live-version filter upstream is
    broken, and silently merging the two could hide it.
    """
    missing = [c for c in KEY_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"person records lack key column(s): {', '.join(missing)}")
    parts = [pc.fill_null(arrow_array(records[c]).cast(pa.string()), "") for c in KEY_COLUMNS]
    keys = pc.binary_join_element_wise(*parts, "|")
    order = pc.sort_indices(keys).to_numpy()
    sorted_keys = keys.take(order)
    duplicated = pc.equal(sorted_keys[1:], sorted_keys[:-1]) if len(sorted_keys) else pa.array([], pa.bool_())
    if pc.any(duplicated).as_py():
        dupes = sorted(set(sorted_keys[1:].filter(duplicated).to_pylist()))[:5]
        raise ValueError(
            "person records hold the same record role more than once "
            f"(e.g. {', '.join(dupes)}); expected one row per live record role"
        )
    return order, sorted_keys


def token_edges(records: pd.DataFrame) -> pd.DataFrame:
    """Edges ``i, j, rank, probability`` between rows sharing an exact token.

    Each group of rows with the same token value of one rule becomes a star
    from its first row (rows are assumed in canonical order); ``rank`` is the
    rule's position in :data:`TOKEN_RULES`. NULL and blank tokens link nothing.
    """
    parts = []
    rows = np.arange(len(records))
    for rank, (column, _method) in enumerate(TOKEN_RULES):
        if column not in records.columns:
            continue
        values = records[column].to_numpy(dtype=object)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        present = codes >= 0
        blank = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
        if len(blank):
            present &= codes != blank[0]
        if not present.any():
            continue
        first = pd.Series(rows[present]).groupby(codes[present]).transform("min").to_numpy()
        member = rows[present]
        keep = member != first
        parts.append(pd.DataFrame({"i": first[keep], "j": member[keep], "rank": rank, "probability": 1.0}))
    if not parts:
        return pd.DataFrame({"i": pd.Series([], dtype=np.int64), "j": pd.Series([], dtype=np.int64),
                             "rank": pd.Series([], dtype=np.int64), "probability": pd.Series([], dtype=float)})
    return pd.concat(parts, ignore_index=True)


def link_deterministic(records: pd.DataFrame) -> pd.DataFrame:
    """Link record roles that share any exact keyed token; see module docstring.

    ``records`` has the columns ``connectors.raw_schema.PERSON_RECORD_COLUMNS`` (at least the key
    columns; missing token columns are treated as all-NULL). Each
    ``(source_id, source_table, record_ref, role)`` must occur once: the same
    record role twice would mean the live-version filter upstream is broken,
    and silently merging the two could hide that.

    Returns one row per input row, sorted by member key, with the key
    columns, ``person_id``, ``link_method`` (the strongest rule that joined
    the record to at least one other record, or ``SINGLETON``) and
    ``match_probability`` (1.0 for a deterministic link, NULL for a
    singleton).
    """
    n = len(records)
    # One sort of the member keys gives duplicate detection, the "smallest
    # member" of each component and the output order, all without Python loops.
    order, sorted_keys = sorted_member_keys(records)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)

    # Bipartite graph: record-role nodes 0..n-1, then one node per distinct
    # (rule, token value). A row with a NULL token gets no edge for that rule,
    # so NULLs never link records.
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    # rule_shared[i, r] is True when row i's token for rule r is shared with another row.
    rule_shared = np.zeros((n, len(TOKEN_RULES)), dtype=bool)
    next_node = n
    for r, (column, _method) in enumerate(TOKEN_RULES):
        if column not in records.columns:
            continue
        values = records[column].to_numpy(dtype=object)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        present = codes >= 0
        blank = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
        if len(blank):  # a blank token is a missing token, never a shared value
            present &= codes != blank[0]
        if not present.any():
            continue
        counts = np.bincount(codes[present], minlength=len(uniques))
        rule_shared[present, r] = counts[codes[present]] >= 2
        rows.append(np.flatnonzero(present))
        cols.append(codes[present] + next_node)
        next_node += len(uniques)

    if rows:
        row_idx = np.concatenate(rows)
        col_idx = np.concatenate(cols)
    else:
        row_idx = col_idx = np.empty(0, dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(row_idx), dtype=np.int8), (row_idx, col_idx)),
        shape=(next_node, next_node),
    ).tocsr()
    _, labels = connected_components(graph, directed=False)
    labels = labels[:n]

    n_components = int(labels.max()) + 1 if n else 0
    # Smallest member key per component -> person_id (one hash per component).
    min_rank = np.full(n_components, n, dtype=np.int64)
    np.minimum.at(min_rank, labels, rank)
    component_ids = np.array(
        [person_id_for(k) for k in sorted_keys.take(min_rank).to_pylist()], dtype=object
    )
    person_ids = component_ids[labels] if n else np.empty(0, dtype=object)

    methods = np.array([m for _, m in TOKEN_RULES] + [SINGLETON], dtype=object)
    any_shared = rule_shared.any(axis=1)
    strongest = np.where(any_shared, rule_shared.argmax(axis=1), len(TOKEN_RULES))
    link_method = methods[strongest]

    match_probability = np.where(any_shared, 1.0, np.nan)
    out = pd.DataFrame(
        {c: records[c].astype(object).to_numpy()[order] for c in KEY_COLUMNS}
    )
    out["person_id"] = person_ids[order]
    out["link_method"] = link_method[order]
    out["match_probability"] = pd.array(match_probability[order], dtype="Float64")
    out.loc[~any_shared[order], "match_probability"] = pd.NA
    return out[list(OUTPUT_COLUMNS)]
