"""Corrections to a trained person model, so that one agreement is not counted twice (issue 14).

Splink estimates each level's u probability from random pairs and treats
the comparisons as independent among non-matches. Two of the model's
encodings carry part of another comparison's evidence, because of the
salting that keeps them safe (:mod:`pseudonymisation.encodings`):

- the exact forename and surname tokens are keyed with the whole date of
  birth, so two records share one only when they also share the date: a
  random pair whose names compare at all (a shared salt) rarely does, so
  the sampled u of "forename equal" is the chance of the name *and* the
  date, and the date-of-birth comparison then counts the date again
  (:func:`unconditional_exact_names`);
- the year+month and year+day tokens are keyed with the surname's Soundex
  code, so their sampled u is the chance of a date part *and* a
  like-sounding surname, which the surname comparison counts again
  (:func:`unconditional_date_parts`).

Each correction sets the level's u to the chance of its own agreement
alone, measured on the partnership's records, and takes the difference from
the comparison's "else" level so the u probabilities still sum to one. A
correction only ever raises a u (agreement then weighs less, never more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from masip.linkage.comparisons import DATE_PARTS_LABEL, Dialect

#: Share of random pairs born in the same year whose birth month or day also agrees (not both): a month in
#: 12, a day in about 30.4, less both.
MONTH_OR_DAY_SHARE = 1 / 12 + 1 / 30.4 - 1 / 365
#: Fewer equal pairs than this among the namesake sample and the sampled u of an exact name is kept.
MIN_EQUAL_NAME_PAIRS = 10
#: Comparisons whose first (exact) level is a token keyed with the whole date of birth.
DATE_KEYED_NAMES = ("forename", "surname")
#: The forename's nickname-group tokens, also keyed with the whole date of birth.
NICKNAME_TOKENS = "forename_variant_tokens"


def _raise_u(
    model: dict[str, Any], comparison: str, is_level: Callable[[int, dict[str, Any]], bool], wanted: float,
) -> dict[str, Any]:
    """``model`` with the u of ``comparison``'s level (``is_level(position, level)``, null level excluded)
    raised to ``wanted``, the difference taken from its "else" level; unchanged if either is missing, the u
    is already higher, or "else" cannot give that much."""
    out = dict(model)
    comps = []
    for comp in model["comparisons"]:
        levels = [dict(level) for level in comp["comparison_levels"]]
        if comp["output_column_name"] == comparison:
            scored = [lv for lv in levels if not lv.get("is_null_level")]
            chosen = [lv for position, lv in enumerate(scored) if is_level(position, lv)]
            other = [lv for lv in scored if lv.get("label_for_charts") == "else"]
            if chosen and other:
                raised = max(wanted - chosen[0]["u_probability"], 0.0)
                if raised < other[0]["u_probability"]:
                    chosen[0]["u_probability"] += raised
                    other[0]["u_probability"] -= raised
        comps.append({**comp, "comparison_levels": levels})
    out["comparisons"] = comps
    return out


def same_year_share_sql(table: str) -> str:
    """SQL: the share of pairs of ``table``'s records (with a birth year) born in the same year (column ``share``)."""
    return (
        "select sum(n * n) / (sum(n) * sum(n)) as share from "
        f"(select count(*) as n from {table} where birth_year is not null group by birth_year)"
    )


def unconditional_date_parts(model: dict[str, Any], same_year_share: float) -> dict[str, Any]:
    """``model`` with the u probability of "year and day or month equal" as for a date alone.

    Two strangers called Fay and Faye Davies, born in the same year and
    month, scored 13 bits on the date and 5 on the surname: more than an
    exact date of birth. The level's u is set to the chance for the date
    alone, ``same_year_share`` (from the clear birth years) times
    :data:`MONTH_OR_DAY_SHARE`.
    """
    if not same_year_share > 0:
        return model
    return _raise_u(
        model, "dob", lambda _, level: level.get("label_for_charts") == DATE_PARTS_LABEL,
        same_year_share * MONTH_OR_DAY_SHARE,
    )


def namesake_shares_sql(table: str, dialect: Dialect) -> str:
    """SQL: among pairs of people in ``table`` with the same date of birth and sex but different roles (a
    victim and a perpetrator: nearly always two people), how many compare each date-keyed name
    (``<name>_pairs``) and how many of those agree (``<name>_equal``), and how many forenames are
    nicknames of each other (``forename_nickname``). The tokens share a salt (the date), so equal tokens
    mean equal names: the chance that two people born on one day share a name.

    A person is counted once per spelling, not once per record: the records are reduced to their distinct
    (date, sex, role, name tokens) first. Counted per record, one victim and one perpetrator who happen to
    share a forename and a date of birth, with five records each, made 25 agreeing pairs; in a partnership
    of 1,600 people that alone put the forename's u at 0.22, and the trained model lost recall to the
    defaults (outside audit, D2).
    """
    people = (
        "select distinct dob_token, sex, role, forename_token, surname_token, "
        f"{NICKNAME_TOKENS} from {table} where dob_token is not null and sex <> 'U'"
    )
    parts = []
    for name in DATE_KEYED_NAMES:
        token = f"{name}_token"
        compared = f"l.{token} is not null and r.{token} is not null"
        parts.append(f"coalesce(sum(case when {compared} then 1 else 0 end), 0) as {name}_pairs")
        parts.append(
            f"coalesce(sum(case when {compared} and l.{token} = r.{token} then 1 else 0 end), 0) as {name}_equal"
        )
    nickname = dialect.overlap(f"l.{NICKNAME_TOKENS}", f"r.{NICKNAME_TOKENS}")
    parts.append(
        "coalesce(sum(case when l.forename_token is not null and r.forename_token is not null "
        f"and l.forename_token <> r.forename_token and {nickname} then 1 else 0 end), 0) as forename_nickname"
    )
    return (
        f"with people as ({people}) select {', '.join(parts)} from people as l join people as r "
        "on l.dob_token = r.dob_token and l.sex = r.sex and l.role < r.role"
    )


def unconditional_exact_names(model: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    """``model`` with the u of each date-keyed name's exact level (and the forename's nickname level) as for
    the name alone.

    ``counts``: the row of :func:`namesake_shares_sql`. Sampled, "forename
    equal" weighed 9.2 bits at 20,000 dyads; among people of one sex born
    on one day, 1 pair in 150 shares a forename: 7.1 bits. The 2 bits
    counted the date again, and merged strangers with the same forename and
    date of birth. The sex comparison counts the shared sex, so the share
    is taken within one sex. A level is left as sampled with fewer than
    :data:`MIN_EQUAL_NAME_PAIRS` agreeing pairs (a small partnership).
    """
    for name, kind in (("forename", "equal"), ("forename", "nickname"), ("surname", "equal")):
        pairs, agreeing = int(counts.get(f"{name}_pairs") or 0), int(counts.get(f"{name}_{kind}") or 0)
        if agreeing < MIN_EQUAL_NAME_PAIRS:
            continue

        def is_level(position: int, level: dict[str, Any], kind: str = kind) -> bool:
            return position == 0 if kind == "equal" else level.get("label_for_charts") == kind

        model = _raise_u(model, name, is_level, agreeing / pairs)
    return model
