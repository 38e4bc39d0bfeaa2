"""The contract's code lists, read from the dbt seeds: the same files dbt tests the marts against."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"


@functools.cache
def load_code_lists(seeds_dir: Path = SEEDS_DIR) -> dict[str, frozenset[str]]:
    """Each code list's codes, by list name (``sex``, ``relationship``, ``offence_code`` …)."""
    lists: dict[str, set[str]] = {}
    with (seeds_dir / "code_lists.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            lists.setdefault(row["list_name"], set()).add(row["code"])
    for list_name, file_name, column in (
        ("offence_code", "offence_codes.csv", "offence_code"),
        ("outcome_code", "outcome_codes.csv", "outcome_code"),
    ):
        with (seeds_dir / file_name).open(encoding="utf-8") as handle:
            lists[list_name] = {row[column].upper() for row in csv.DictReader(handle)}
    return {name: frozenset(codes) for name, codes in lists.items()}
