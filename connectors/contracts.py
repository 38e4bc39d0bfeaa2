"""The extract contracts of SPEC §2, as data.

One place says, for each of the eight agency tables, which columns arrive,
their types, which are required, which code list a code column draws from,
and which columns describe a person. The ingest step, the synthetic
generator and the tests read these definitions; nothing else restates them.

Person columns never reach the warehouse: ingest turns them into keyed
tokens and encodings in the linkage vault and generalised quasi-identifiers
in ``raw.person_roles`` (one row per record role), and the entity table
keeps only the non-identifying columns listed in ``TableContract.kept_columns``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from functools import cached_property

#: The plausibility window of every date and date-time at ingest (SPEC §2.5, issue #12): nothing
#: before ``EARLIEST_DATE``; nothing after the drop's extract date plus ``FUTURE_MARGIN`` (clock and
#: time-zone slack), except in columns that hold planned dates (``future_ok``: an order's expiry, a
#: supervision's planned end), which may run up to ``PLANNED_HORIZON`` past the extract date. A value
#: outside it quarantines the row in a required column and is set to null, with a warning, in an
#: optional one, so no later stage (the quality gate, a calendar model) ever sees it.
EARLIEST_DATE = date(1900, 1, 1)
FUTURE_MARGIN = timedelta(days=1)
PLANNED_HORIZON = timedelta(days=366 * 50)
#: Longest cell read (characters) in any column that is kept or tokenised; free text that is dropped is exempt.
MAX_CELL_CHARS = 256


class ColumnType(str, Enum):
    TEXT = "text"  # free text (dropped) and person identifiers (tokenised): never kept as given
    REFERENCE = "reference"  # an agency's own record reference, kept (SPEC §3.5)
    FORCE = "force"  # a police force, kept in canonical form (code list police_force + the profiles' forces)
    CODE = "code"
    DATE = "date"
    DATETIME = "datetime"
    INTEGER = "integer"
    FLAG = "flag"  # Y/N
    CODE_SET = "code_set"  # ';'-separated codes


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    code_list: str | None = None
    future_ok: bool = False  # a planned date, which may lie after the extract date
    bounds: tuple[int, int] | None = None  # an integer column's plausible range, inclusive


def latest_plausible_date(column: Column, extract_date: date) -> date:
    """The last day (any time of it) a value of ``column`` may fall on in a drop extracted on ``extract_date``.

    The one rule for ingest (a later value is implausible) and for the quality gate (a later value in a
    staged column is a model defect), so nothing ingest loads can stop a week's publication.
    """
    return extract_date + (PLANNED_HORIZON if column.future_ok else FUTURE_MARGIN)


@dataclass(frozen=True)
class PersonRole:
    """How one person described by a record is laid out in its columns.

    ``prefix`` is prepended to the standard person fields (``forename``,
    ``surname``, ``dob``, ``sex``, ``postcode``); ``role`` is the SPEC §5
    role, or ``None`` when a column (``role_column``) carries it per row.
    """

    role: str | None
    prefix: str
    fields: tuple[str, ...] = ("forename", "surname", "dob", "sex", "postcode")
    pnc_column: str | None = None
    nhs_column: str | None = None
    crn_column: str | None = None
    role_column: str | None = None

    def column(self, field_name: str) -> str:
        return f"{self.prefix}{field_name}"

    @cached_property
    def identifier_columns(self) -> tuple[str, ...]:
        extra = (self.pnc_column, self.nhs_column, self.crn_column)
        return tuple(self.column(f) for f in self.fields) + tuple(c for c in extra if c)

    @cached_property
    def naming_columns(self) -> tuple[str, ...]:
        """The identifier columns that say who someone is: a role with none of them filled is absent."""
        return tuple(c for c in self.identifier_columns if not c.endswith(("sex", "postcode")))


@dataclass(frozen=True)
class TableContract:
    name: str  # the CSV file's stem
    agency: str
    ref_column: str
    columns: tuple[Column, ...]
    persons: tuple[PersonRole, ...] = field(default_factory=tuple)
    dropped_columns: tuple[str, ...] = ()  # free text that may hold names
    date_orders: tuple[DateOrder, ...] = ()  # dates of one row that cannot contradict each other

    @property
    def person_columns(self) -> frozenset[str]:
        return frozenset(c for p in self.persons for c in p.identifier_columns)

    @property
    def kept_columns(self) -> tuple[Column, ...]:
        """Columns written to ``raw.<table>``: everything but identifiers and free text."""
        hidden = self.person_columns | set(self.dropped_columns) | set(COMMON_COLUMN_NAMES)
        return tuple(c for c in self.columns if c.name not in hidden)

    @property
    def all_column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class DateOrder:
    """On one row, optional ``column`` cannot lie before ``anchor`` (with ``column_first``: after it), by more than
    :data:`DATE_ORDER_GRACE` for two datetimes (a response logged minutes before its report is ordinary). A value
    that does is set to null as a warning: a breach answered in 2001 for a report of 2022 hid a late response from
    the panel, and a caseload left before it was joined fed the evaluation (outside check, 2026-12-07)."""

    column: str
    anchor: str
    column_first: bool = False


#: How far a datetime may lie on the wrong side of its row's anchor (:class:`DateOrder`).
DATE_ORDER_GRACE = timedelta(days=1)


def _text(name: str, required: bool = False) -> Column:
    return Column(name, ColumnType.TEXT, required)


def _ref(name: str, required: bool = False) -> Column:
    return Column(name, ColumnType.REFERENCE, required)


def _force(required: bool = False) -> Column:
    return Column("force", ColumnType.FORCE, required, "police_force")


def _code(name: str, code_list: str, required: bool = False) -> Column:
    return Column(name, ColumnType.CODE, required, code_list)


def _date(name: str, required: bool = False, future_ok: bool = False) -> Column:
    return Column(name, ColumnType.DATE, required, future_ok=future_ok)


def _datetime(name: str, required: bool = False) -> Column:
    return Column(name, ColumnType.DATETIME, required)


def _person(prefix: str, fields: tuple[str, ...] = ("forename", "surname", "dob", "sex", "postcode")) -> tuple[Column, ...]:
    types = {"forename": _text, "surname": _text, "dob": _date, "postcode": _text}
    return tuple(
        _code(f"{prefix}sex", "sex") if f == "sex" else types[f](f"{prefix}{f}") for f in fields
    )


COMMON_COLUMNS: tuple[Column, ...] = (
    _datetime("updated_at", required=True),
    _code("record_status", "record_status", required=True),
)
COMMON_COLUMN_NAMES = tuple(c.name for c in COMMON_COLUMNS)

CRIMES = TableContract(
    name="crimes",
    agency="police",
    ref_column="crime_ref",
    columns=(
        _ref("crime_ref", True),
        _force(True),
        _datetime("reported_at", True),
        _date("offence_from"),
        _code("offence_code", "offence_code", True),
        _text("offence_desc"),
        *_person("victim_"),
        *_person("suspect_"),
        _text("suspect_pnc"),
        _code("relationship", "relationship"),
        Column("online_element", ColumnType.FLAG),
        _code("risk_level", "risk_level"),
        _date("cps_referred_at"),
        _date("charged_at"),
        _code("charge_offence_code", "offence_code"),
        _code("outcome_code", "outcome_code"),
        _date("outcome_at"),
        *COMMON_COLUMNS,
    ),
    persons=(
        PersonRole("VICTIM", "victim_"),
        PersonRole("PERPETRATOR", "suspect_", pnc_column="suspect_pnc"),
    ),
    dropped_columns=("offence_desc",),
    date_orders=(
        DateOrder("offence_from", "reported_at", column_first=True), DateOrder("cps_referred_at", "reported_at"),
        DateOrder("charged_at", "reported_at"), DateOrder("outcome_at", "reported_at"),
    ),
)

ORDERS = TableContract(
    name="orders",
    agency="police",
    ref_column="order_ref",
    columns=(
        _ref("order_ref", True),
        _force(True),
        _ref("crime_ref"),
        _code("order_type", "order_type", True),
        _code("status", "order_status", True),
        _date("applied_at"),
        _date("granted_at"),
        _date("expires_at", future_ok=True),
        Column("positive_requirements", ColumnType.CODE_SET, code_list="positive_requirement"),
        *_person("protected_"),
        *_person("subject_"),
        _text("subject_pnc"),
        *COMMON_COLUMNS,
    ),
    persons=(
        PersonRole("VICTIM", "protected_"),
        PersonRole("PERPETRATOR", "subject_", pnc_column="subject_pnc"),
    ),
    date_orders=(DateOrder("granted_at", "applied_at"), DateOrder("expires_at", "granted_at")),
)

BREACHES = TableContract(
    name="breaches",
    agency="police",
    ref_column="breach_ref",
    columns=(
        _ref("breach_ref", True),
        _force(True),
        _ref("order_ref", True),
        _datetime("reported_at", True),
        _datetime("responded_at"),
        _datetime("arrested_at"),
        _ref("new_crime_ref"),
        *COMMON_COLUMNS,
    ),
    date_orders=(DateOrder("responded_at", "reported_at"), DateOrder("arrested_at", "reported_at")),
)

COURT_RESULTS = TableContract(
    name="court_results",
    agency="police",
    ref_column="result_ref",
    columns=(
        _ref("result_ref", True),
        _force(True),
        _ref("crime_ref", True),
        _date("hearing_at", True),
        _code("court", "court"),
        _code("result", "court_result", True),
        _code("convicted_offence_code", "offence_code"),
        _code("sentence_type", "sentence_type"),
        Column("sentence_months", ColumnType.INTEGER, bounds=(0, 1200)),
        *COMMON_COLUMNS,
    ),
)

REFERRALS = TableContract(
    name="referrals",
    agency="police",
    ref_column="referral_ref",
    columns=(
        _ref("referral_ref", True),
        _force(True),
        _ref("crime_ref", True),
        _date("referred_at", True),
        _code("referred_to", "referred_to", True),
        *COMMON_COLUMNS,
    ),
)

SUPERVISION = TableContract(
    name="supervision",
    agency="probation",
    ref_column="event_ref",
    columns=(
        _ref("event_ref", True),
        _text("crn", True),
        _text("pnc"),
        *_person(""),
        _code("order_type", "supervision_order_type"),
        _date("start_date", True),
        _date("end_date", future_ok=True),
        Column("requirements", ColumnType.CODE_SET, code_list="supervision_requirement"),
        _code("rosh_level", "rosh_level"),
        _date("masip_accepted_at"),
        _date("masip_ended_at"),
        *COMMON_COLUMNS,
    ),
    persons=(PersonRole("PERPETRATOR", "", pnc_column="pnc", crn_column="crn"),),
    date_orders=(DateOrder("end_date", "start_date"), DateOrder("masip_ended_at", "masip_accepted_at")),
)

CONTACTS = TableContract(
    name="contacts",
    agency="health",
    ref_column="contact_ref",
    columns=(
        _ref("contact_ref", True),
        _text("nhs_number"),
        *_person(""),
        _code("person_role", "person_role", True),
        _code("service", "health_service", True),
        _date("contact_at", True),
        _code("contact_type", "contact_type", True),
        _code("referral_source", "health_referral_source"),
        *COMMON_COLUMNS,
    ),
    persons=(PersonRole(None, "", nhs_column="nhs_number", role_column="person_role"),),
)

CASES = TableContract(
    name="cases",
    agency="advocacy",
    ref_column="case_ref",
    columns=(
        _ref("case_ref", True),
        *_person("client_"),
        *_person("perpetrator_", ("forename", "surname", "dob")),
        _code("relationship", "relationship"),
        _date("referral_at", True),
        _code("referral_source", "advocacy_referral_source"),
        _force(),
        _ref("police_crime_ref"),
        _code("risk_level", "risk_level"),
        _date("spo_requested_at"),
        _date("first_contact_at"),
        _date("closed_at"),
        _code("closure_reason", "closure_reason"),
        *COMMON_COLUMNS,
    ),
    persons=(
        PersonRole("VICTIM", "client_"),
        PersonRole("PERPETRATOR", "perpetrator_", fields=("forename", "surname", "dob")),
    ),
    date_orders=(
        DateOrder("first_contact_at", "referral_at"), DateOrder("closed_at", "referral_at"),
        DateOrder("closed_at", "first_contact_at"),
    ),
)

TABLES: dict[str, TableContract] = {
    t.name: t
    for t in (CRIMES, ORDERS, BREACHES, COURT_RESULTS, REFERRALS, SUPERVISION, CONTACTS, CASES)
}

AGENCY_TABLES: dict[str, tuple[str, ...]] = {
    "police": ("crimes", "orders", "breaches", "court_results", "referrals"),
    "probation": ("supervision",),
    "health": ("contacts",),
    "advocacy": ("cases",),
}
