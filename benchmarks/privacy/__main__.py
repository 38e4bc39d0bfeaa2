"""Privacy benchmark: what an attacker without the key recovers from the stored person encodings.

    python -m benchmarks.privacy [--dyads 600] [--seed 11] [--dbt]      (make bench-privacy)

1. Generates a partnership with the project's generator (``masip.synth``)
   and ingests it with the real ingest under a fresh throwaway key.
2. Reads the stored person-record rows (:func:`read_person_rows`) from the
   linkage vault (``person_encodings``), with the generalised attributes the
   analyst warehouse holds beside them (an attacker holding both stores), and
   lists the analyst warehouse's tables that hold any encoding column
   (:func:`tables_with_encodings`): none, so there is nothing to attack there.
3. Runs the attacks of :mod:`benchmarks.privacy.attacks` on AFTER (the
   stored, hardened encodings) and on BEFORE (version 1 of the encodings,
   :mod:`benchmarks.privacy.weak`, applied to the same plain values), with
   public name frequencies from the ``names-dataset`` package (Great
   Britain ranks, Zipf weights) and the public nickname list.

It prints, per attack, the share of rows whose forename, surname, full date
of birth and full postcode were recovered correctly, and the share of
persons singled out. Truth comes from the drops and the generator's truth
file; nothing here is a product path.
"""

from __future__ import annotations

import argparse
import gzip
import os
import pickle
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.privacy.attacks import (
    Public,
    Scheme,
    calendar_frequencies,
    frequencies_from,
    run_all,
)
from benchmarks.privacy.weak import WeakEncoder
from connectors.vault import RECORDS_TABLE, Vault
from pseudonymisation.encodings import (
    ENCODING_VERSION,
    NAME_VIEWS,
    PERSON_ENCODING_COLUMNS,
)
from pseudonymisation.name_keys import nickname_table

#: What the public code says the stored columns encode (field, column, clear salt column). The
#: date-of-birth salts of v2 are never stored, so the attacker pools each of those columns whole.
AFTER = Scheme(
    f"after: hardened encodings ({ENCODING_VERSION})",
    filters=(
        *((name, f"{name}_bloom_{view}", None) for name in ("forename", "surname") for view in NAME_VIEWS),
        ("forename", "forename_partner_bloom", "partner_salt_token"),
        ("surname", "surname_partner_bloom", "partner_salt_token"), ("postcode", "postcode_bloom", None),
    ),
    tokens=(
        ("forename", "forename_token", None), ("surname", "surname_token", None),
        ("dob", "dob_token", None), ("postcode", "postcode_token", None),
        ("month", "dob_year_month_token", None), ("day", "dob_year_day_token", None),
    ),
    variants=("forename_variant_tokens", None),
)
BEFORE = Scheme(
    "before: encodings v1 (main until issue 13)",
    filters=(("forename", "forename_bloom", None), ("surname", "surname_bloom", None), ("postcode", "postcode_bloom", None)),
    tokens=(
        ("forename", "forename_token", None), ("surname", "surname_token", None), ("dob", "dob_token", None),
        ("postcode", "postcode_token", None), ("day", "dob_day_token", None), ("month", "dob_month_token", None),
        ("year", "dob_year_token", None), ("district", "postcode_district_token", None),
    ),
    variants=("forename_variant_tokens", None),
)
TRUTH_COLUMNS = {"forename": "true_forename", "surname": "true_surname", "dob": "true_dob", "postcode": "true_postcode"}


def read_person_rows(database: Path, table: str = RECORDS_TABLE) -> pd.DataFrame:
    """Every stored person-record row of ``table``, Bloom filters as Python ints (the one reader of stored rows)."""
    with duckdb.connect(str(database), read_only=True) as con:
        types = dict(con.execute(f"select column_name, column_type from (describe {table})").fetchall())
        select = ", ".join(f"{c}::varchar as {c}" if t == "BIT" else c for c, t in types.items())
        frame = con.execute(f"select {select} from {table}").df()
    for column, sql_type in types.items():
        if sql_type == "BIT":
            # built as objects: pandas would infer float for None and ints past 2^64
            frame[column] = pd.Series([int(b, 2) if isinstance(b, str) else None for b in frame[column]], dtype=object)
        elif sql_type.endswith("[]"):
            frame[column] = frame[column].map(lambda v: tuple(v) if v is not None and not pd.api.types.is_scalar(v) and len(v) else None)
    return frame


def tables_with_encodings(database: Path, exclude_schemas: Sequence[str] = ()) -> list[str]:
    """Tables of ``database`` with any column named like an identifier encoding (token, filter)."""
    names = {c for c, _ in PERSON_ENCODING_COLUMNS} | {"dob_token", "postcode_token", "name_dob_token", "pnc_token", "nhs_token", "crn_token"}
    with duckdb.connect(str(database), read_only=True) as con:
        found = con.execute(
            "select distinct table_schema || '.' || table_name from information_schema.columns "
            "where column_name in (select unnest(?)) order by 1", [sorted(names)]
        ).fetchall()
    return [t for (t,) in found if t.split(".")[0] not in exclude_schemas]


def public_tables(top: int = 5000) -> Public:
    """Name frequencies an attacker can download: ``names-dataset`` ranks for GB, weighted 1/rank."""
    from connectors.normalise import normalise_name

    frequencies: dict[str, dict[str, float]] = calendar_frequencies()
    for field_name, file_name in (("forename", "first_names.pkl.gz"), ("surname", "last_names.pkl.gz")):
        with gzip.open(resources.files("names_dataset").joinpath(f"v3/{file_name}")) as handle:
            table = pickle.load(handle)
        ranks: dict[str, int] = {}
        for name, info in table.items():
            rank = (info.get("rank") or {}).get("GB")
            folded = normalise_name(name) if rank else None
            if folded and rank <= top and rank < ranks.get(folded, top + 1):
                ranks[folded] = rank
        del table
        frequencies[field_name] = frequencies_from({n: 1.0 / r for n, r in ranks.items()})
    return Public(frequencies, nickname_table())


def build(dyads: int, seed: int, work: Path, dbt: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The AFTER rows (stored), the BEFORE rows (v1 on the same plain values), and the analyst tables with encodings.

    ``dbt``: also build the warehouse's models, so the list includes the analyst-facing copies.
    """
    from benchmarks.linkage.plain import plain_person_records
    from connectors.ingest import ingest_drops
    from masip.synth import generate_partnership
    from pseudonymisation.keys import Keyring, generate_secret

    drops = work / "drops"
    warehouse = work / "warehouse" / "masip.duckdb"
    generate_partnership(drops, dyads=dyads, seed=seed)
    secret = generate_secret()  # fresh throwaway key, never written anywhere
    ingest_drops(drops, warehouse, Keyring(secret.encode()), show_progress=False, archive_dir=work / "archive")
    if dbt:
        from masip.pipeline import build_linked

        build_linked(warehouse)
    plain = plain_person_records(drops, Vault.for_warehouse(warehouse).drop_salt())  # version ids as ingest's
    persons = pd.read_csv(drops / "_truth" / "person_records.csv")
    truth = plain.merge(persons, on=["source_id", "source_table", "record_ref", "role"])
    truth = truth.rename(columns=TRUTH_COLUMNS)[["version_id", "role", "person_id", *TRUTH_COLUMNS.values()]]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        roles = con.execute(
            "select source_table, version_id, role, birth_year, sex, postcode_district from raw.person_roles"
        ).df()
    encodings = read_person_rows(Vault.for_warehouse(warehouse).records_path)
    stored = (
        encodings.merge(roles, on=["source_table", "version_id", "role"])
        .merge(truth, on=["version_id", "role"])
        .reset_index(drop=True)
    )
    weak = WeakEncoder(os.urandom(32))
    before = pd.DataFrame([
        weak.encode(r.true_forename, r.true_surname, date.fromisoformat(r.true_dob) if r.true_dob else None, r.true_postcode)
        for r in stored[list(TRUTH_COLUMNS.values())].astype(object).where(stored.notna(), None).itertuples()
    ])
    before = pd.concat([stored[["person_id", *TRUTH_COLUMNS.values(), "birth_year", "sex", "postcode_district"]], before], axis=1)
    return stored, before, tables_with_encodings(warehouse)


def _table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| attack | forenames | surnames | full DOBs | full postcodes | persons singled out |", "|---|---|---|---|---|---|"]
    for attack, r in results.items():
        cells = " | ".join(f"{100 * r[k]:.1f}%" for k in ("forename", "surname", "dob", "postcode", "singled_out"))
        lines.append(f"| {attack} | {cells} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dyads", type=int, default=600, help="dyads in the synthetic partnership (default 600)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dbt", action="store_true", help="also build the dbt models and list their encoding columns")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    public = public_tables()
    with tempfile.TemporaryDirectory(prefix="masip-bench-privacy-") as work:
        after_rows, before_rows, tables = build(args.dyads, args.seed, Path(work), dbt=args.dbt)
    print(f"## Privacy benchmark ({args.dyads} dyads, seed {args.seed}; {len(after_rows)} person record rows, "
          f"{after_rows.person_id.nunique()} persons)\n")
    print("Analyst warehouse: tables holding identifier encodings: " + (", ".join(tables) or "none, so nothing to attack "
          "(0% of every field)") + "\n")
    print("Linkage vault (with the analyst warehouse's generalised attributes):\n")
    for scheme, rows in ((BEFORE, before_rows), (AFTER, after_rows)):
        print(f"### {scheme.name}\n")
        print(_table(run_all(rows, scheme, public)) + "\n")
    print(f"(shares of rows recovered correctly; known-plaintext rows exclude the known persons; {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
