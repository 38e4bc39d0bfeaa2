"""The person roles of a file's rows, column by column: generalised values, warnings, tokens and encodings.

What :class:`connectors.reader.TableReader` once did per row and per role
(SPEC §3), over whole columns: names, postcodes, sexes and dates of birth
are normalised once per distinct value, identifiers are checked once per
distinct value, and the keyed hashing runs once per file on whole columns
(:meth:`Tokeniser.token_column`, :meth:`PersonEncoder.encode_columns`). The
plain values live only inside :meth:`PersonColumns.read`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.column_rules import (
    WITHHELD,
    Fault,
    crn_column,
    map_distinct,
    mask,
    nhs_column,
    outside,
    pnc_column,
    present,
)
from connectors.contracts import EARLIEST_DATE, Column, PersonRole, TableContract
from connectors.normalise import (
    PLACEHOLDER_NAMES,
    date_readings,
    normalise_code,
    normalise_name,
    normalise_postcode,
    postcode_district,
)
from pseudonymisation.encodings import PersonEncoder
from pseudonymisation.tokens import TOKEN_PURPOSES, Tokeniser

_PLACEHOLDERS = pa.array(sorted(PLACEHOLDER_NAMES), pa.string())
#: Each identifier column of a role, and its validity check over a column (:mod:`connectors.column_rules`).
_IDENTIFIERS: tuple[tuple[str, Callable[[pa.Array], pa.Array]], ...] = (
    ("pnc_column", pnc_column), ("nhs_column", nhs_column), ("crn_column", crn_column),
)


@dataclass
class RoleColumns:
    """One person role over every row of a file: which rows name it, and its normalised values."""

    named: np.ndarray
    values: dict[str, pa.Array]
    warnings: list[Fault]  # values set to null (a date of birth, postcode or sex that is not valid), named rows only
    #: The row's date of birth as read, and every date a cell not in the drop's date format reads as
    #: (:func:`birth_date_readings`): what an event date of the row must not be.
    birth_dates: list[pa.Array]


def birth_date_readings(raw: pa.Array, unread: np.ndarray) -> list[pa.Array]:
    """Every date that each ``unread`` cell of ``raw`` (a date of birth not in the drop's date format) reads as
    (:func:`connectors.normalise.date_readings`: day or month first, any separator…), one array per reading.

    Read once per distinct cell: a file whose dates of birth are all in another format repeats a few
    thousand dates over its rows, and each reading tries every loose format."""
    cells = pc.dictionary_encode(pc.if_else(pa.array(unread), raw, pa.scalar(None, pa.string())))
    readings = [sorted(date_readings(value)) for value in cells.dictionary.to_pylist()]
    return [
        pa.array([dates[k] if k < len(dates) else None for dates in readings], pa.date32()).take(cells.indices)
        for k in range(max(map(len, readings), default=0))
    ]


class PersonColumns:
    """Reads the person roles of one contract's rows: :meth:`check` every row, then :meth:`encode` the loaded ones."""

    def __init__(
        self,
        contract: TableContract,
        parse_date: Callable[[str], date | None],
        extract_date: date,
        sexes: frozenset[str],
        tokenisers: dict[str, Tokeniser],
        encoder: PersonEncoder,
    ) -> None:
        self.contract = contract
        self.parse_date = parse_date
        self.extract_date = extract_date
        self.sexes = sexes
        self.tokenisers = tokenisers
        self.encoder = encoder
        self.key_version = next(iter(tokenisers.values())).key_version

    def _dates(self, cells: pa.Array) -> pa.Array:
        return map_distinct(cells, self.parse_date, pa.date32())

    def check(
        self, cells: dict[str, pa.Array], checked: dict[str, pa.Array], rows: int,
        report: Callable[[Column, Fault], None],
    ) -> list[RoleColumns]:
        """Every role over every row; a bad identifier is reported (a warning, or a break if its column is required).
        ``checked`` holds the contract's checked columns (a role column's values as its code list allows them)."""
        return [self._role(person, cells, checked, rows, report) for person in self.contract.persons]

    def _role(
        self, person: PersonRole, cells: dict[str, pa.Array], checked: dict[str, pa.Array], rows: int,
        report: Callable[[Column, Fault], None],
    ) -> RoleColumns:
        named = np.zeros(rows, dtype=bool)
        for column in person.naming_columns:
            named |= present(cells[column])
        if person.role_column:
            # the code as checked, never the cell: a deletion loads whatever its role cell holds (outside check,
            # 2026-12-06: a name and postcode reached raw.person_roles.role), and then has no role row
            role = checked[person.role_column]
            named &= present(role)
        else:
            role = pa.array([person.role] * rows, type=pa.string())
        values: dict[str, pa.Array] = {"role": role}
        warnings = []
        for name in ("forename", "surname"):
            read = map_distinct(cells[person.column(name)], normalise_name, pa.string())
            placeholder = mask(pc.is_in(read, value_set=_PLACEHOLDERS))
            values[name] = pc.if_else(pa.array(placeholder), pa.scalar(None, pa.string()), read)
            warnings.append(Fault(named & placeholder, "placeholder_name", f"{person.column(name)}: {WITHHELD} stands "
                                  "for a name not known, not a name; set to null"))
        raw_dob = cells[person.column("dob")]
        dob = self._dates(raw_dob)
        birth_dates = [dob, *birth_date_readings(raw_dob, named & present(raw_dob) & ~present(dob))]
        # a date of birth in the future or before 1900 is a typo: never linked on
        values["dob"] = pc.if_else(
            pa.array(outside(dob, EARLIEST_DATE, self.extract_date)), pa.scalar(None, pa.date32()), dob
        )
        dob_column = person.column("dob")
        warnings.append(Fault(named & present(raw_dob) & ~present(values["dob"]), "invalid_date_of_birth",
                              f"{dob_column}: {WITHHELD} is not a date of birth in the drop's date format from "
                              f"{EARLIEST_DATE} to the extract date; set to null"))
        values["postcode"] = values["sex"] = pa.nulls(rows, pa.string())
        if "postcode" in person.fields:
            raw = cells[person.column("postcode")]
            values["postcode"] = map_distinct(raw, normalise_postcode, pa.string())
            column = person.column("postcode")
            warnings.append(Fault(named & present(raw) & ~present(values["postcode"]), "invalid_postcode",
                                  f"{column}: {WITHHELD} is not a UK postcode; set to null"))
        if "sex" in person.fields:
            raw = cells[person.column("sex")]
            values["sex"] = map_distinct(raw, self._sex, pa.string())
            column = person.column("sex")
            warnings.append(Fault(named & present(raw) & ~present(values["sex"]), "unknown_code",
                                  f"{column}: {WITHHELD} is not in code list sex; set to null"))
        for attribute, normalise in _IDENTIFIERS:
            column = getattr(person, attribute)
            purpose = attribute.split("_")[0]
            if not column:
                values[purpose] = pa.nulls(rows, pa.string())
                continue
            raw = cells[column]
            values[purpose] = normalise(raw)
            bad = named & present(raw) & ~present(values[purpose])
            report(self.contract.column(column), Fault(bad, "invalid_identifier", f"{column}: {WITHHELD} is not valid"))
        values["partner_dob"] = self._partner_dob(person, cells, rows)
        return RoleColumns(named, values, [fault for fault in warnings if fault.cells.any()], birth_dates)

    def _sex(self, value: str) -> str | None:
        code = normalise_code(value)
        return code if code in self.sexes else None

    def _partner_dob(self, person: PersonRole, cells: dict[str, pa.Array], rows: int) -> pa.Array:
        """The date of birth of the row's other person (victim <-> perpetrator): it salts the partner view."""
        for other in self.contract.persons:
            if other is not person and "dob" in other.fields:
                return self._dates(cells[other.column("dob")])
        return pa.nulls(rows, pa.date32())

    def encode(
        self, roles: list[RoleColumns], loaded: np.ndarray, record_refs: pa.Array, version_ids: pa.Array,
        source: dict[str, str],
    ) -> dict[str, Any]:
        """The person rows of the loaded rows, row by row then role by role, with their tokens and encodings.

        ``version_ids`` and ``record_refs`` are over every row; ``source``
        holds the constant columns (``source_id``, ``agency``). The keyed
        hashing runs once over the whole file's persons.
        """
        parts, order = [], []
        for role in roles:
            rows = np.nonzero(role.named & loaded)[0]
            chosen = pa.array(rows, type=pa.int64())
            parts.append(pa.table({
                "record_ref": record_refs.take(chosen), "version_id": version_ids.take(chosen),
                **{name: values.take(chosen) for name, values in role.values.items()},
            }))
            order.append(rows)
        table = pa.concat_tables(parts).take(pa.array(np.argsort(np.concatenate(order), kind="stable")))
        count = table.num_rows
        dob = table["dob"].combine_chunks()
        dob_text = pc.cast(dob, pa.string())
        postcode = table["postcode"].combine_chunks()
        plain = {
            "pnc": table["pnc"], "nhs": table["nhs"], "crn": table["crn"],
            "name_dob": pc.binary_join_element_wise(table["forename"], table["surname"], dob_text, "|"),
            "dob": dob_text, "postcode": postcode,
        }
        persons: dict[str, Any] = {
            **{name: [value] * count for name, value in source.items()},
            "source_table": [self.contract.name] * count,
            "record_ref": table["record_ref"],
            "version_id": table["version_id"],
            "role": table["role"],
            "key_version": [self.key_version] * count,
            "birth_year": pc.year(dob),
            "sex": table["sex"],
            "postcode_district": map_distinct(postcode, postcode_district, pa.string()),
            **self.encoder.encode_columns(table["forename"], table["surname"], dob, postcode, table["partner_dob"]),
        }
        for purpose in TOKEN_PURPOSES:
            persons[f"{purpose}_token"] = self.tokenisers[purpose].token_column(plain[purpose])
        return persons
