"""What the records' relationships say about who is who (SPEC §2, §4).

Two kinds of context, both used only as prior probabilities that are then
updated with the pair's own Fellegi–Sunter evidence (never as links on
their own when the identifiers disagree):

1. **Crime references.** An advocacy case's ``police_crime_ref`` (with its
   ``force``) and an order's ``crime_ref`` name a police crime. The case's
   client and the order's protected person are then most probably that
   crime's victim, and the case's perpetrator and the order's subject its
   suspect. Each record role gets a ``ctx_key`` — a hash of (force, crime
   reference, role) — so the scorer can pair the roles that share one
   (:data:`CRIME_REF_PRIOR`).
2. **Dyads.** A perpetrator named on a victim's advocacy case — often by
   name alone — is most probably one of the perpetrators already known for
   that victim (the suspects of the victim's crimes, the subjects of the
   orders protecting the victim, ...). After the first clustering, every
   role still unresolved (a singleton, or in a cluster with no date of
   birth and no identifier) is compared with the roles of the same kind
   whose partner in their own record (victim <-> perpetrator) is the same
   person as its partner; the best candidate person is taken when its
   posterior probability — :data:`DYAD_PRIOR` spread over the candidate
   persons, times the Fellegi–Sunter Bayes factor of the pair's own
   evidence — is at least :data:`ACCEPT`. The same applies to a victim
   with a known perpetrator. A candidate with a date of birth that
   disagrees gets a vanishing Bayes factor, so context never overrides
   contrary evidence.

Records that carry only a name are never linked on the name alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from masip.linkage.comparisons import arrow_array

#: Prior probability that the role on a case/order and the same role on the
#: crime it references are the same person (references can be mistyped, and
#: the advocacy service may record someone else).
CRIME_REF_PRIOR = 0.95
#: Prior probability that a name-only role is one of the persons already seen
#: in the same role opposite its partner (spread evenly over them).
DYAD_PRIOR = 0.9
#: Posterior probability at which a context link is made.
ACCEPT = 0.5
#: Roles of one kind opposite one partner person beyond which none of them is resolved by the dyad pass. The pass
#: pairs each role to resolve with every role opposite the same partner, so a group of ``k`` costs up to ``k²/2``
#: scored pairs: 3,000 name-only victims of one suspect in one delivery took the linkage to 172 s, and tens of
#: thousands would hold up every agency's week. The prior of each candidate is then ``DYAD_PRIOR / k`` anyway. The
#: generator's national year has at most 36 roles in a group.
MAX_DYAD_GROUP = 500

CONTEXT_COLUMNS = ("source_id", "source_table", "record_ref", "force", "crime_ref")
#: Encodings of a name that a record without a date of birth can carry (pseudonymisation.encodings).
NAMED_COLUMNS = ("forename_bloom_pc", "surname_bloom_pc", "forename_partner_bloom", "surname_partner_bloom")


def _norm(value: object) -> str | None:
    if not isinstance(value, str) and (value is None or pd.isna(value)):
        return None
    text = "".join(str(value).split()).upper()
    return text or None


RECORD_COLUMNS = ("source_id", "source_table", "record_ref")


def _normalised(values: pd.Series) -> np.ndarray:
    """``values`` without whitespace, upper case, blank -> None (each distinct value normalised once)."""
    encoded = pc.dictionary_encode(arrow_array(values))
    normal = np.array([_norm(u) for u in encoded.dictionary.to_pylist()] + [None], dtype=object)
    return normal[pc.fill_null(encoded.indices, len(normal) - 1).to_numpy()]


def _hex_hashes(texts: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each string as 16 hex digits (SipHash with pandas' fixed key)."""
    hashes = pd.util.hash_array(texts).astype(">u8")
    return np.frombuffer(hashes.tobytes().hex().encode("ascii"), dtype="S16").astype(str).astype(object)


def _record_codes(*frames: pd.DataFrame) -> list[np.ndarray]:
    """One integer per row naming its record (``RECORD_COLUMNS``), comparable across ``frames``."""

    def ids(frame: pd.DataFrame) -> pa.Array:
        parts = (pc.fill_null(arrow_array(frame[c]).cast(pa.string()), "") for c in RECORD_COLUMNS)
        return pc.binary_join_element_wise(*parts, "\x1f")  # a separator no reference contains

    codes = pc.dictionary_encode(pa.chunked_array([ids(f) for f in frames], type=pa.string()).combine_chunks())
    codes = codes.indices.to_numpy()
    return np.split(codes, np.cumsum([len(f) for f in frames])[:-1])


def context_keys(records: pd.DataFrame, context: pd.DataFrame | None) -> pd.Series:
    """``ctx_key`` per record role: a hash of (force, crime reference, role), or None.

    ``context`` has one row per record (``CONTEXT_COLUMNS``; of a record
    listed twice, the first row counts): the police crime the record is
    about — for a crime itself, its own reference. The key is only ever
    compared for equality within one run, so a fast non-cryptographic hash
    (a collision is a 2^-64 chance per pair) does.
    """
    keys = np.full(len(records), None, dtype=object)
    if context is None or context.empty:
        return pd.Series(keys, index=records.index, dtype=object)
    record_code, context_code = _record_codes(records, context)
    first = np.full(int(max(record_code.max(initial=-1), context_code.max(initial=-1))) + 1, -1, dtype=np.int64)
    codes, rows = np.unique(context_code, return_index=True)
    first[codes] = rows
    row = first[record_code]
    force = np.append(_normalised(context["force"]), None)[row]
    ref = np.append(_normalised(context["crime_ref"]), None)[row]
    known = np.flatnonzero(pd.notna(force) & pd.notna(ref))
    roles = records["role"].to_numpy(dtype=object)[known].astype(str)
    keys[known] = _hex_hashes(force[known] + "|" + ref[known] + "|" + roles)
    return pd.Series(keys, index=records.index, dtype=object)


def partners(records: pd.DataFrame) -> np.ndarray:
    """Row number of the other role of the same record (victim <-> perpetrator), or -1."""
    n = len(records)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    (code,) = _record_codes(records)
    role = records["role"].to_numpy(dtype=object)
    victim, perpetrator = (np.flatnonzero(role == r) for r in ("VICTIM", "PERPETRATOR"))
    victim_of = np.full(int(code.max()) + 1, -1, dtype=np.int64)
    perpetrator_of = victim_of.copy()
    victim_of[code[victim]] = victim  # a record has at most one role of each kind (unique member keys)
    perpetrator_of[code[perpetrator]] = perpetrator
    out[victim] = perpetrator_of[code[victim]]
    out[perpetrator] = victim_of[code[perpetrator]]
    return out


def present(records: pd.DataFrame, column: str) -> np.ndarray:
    """Whether each record has a (non-blank) value in ``column``."""
    if column not in records:
        return np.zeros(len(records), dtype=bool)
    values = records[column]
    present = values.notna().to_numpy(dtype=bool)
    if not pd.api.types.is_numeric_dtype(values):
        present &= (values != "").fillna(False).to_numpy(dtype=bool)
    return present


def anchored(records: pd.DataFrame) -> np.ndarray:
    """Roles with a date of birth or a PNC, NHS number or CRN."""
    out = np.zeros(len(records), dtype=bool)
    for column in ("dob_token", "pnc_token", "nhs_token", "crn_token"):
        out |= present(records, column)
    return out


def name_only(records: pd.DataFrame) -> np.ndarray:
    """Roles identified by a name and nothing else (no date of birth, postcode, PNC, NHS number or CRN)."""
    other = np.zeros(len(records), dtype=bool)
    for column in ("dob_token", "postcode_token", "pnc_token", "nhs_token", "crn_token", "name_dob_token"):
        other |= present(records, column)
    named = np.zeros(len(records), dtype=bool)
    for column in NAMED_COLUMNS:
        named |= present(records, column)
    return named & ~other


def crowded_groups(group: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Which rows ``todo`` are in a ``group`` (partner person and role, ``-1`` and below: none) of more than
    :data:`MAX_DYAD_GROUP` rows."""
    grouped = group >= 0
    codes, sizes = np.unique(group[grouped], return_counts=True)
    crowded = codes[sizes > MAX_DYAD_GROUP]
    return np.isin(group[todo], crowded) if len(crowded) else np.zeros(len(todo), dtype=bool)


def _first_of_runs(*keys: np.ndarray) -> np.ndarray:
    """Positions where any of the (sorted) ``keys`` changes value: the first row of each run."""
    n = len(keys[0])
    starts = np.ones(n, dtype=bool)
    if n:
        starts[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return starts


def resolve_dyads(
    scored: pd.DataFrame, labels: np.ndarray, partner: np.ndarray, candidates_of: np.ndarray,
    prior_weight: float,
) -> pd.DataFrame:
    """Context links for name-only roles from their partner's other dyads.

    ``scored``: pairs (``uid_l``, ``uid_r``, ``match_weight``) of each
    name-only role with the roles opposite the same partner person, scored
    by the person model (whose prior log-odds is ``prior_weight``);
    ``labels``: cluster of every row after the first clustering;
    ``candidates_of``: the rows to resolve (name-only singletons).

    Returns edges ``i, j, probability``: for each resolvable row, its best
    candidate record in the most probable candidate person. Computed for all
    rows at once (sorts and segment sums, no loop over rows): a national
    year has tens of thousands of rows to resolve.
    """
    if scored.empty or not len(candidates_of):
        return pd.DataFrame({"i": [], "j": [], "probability": []})
    wanted = np.zeros(len(labels), dtype=bool)
    wanted[np.asarray(candidates_of, dtype=np.int64)] = True
    a = scored["uid_l"].to_numpy(dtype=np.int64)
    b = scored["uid_r"].to_numpy(dtype=np.int64)
    bf = scored["match_weight"].to_numpy(dtype=float) - prior_weight  # log2 Bayes factor of the evidence
    row, other, log2_bf = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([bf, bf])
    keep = wanted[row] & (labels[other] != labels[row])
    row, other, log2_bf = row[keep], other[keep], log2_bf[keep]
    # A candidate person already established by other records is preferred to
    # another unresolved name-only role (which may be the same person as the
    # established one, and would otherwise split the prior between them).
    established = ~wanted[other]
    has_established = np.zeros(len(labels), dtype=bool)
    has_established[row[established]] = True
    keep = established | ~has_established[row]
    row, other, log2_bf = row[keep], other[keep], log2_bf[keep]
    person = labels[other]
    # the strongest evidence for each candidate person; ties -> smallest row
    order = np.lexsort((other, -log2_bf, person, row))
    row, person, other, log2_bf = row[order], person[order], other[order], log2_bf[order]
    best = _first_of_runs(row, person)
    row, person, other, log2_bf = row[best], person[best], other[best], log2_bf[best]
    starts = np.flatnonzero(_first_of_runs(row))
    k = np.diff(np.append(starts, len(row)))
    group = np.repeat(np.arange(len(starts)), k)
    odds = (DYAD_PRIOR / k[group]) * np.exp2(np.clip(log2_bf, -60, 60))
    posterior = odds / (np.add.reduceat(odds, starts)[group] + (1 - DYAD_PRIOR))
    # the most probable candidate person of each row; ties -> smallest person
    order = np.lexsort((person, -posterior, row))
    top = order[_first_of_runs(row[order])]
    top = top[posterior[top] >= ACCEPT]
    return pd.DataFrame({"i": row[top], "j": other[top], "probability": posterior[top]})


def logit2(p: float) -> float:
    return math.log2(p / (1 - p))
