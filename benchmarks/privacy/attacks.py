"""The known attacks on stored person encodings, run by an attacker without the key.

The attacker holds the stored rows (every encoding column and the clear
generalised values on the same row: birth year, sex, postcode district), the
public code (so knows what each column encodes and which clear column salts
it: :class:`Scheme`) and public tables (:class:`Public`: name frequencies,
the nickname list, the calendar). Each attack returns its guesses per row
(:data:`Guesses`); :func:`score` counts the correct ones.

* :func:`frequency_alignment` — distinct encodings of a field ranked by
  count, matched to public values ranked by frequency, within each salt
  group; tokens whose plain value sits in clear on the same row (year,
  district) aligned with it.
* :func:`graph_alignment` — nickname-group token lists matched to the public
  nickname graph by list size, shared tokens and frequency (the seed of the
  attack of issue 13).
* :func:`pattern_mining` — Bloom-filter cryptanalysis after Christen,
  Schnell, Vidanage et al. (2019) and Kroll & Steinmetzer (2015): bit
  positions that occur in exactly the same filters form one q-gram's
  position set ("atom"); atoms are labelled with q-grams from seed decodes
  (the q-grams common to the seeds holding the atom and absent from those
  without it), and a filter is decoded to the most frequent public name
  whose q-grams are its labelled atoms, but for at most one unlabelled
  atom. Iterated: new decodes seed the next round.
* :func:`known_plaintext` — k known records: every row sharing an encoding
  with a known one gets its value; the known records then seed pattern
  mining.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pseudonymisation.encodings import qgrams
from pseudonymisation.name_keys import NicknameTable

#: Fields an attack can guess; the scored ones are the first four.
FIELDS = ("forename", "surname", "dob", "postcode", "day", "month", "year", "district")
NAME_FIELDS = ("forename", "surname")
Guesses = dict[str, pd.Series]


@dataclass(frozen=True)
class Scheme:
    """What the public code says each stored column encodes: (field, column, salt column or None)."""

    name: str
    filters: tuple[tuple[str, str, str | None], ...]
    tokens: tuple[tuple[str, str, str | None], ...]
    variants: tuple[str, str | None] | None = None


@dataclass
class Public:
    """The attacker's public tables: value -> relative frequency per field, and the nickname list."""

    frequencies: dict[str, dict[str, float]]
    nicknames: NicknameTable
    _grams: dict[str, frozenset[str]] = field(default_factory=dict)

    def grams(self, value: str) -> frozenset[str]:
        hit = self._grams.get(value)
        if hit is None:
            hit = self._grams[value] = frozenset(qgrams(value))
        return hit

    def ranked(self, field_name: str) -> list[str]:
        table = self.frequencies[field_name]
        return sorted(table, key=lambda v: (-table[v], v))


def calendar_frequencies() -> dict[str, dict[str, float]]:
    """Public knowledge of dates: day d is born on in proportion to the months that have it."""
    lengths = [31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    days = {str(d): float(sum(1 for n in lengths if n >= d)) for d in range(1, 32)}
    return {"day": days, "month": {str(m + 1): n for m, n in enumerate(lengths)}}


def empty_guesses(index: pd.Index) -> Guesses:
    return {f: pd.Series([None] * len(index), index=index, dtype=object) for f in FIELDS}


def merge(*all_guesses: Guesses) -> Guesses:
    """The first guess for each row and field, in the order given."""
    out = {f: g.copy() for f, g in all_guesses[0].items()}
    for guesses in all_guesses[1:]:
        for f, series in guesses.items():
            out[f] = out[f].where(out[f].notna(), series)
    return out


def _groups(rows: pd.DataFrame, column: str, salt: str | None) -> Iterable[pd.DataFrame]:
    present = rows[rows[column].notna()]
    if salt is None:
        yield present
        return
    for _, group in present.groupby(present[salt].astype(str), sort=False):
        yield group


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, (list, np.ndarray)) else value


# -- frequency alignment -------------------------------------------------------------------


def frequency_alignment(rows: pd.DataFrame, scheme: Scheme, public: Public) -> Guesses:
    guesses = empty_guesses(rows.index)
    clear = {"year": "birth_year", "district": "postcode_district"}
    for field_name, column, salt in (*scheme.tokens, *scheme.filters):
        target = guesses[field_name]
        if field_name in clear and clear[field_name] in rows:
            same_row = rows[[column, clear[field_name]]].dropna()
            best = same_row.groupby(column)[clear[field_name]].agg(lambda v: v.mode().iloc[0])
            target.update(rows[column].map(best).dropna().map(lambda v: str(int(v)) if isinstance(v, float) else str(v)))
            continue
        if field_name not in public.frequencies:
            continue
        ranked = public.ranked(field_name)
        for group in _groups(rows, column, salt):
            counts = group[column].map(_key).value_counts()
            decode = dict(zip(counts.index, ranked))
            found = group[column].map(lambda v, decode=decode: decode.get(_key(v)))
            target.update(found[target.loc[found.index].isna()].dropna())
    return guesses


# -- graph alignment of nickname groups -------------------------------------------------


def graph_alignment(rows: pd.DataFrame, scheme: Scheme, public: Public) -> Guesses:
    guesses = empty_guesses(rows.index)
    if scheme.variants is None:
        return guesses
    column, salt = scheme.variants
    weights = public.frequencies["forename"]
    by_size: dict[int, list[str]] = defaultdict(list)
    for name in public.ranked("forename"):
        by_size[len(public.nicknames.groups(name))].append(name)
    for group in _groups(rows, column, salt):
        lists = group[column].map(lambda v: frozenset(v)).value_counts()
        degree = Counter(t for tokens in lists.index for t in tokens)
        mapping: dict[str, str] = {}
        used: set[str] = set()
        names: dict[frozenset[str], str] = {}
        for tokens in sorted(lists.index, key=lambda ts: (-len(ts), -lists[ts])):
            if len(tokens) < 2:
                continue
            images = {mapping[t] for t in tokens if t in mapping}
            for name in by_size.get(len(tokens), []):
                groups = public.nicknames.groups(name)
                if name in used or not images <= groups or (groups - images) & set(mapping.values()):
                    continue
                names[tokens] = name
                used.add(name)
                free_tokens = [t for t in tokens if t not in mapping]
                free_groups = sorted(groups - images, key=lambda g: weights.get(g, 0.0))
                own = [t for t in free_tokens if degree[t] == 1]
                if len(own) == 1 and name in free_groups:  # a name's own token is in its list only
                    mapping[own[0]] = name
                    free_tokens.remove(own[0])
                    free_groups.remove(name)
                if len(free_tokens) == 1 and len(free_groups) == 1:
                    mapping[free_tokens[0]] = free_groups[0]
                break
        for tokens in lists.index:
            if tokens not in names and len(tokens) == 1 and next(iter(tokens)) in mapping:
                names[tokens] = mapping[next(iter(tokens))]
        found = group[column].map(lambda v, names=names: names.get(frozenset(v)))
        guesses["forename"].update(found.dropna())
    return guesses


# -- Bloom-filter pattern mining ------------------------------------------------------------


def _atoms(filters: list[int]) -> dict[int, int]:
    """Position sets that occur in exactly the same filters: occurrence bit vector -> positions mask."""
    bits = max(f.bit_length() for f in filters)
    occurrence = [0] * bits
    for j, f in enumerate(filters):
        while f:
            low = f & -f
            occurrence[low.bit_length() - 1] |= 1 << j
            f ^= low
    atoms: dict[int, int] = defaultdict(int)
    for position, vector in enumerate(occurrence):
        if vector:
            atoms[vector] |= 1 << position
    return atoms


def _mine_group(filters: list[int], seeds: dict[int, str], public: Public, candidates: dict) -> dict[int, str]:
    """Decode distinct ``filters`` (indices) of one salt group from ``seeds`` (index -> value)."""
    atoms = list(_atoms(filters))
    decoded = dict(seeds)
    for _ in range(4):
        labels: dict[int, str] = {}
        seeded = list(decoded.items())
        for vector in atoms:
            inside = [public.grams(v) for j, v in seeded if vector >> j & 1]
            if not inside:
                continue
            common = frozenset.intersection(*inside)
            for j, v in seeded:
                if not vector >> j & 1:
                    common -= public.grams(v)
            if len(common) == 1:
                labels[vector] = next(iter(common))
        known = frozenset(labels.values())
        index = candidates.setdefault(known, {})
        if not index:
            for value in candidates["__ranked__"]:
                index.setdefault(public.grams(value) & known, []).append(value)
        new = 0
        for j in range(len(filters)):
            if j in decoded:
                continue
            present = frozenset(lab for vector, lab in labels.items() if vector >> j & 1)
            unlabelled = sum(1 for vector in atoms if vector >> j & 1 and vector not in labels)
            for value in index.get(present, []):
                # decoded only when the labelled atoms spell the value but for at most one q-gram
                # (Christen et al.'s re-identification step), not guessed from a fragment
                missing = len(public.grams(value) - known)
                if present and missing <= min(unlabelled, 1):
                    decoded[j] = value
                    new += 1
                    break
        if not new:
            break
    return decoded


def pattern_mining(rows: pd.DataFrame, scheme: Scheme, public: Public, seeds: Guesses) -> Guesses:
    """Decodes of the filters beyond ``seeds`` (the rows the seeds already decode are not repeated)."""
    guesses = empty_guesses(rows.index)
    for field_name, column, salt in scheme.filters:
        if field_name not in public.frequencies:
            continue
        candidates: dict = {"__ranked__": public.ranked(field_name)}
        for group in _groups(rows, column, salt):
            distinct = list(dict.fromkeys(group[column]))
            position = {f: j for j, f in enumerate(distinct)}
            seeded: dict[int, Counter] = defaultdict(Counter)
            for f, value in zip(group[column], seeds[field_name].loc[group.index]):
                if value is not None and not pd.isna(value):
                    seeded[position[f]][value] += 1
            start = {j: c.most_common(1)[0][0] for j, c in seeded.items()}
            if not start or len(distinct) < 2:
                continue
            decoded = _mine_group(distinct, start, public, candidates)
            new = {j: v for j, v in decoded.items() if j not in start}  # what mining adds to its seeds
            found = group[column].map(lambda f, new=new, position=position: new.get(position[f]))
            target = guesses[field_name]
            target.update(found[target.loc[found.index].isna()].dropna())
    return guesses


# -- known plaintext ------------------------------------------------------------------------


def known_rows(rows: pd.DataFrame, k: int, seed: int) -> pd.Index:
    return pd.Index(random.Random(seed).sample(list(rows.index), k))


def plain_values(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """The true value of every field, as a known record reveals it."""
    dob = pd.to_datetime(rows["true_dob"], errors="coerce")
    text = lambda s: s.map(lambda v: None if pd.isna(v) else str(int(v)))
    return {
        "forename": rows["true_forename"], "surname": rows["true_surname"], "dob": rows["true_dob"],
        "postcode": rows["true_postcode"], "day": text(dob.dt.day), "month": text(dob.dt.month),
        "year": text(dob.dt.year), "district": rows["true_postcode"].map(lambda p: p.split(" ")[0] if isinstance(p, str) else None),
    }


def known_plaintext(rows: pd.DataFrame, scheme: Scheme, public: Public, known: pd.Index) -> Guesses:
    truth = plain_values(rows)
    guesses = empty_guesses(rows.index)
    for field_name, column, _salt in (*scheme.tokens, *scheme.filters):
        pairs = pd.DataFrame({"e": rows.loc[known, column].map(_key), "v": truth[field_name].loc[known]}).dropna()
        lookup = pairs.groupby("e")["v"].agg(lambda v: v.mode().iloc[0]).to_dict()
        found = rows[column].map(lambda e, lookup=lookup: lookup.get(_key(e)) if e is not None else None)
        target = guesses[field_name]
        target.update(found[target.isna()].dropna())
    return merge(guesses, pattern_mining(rows, scheme, public, guesses))  # equality decodes, then mined ones


# -- scoring ----------------------------------------------------------------------------------


def full_dates(rows: pd.DataFrame, guesses: Guesses) -> pd.Series:
    """Guessed full dates of birth: a guessed date, else the year (guessed or in clear) with guessed day and month."""
    clear = rows["birth_year"].map(lambda v: None if pd.isna(v) else str(int(v))) if "birth_year" in rows else None
    year = guesses["year"] if clear is None else guesses["year"].where(guesses["year"].notna(), clear)
    parts = pd.DataFrame({"y": year, "m": guesses["month"], "d": guesses["day"]})

    def iso(r: pd.Series) -> str | None:
        if r.isna().any():
            return None
        try:
            return pd.Timestamp(int(r.y), int(r.m), int(r.d)).date().isoformat()
        except ValueError:
            return None

    built = parts.apply(iso, axis=1) if len(parts) else parts["y"]
    return guesses["dob"].where(guesses["dob"].notna(), built)


SCORED = ("forename", "surname", "dob", "postcode")
QUASI = ("birth_year", "sex", "postcode_district")


def score(rows: pd.DataFrame, guesses: Guesses, exclude: Iterable[str] = ()) -> dict[str, float]:
    """Shares of rows with a correct forename, surname, full date of birth, postcode; share of persons singled out.

    Rows of the persons in ``exclude`` (the attacker's known records) are
    left out. A person is singled out when one of their rows has a correct
    recovered identifier whose value, with the row's clear generalised
    values, fits that person alone in the population.
    """
    keep = ~rows["person_id"].isin(set(exclude))
    truth = plain_values(rows)
    guessed = {f: guesses[f] for f in ("forename", "surname", "postcode")} | {"dob": full_dates(rows, guesses)}
    correct = {f: (guessed[f] == truth[f]) & truth[f].notna() & keep for f in SCORED}
    out = {f: float(correct[f].sum() / max(int(keep.sum()), 1)) for f in SCORED}
    persons = rows.assign(**{f"v_{f}": truth[f] for f in SCORED})
    population = persons.groupby("person_id")[[f"v_{f}" for f in SCORED] + list(QUASI)].agg(
        lambda v: v.mode().iloc[0] if v.notna().any() else None
    )
    singled: set[str] = set()
    pattern = pd.DataFrame({f: correct[f] for f in SCORED})
    for combo, members in rows[pattern.any(axis=1)].groupby(pattern[pattern.any(axis=1)].apply(tuple, axis=1)):
        cols = [f"v_{f}" for f, hit in zip(SCORED, combo) if hit] + list(QUASI)
        counts = population.groupby(cols).size()  # rows with a missing value are never counted unique
        keys = persons.loc[members.index, cols]
        for person_id, key in zip(members["person_id"], keys.itertuples(index=False)):
            if counts.get(tuple(key), 0) == 1:
                singled.add(person_id)
    total = rows.loc[keep, "person_id"].nunique()
    out["singled_out"] = len(singled - set(exclude)) / max(total, 1)
    return out


def run_all(rows: pd.DataFrame, scheme: Scheme, public: Public, ks: Iterable[int] = (10, 100), seed: int = 13) -> dict[str, dict[str, float]]:
    """Every attack on ``rows``; returns attack name -> :func:`score`."""
    results: dict[str, dict[str, float]] = {}
    freq = frequency_alignment(rows, scheme, public)
    results["frequency alignment"] = score(rows, freq)
    graph = graph_alignment(rows, scheme, public)
    results["graph alignment (nickname groups)"] = score(rows, graph)
    mined = pattern_mining(rows, scheme, public, merge(graph, freq))
    results["Bloom pattern mining (seeded by the two above; new decodes)"] = score(rows, mined)
    for k in ks:
        known = known_rows(rows, k, seed)
        kp = known_plaintext(rows, scheme, public, known)
        results[f"known plaintext, k = {k}"] = score(rows, kp, exclude=rows.loc[known, "person_id"])
    return results


def frequencies_from(values: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(values.values())) or 1.0
    return {k: v / total for k, v in values.items()}
