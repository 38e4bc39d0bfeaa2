"""``masip explain-person``: why the linkage made one person of these record roles.

Lists the person's record roles (agency references only) with the link
method and probability that joined each (``marts.person_xref``), then the
evidence between each pair of its roles: the identifiers they share (by
name: PNC, NHS, CRN, NAME_DOB; never the token), the posterior match
probability and each compared field's agreement level and match weight,
scored with the published linkage model on the roles' vault encodings; and
any clerical review item that involves the person (``ops.review_queue``).

Keyless: it reads the warehouse and, read-only, the vault's encodings and
linkage state (model and term frequencies), like the linkage stage. No
value, token or filter is printed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from connectors.vault import VAULT_ENV, Vault
from masip.linkage.deterministic import KEY_COLUMNS, TOKEN_RULES
from masip.linkage.stage import RECORDS_SQL, warehouse_build_id
from masip.linkage.state_store import load_state, stored_build_id
from masip.warehouse import attach_read_only

PERSON_ID = re.compile(r"P[0-9a-f]{16}")
#: Pairs of a person's roles scored at most (a person with very many records lists the first ones).
MAX_PAIRS = 300


class ExplainError(ValueError):
    """The person cannot be explained (unknown id, no warehouse); the message says what to do."""


@dataclass
class Explanation:
    person_id: str
    roles: pd.DataFrame  # key columns, agency, link_method, match_probability
    pairs: list[dict] = field(default_factory=list)  # a, b (role labels), probability, shared, fields
    pairs_truncated: bool = False
    reviews: pd.DataFrame | None = None
    model_note: str | None = None


def _label(row: pd.Series | dict) -> str:
    return f"{row['source_id']}/{row['source_table']}/{row['record_ref']}/{row['role']}"


def _roles(con: duckdb.DuckDBPyConnection, person_id: str) -> pd.DataFrame:
    return con.execute(
        f"select {', '.join(KEY_COLUMNS)}, agency, link_method, match_probability from marts.person_xref "
        "where person_id = ? order by all", [person_id]
    ).df()


def _reviews(con: duckdb.DuckDBPyConnection, person_id: str) -> pd.DataFrame | None:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'review_queue'"
    ).fetchone()[0]
    if not found:
        return None
    return con.execute(
        "select * from ops.review_queue where person_id_a = ? or person_id_b = ? order by review_id",
        [person_id, person_id],
    ).df()


def _encoded(con: duckdb.DuckDBPyConnection, vault: Vault, roles: pd.DataFrame) -> pd.DataFrame:
    con.register("person_roles", roles[list(KEY_COLUMNS)])
    attach_read_only(con, vault.require_records(), "vault")
    try:
        keys = " and ".join(f"records.{c} = person_roles.{c}" for c in KEY_COLUMNS)
        return con.sql(
            f"select records.* from ({RECORDS_SQL}) as records join person_roles on {keys}"
        ).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
    finally:
        con.execute("detach vault")
        con.unregister("person_roles")


def _pair_evidence(
    records: pd.DataFrame, vault: Vault, population: int, links_build: str | None,
) -> tuple[list[dict], bool, str | None]:
    """Shared identifiers and field-by-field evidence of each pair of ``records`` (the person's roles).

    Posterior probabilities are under the prior the linkage decided with for
    ``population`` live record roles (:meth:`masip.linkage.fuzzy.Model.prior_for`),
    with the model of the vault's linkage state when it is the one that made
    the warehouse's links (build ``links_build``).
    """
    from masip.linkage import _canonical, fuzzy
    from masip.linkage import review as rv
    from masip.linkage.scorer import Scorer

    if not vault.state_path.is_file():
        return [], False, "no published linkage state in the vault: field evidence unavailable"
    with duckdb.connect(str(vault.state_path), read_only=True) as con:
        if stored_build_id(con) != links_build:
            return [], False, ("the vault's linkage state is not the one that made this warehouse's links (a later or "
                               "failed build): field evidence unavailable")
        state = load_state(con)
    recs, keys = _canonical(records.drop(columns=["without_encodings"], errors="ignore"))
    labels = [k.replace("|", "/") for k in keys.to_pylist()]
    n = len(recs)
    i, j = np.triu_indices(n, k=1)
    truncated = len(i) > MAX_PAIRS
    pairs = pd.DataFrame({"i": i[:MAX_PAIRS], "j": j[:MAX_PAIRS]})
    pairs["review_id"] = [f"{a}-{b}" for a, b in zip(pairs["i"], pairs["j"])]
    shared = {}
    for column, method in TOKEN_RULES:
        if column in recs:
            codes = recs[column].to_numpy(dtype=float, na_value=np.nan)
            shared[method] = (codes[pairs["i"]] == codes[pairs["j"]])
    fields = pd.DataFrame()
    prior_weight = None
    note = None
    if state is None or state.model is None or not fuzzy.has_fuzzy_encodings(recs) or n < 2:
        note = "no linkage model (tokens only): field evidence unavailable"
    else:
        model = fuzzy.Model.from_json(state.model)
        prior = model.prior_for(population)
        prior_weight = math.log2(prior / (1 - prior))
        with Scorer(recs, state.term_frequencies) as scorer:
            fields = rv.field_agreements(scorer, model, pairs)
    out = []
    for k, row in pairs.iterrows():
        of_pair = fields[fields["review_id"] == row["review_id"]] if len(fields) else fields
        probability = None
        if prior_weight is not None and len(of_pair):
            weight = prior_weight + float(of_pair["match_weight"].sum())
            probability = 1.0 / (1.0 + math.pow(2.0, -weight))
        out.append({
            "a": labels[row["i"]], "b": labels[row["j"]], "probability": probability,
            "shared": [m for m, agree in shared.items() if bool(agree[k])],
            "fields": of_pair[["field", "agreement_level", "match_weight"]].to_dict("records") if len(of_pair) else [],
        })
    return out, truncated, note


def explain_person(person_id: str, warehouse: Path, vault: Vault) -> Explanation:
    """The person's roles, the evidence between them and their pending reviews (see module docstring)."""
    if not PERSON_ID.fullmatch(person_id):
        raise ExplainError("a person_id is 'P' and 16 lower-case hex digits (as in marts.person_xref)")
    if not warehouse.is_file():
        raise ExplainError(f"no warehouse at {warehouse}: run `masip run` first, or pass --warehouse")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        roles = _roles(con, person_id)
        if roles.empty:
            raise ExplainError(f"no person {person_id} in marts.person_xref of {warehouse} (ids change when a "
                               "re-run links differently: look the record up by its agency reference)")
        reviews = _reviews(con, person_id)
        records = _encoded(con, vault, roles)
        population = con.execute("select count(*) from marts.person_xref").fetchone()[0]
        links_build = warehouse_build_id(con)
    if len(records) < len(roles) or records["without_encodings"].any():
        raise ExplainError(
            f"the person's record roles have no encodings in the vault {vault.directory}: it is not the vault this "
            f"warehouse was built with, so it has no evidence to show. What to do: point --vault (or {VAULT_ENV}) at "
            "that vault, then re-run"
        )
    pairs, truncated, note = _pair_evidence(records, vault, population, links_build)
    return Explanation(person_id, roles, pairs, truncated, reviews, note)


def format_explanation(explanation: Explanation) -> str:
    """The explanation as text for a terminal (agency references, methods, levels and weights only)."""
    roles = explanation.roles
    lines = [f"Person {explanation.person_id}: {len(roles)} record role(s)", "",
             "Record roles and the link that joined each:"]
    for _, row in roles.iterrows():
        probability = "" if pd.isna(row["match_probability"]) else f", probability {row['match_probability']:.3f}"
        lines.append(f"  {_label(row)} ({row['agency']}): {row['link_method']}{probability}")
    if explanation.pairs:
        lines += ["", "Evidence between the roles (shared identifiers; posterior probability; field: level weight):"]
    for pair in explanation.pairs:
        shared = ", ".join(pair["shared"]) or "none"
        probability = "n/a" if pair["probability"] is None else f"{pair['probability']:.3f}"
        lines.append(f"  {pair['a']} ~ {pair['b']}: shared identifiers {shared}; probability {probability}")
        if pair["fields"]:
            lines.append("    " + "; ".join(f"{f['field']}: {f['agreement_level']} {f['match_weight']:+.2f}"
                                             for f in pair["fields"]))
    if explanation.pairs_truncated:
        lines.append(f"  (first {MAX_PAIRS} pairs only)")
    if explanation.model_note:
        lines += ["", f"Note: {explanation.model_note}."]
    reviews = explanation.reviews
    if reviews is not None and len(reviews):
        lines += ["", "Awaiting clerical review:"]
        for _, item in reviews.iterrows():
            a = {c: item[f"{c}_a"] for c in KEY_COLUMNS}
            b = {c: item[f"{c}_b"] for c in KEY_COLUMNS}
            lines.append(f"  {item['review_id']}: {_label(a)} ({item['person_id_a']}) ~ {_label(b)} "
                         f"({item['person_id_b']}), {item['link_method']} probability {item['match_probability']:.3f}")
    return "\n".join(lines) + "\n"
