"""What the weekly case pack shows, read from the warehouse marts (read-only).

Everything here is computed by dbt (``marts.case_pack``, ``dyad_flags``,
``panel``, ``orders_in_force``, ``dyad_risk_history``, ``victim_journey``);
this module only selects the rows of the cases in the pack and groups them
per case. The warehouse holds no plain identifiers, so neither does anything
read here: people appear as pseudonymous ids, records as each agency's own
references.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the Airflow DAG processor imports this package when parsing
    import duckdb

    from masip.casepack.history import ClearedFlag

#: "New since last week": events and flags dated in the 7 days up to and including as_of
#: (after the previous weekly pack's as_of), and events whose record was first delivered in them.
NEW_SINCE_DAYS = 7

FLAG_CODES: tuple[str, ...] = (
    "UNRECOGNISED_COURSE_OF_CONDUCT",
    "NO_SPO_CONSIDERED",
    "INTERIM_SPO_LATE",
    "BREACH_RESPONSE_OVER_24H",
    "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING",
    "NO_ADVOCACY_REFERRAL",
    "SPO_REQUEST_NOT_ACTED_ON",
    "SUMMARY_TIME_LIMIT_AT_RISK",
    "SPO_WITHOUT_POSITIVE_REQUIREMENTS",
)

#: Marts the pack reads; a warehouse without them was built before the case pack existed.
REQUIRED_MARTS: tuple[str, ...] = (
    "case_pack",
    "dyad_flags",
    "panel",
    "orders_in_force",
    "dyad_risk_history",
    "victim_journey",
)

#: The agency that owns each source table (SPEC §2).
AGENCY_OF_TABLE: dict[str, str] = {
    "crimes": "police",
    "orders": "police",
    "breaches": "police",
    "court_results": "police",
    "referrals": "police",
    "supervision": "probation",
    "contacts": "health",
    "cases": "advocacy",
}


class CasePackError(RuntimeError):
    """The case pack cannot be made from this warehouse; the message says why and what to do."""


@dataclass(frozen=True)
class Event:
    event_at: datetime
    event_type: str
    agency: str
    source_id: str
    source_table: str
    record_ref: str
    detail: str | None
    offence_category: str | None
    is_new: bool
    #: the extract date of the first delivery of the event's record, when it made an older event new
    delivered_late: date | None = None


@dataclass(frozen=True)
class Flag:
    flag_code: str
    raised_at: datetime
    evidence_refs: tuple[str, ...]
    detail: str
    is_new: bool


@dataclass(frozen=True)
class OrderInForce:
    source_id: str
    order_ref: str
    order_type: str
    status: str | None
    granted_date: date
    expires_date: date | None
    days_to_expiry: int | None
    positive_requirements: str | None


@dataclass(frozen=True)
class RiskAssessment:
    assessed_at: datetime
    risk_level: str
    source_id: str
    source_table: str
    record_ref: str


@dataclass
class Case:
    position: int
    dyad_id: str
    victim_id: str
    perpetrator_id: str | None
    section: str  # PANEL or HIGH_RISK_FLAGGED
    panel_reason: str | None
    latest_risk_level: str | None
    panel_refs: tuple[str, ...] = ()
    flags: list[Flag] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    orders: list[OrderInForce] = field(default_factory=list)
    risk_history: list[RiskAssessment] = field(default_factory=list)
    pending_review: bool = False  # the linkage of the victim or the perpetrator awaits clerical review
    cleared_flags: list[ClearedFlag] = field(default_factory=list)  # shown by the previous pack, no longer open (history)

    @property
    def anchor(self) -> str:
        return f"case-{self.dyad_id}"

    @property
    def new_events(self) -> list[Event]:
        return [e for e in self.events if e.is_new]

    @property
    def new_flags(self) -> list[Flag]:
        return [f for f in self.flags if f.is_new]

    def references(self) -> dict[str, dict[str, list[str]]]:
        """Each agency's own references on this case: agency -> "source_id · table" -> sorted refs."""
        refs: dict[str, dict[str, set[str]]] = {}
        records = {(e.agency, e.source_id, e.source_table, e.record_ref) for e in self.events}
        records |= {("police", o.source_id, "orders", o.order_ref) for o in self.orders}
        records |= {
            (AGENCY_OF_TABLE[r.source_table], r.source_id, r.source_table, r.record_ref) for r in self.risk_history
        }
        for agency, source_id, table, ref in records:
            refs.setdefault(agency, {}).setdefault(f"{source_id} · {table}", set()).add(ref)
        order = ["police", "probation", "health", "advocacy"]
        return {
            agency: {key: sorted(values) for key, values in sorted(refs[agency].items())}
            for agency in sorted(refs, key=lambda a: (order.index(a) if a in order else len(order), a))
        }


@dataclass(frozen=True)
class SourceGap:
    """A source whose week is missing from the pack: no drop loaded in the week to as_of, or a drop of it rejected
    since its latest loaded one. Only the source id and dates: a drop's name or rejection reason is not shown."""

    source_id: str
    latest_loaded: date | None
    rejected_since: int


@dataclass
class PackData:
    as_of: date
    warehouse_as_of: date
    latest_extract_date: date | None
    cases: list[Case]
    thresholds: dict[tuple[str, str], int]
    flag_counts_all: dict[str, int]  # every dyad's open flags, by code
    panel_size: int
    source_gaps: list[SourceGap] = field(default_factory=list)
    previous_as_of: date | None = None  # the date of the pack compared with (masip.casepack.history)
    left_cases: list[str] = field(default_factory=list)  # dyads the previous pack held and this one does not
    #: sources whose first delivery falls in the week: their history arrived at once and is not marked new
    first_deliveries: list[str] = field(default_factory=list)

    @property
    def new_since(self) -> date:
        """First day counted as new: the day after the previous weekly pack's as_of."""
        return self.as_of - timedelta(days=NEW_SINCE_DAYS - 1)

    @property
    def flag_counts(self) -> dict[str, int]:
        """Open flags of the cases in the pack, by code (every code listed)."""
        counts = Counter(f.flag_code for case in self.cases for f in case.flags)
        return {code: counts.get(code, 0) for code in FLAG_CODES}

    def section(self, name: str) -> list[Case]:
        return [c for c in self.cases if c.section == name]


def _split_refs(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _is_new(moment: datetime | date, as_of: date) -> bool:
    day = moment.date() if isinstance(moment, datetime) else moment
    return as_of - timedelta(days=NEW_SINCE_DAYS) < day <= as_of


def source_gaps(con: duckdb.DuckDBPyConnection, as_of: date) -> list[SourceGap]:
    """Every source that delivered before but whose week to ``as_of`` is not all in the warehouse (SourceGap):
    a pack built without one agency's week said "data as of" that date all the same (outside check, 2026-12-06)."""
    week_start = as_of - timedelta(days=NEW_SINCE_DAYS - 1)
    rows = con.execute(
        """
        with loaded as (
            select source_id, max(extract_date) as latest_loaded
            from ops.loaded_drops where extract_date <= $as_of group by source_id
        ),
        rejected as (
            select rejected_drops.source_id, count(*) as rejected_since
            from ops.rejected_drops
            left join loaded on rejected_drops.source_id = loaded.source_id
            where rejected_drops.extract_date <= $as_of
              and (loaded.latest_loaded is null or rejected_drops.extract_date > loaded.latest_loaded)
            group by rejected_drops.source_id
        )
        select coalesce(loaded.source_id, rejected.source_id), loaded.latest_loaded,
               coalesce(rejected.rejected_since, 0)
        from loaded full join rejected on loaded.source_id = rejected.source_id
        where rejected.rejected_since > 0 or loaded.latest_loaded < $week_start
        order by 1
        """,
        {"as_of": as_of, "week_start": week_start},
    ).fetchall()
    return [SourceGap(source, latest, int(rejected)) for source, latest, rejected in rows]


def first_deliveries(con: duckdb.DuckDBPyConnection, as_of: date) -> list[str]:
    """The sources whose first loaded delivery falls in the week to ``as_of``: a new force or service sends its
    whole history at once, and listing years of it as new would bury the week's news."""
    week_start = as_of - timedelta(days=NEW_SINCE_DAYS - 1)
    rows = con.execute(
        """
        select source_id
        from ops.loaded_drops
        where extract_date <= $as_of
        group by source_id
        having min(extract_date) >= $week_start
        order by 1
        """,
        {"as_of": as_of, "week_start": week_start},
    ).fetchall()
    return [source for (source,) in rows]


def warehouse_as_of(warehouse: Path) -> date | None:
    """The as_of date the warehouse's marts were built at (``intermediate.int_as_of``)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            row = con.execute("select as_of_date from intermediate.int_as_of").fetchone()
        except duckdb.CatalogException:
            raise CasePackError(
                f"warehouse {warehouse} has no intermediate.int_as_of: its marts were never built. "
                "What to do: run `masip run` first."
            ) from None
    return row[0] if row else None


def check_warehouse(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    present = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    missing = [m for m in REQUIRED_MARTS if m not in present]
    if missing:
        raise CasePackError(
            f"warehouse {warehouse} has no marts.{', marts.'.join(missing)}. What to do: rebuild it with "
            "`masip run` (the case pack reads the marts the current dbt project builds)."
        )


def _persons_under_review(con: duckdb.DuckDBPyConnection) -> set[str]:
    """person_ids with a pair of record roles in ``ops.review_queue`` (none before the first build with one)."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'review_queue'"
    ).fetchone()[0]
    if not found:
        return set()
    rows = con.execute(
        "select person_id_a from ops.review_queue union select person_id_b from ops.review_queue"
    ).fetchall()
    return {person for (person,) in rows}


def load_pack(warehouse: Path) -> PackData:
    """Read the case pack of the warehouse's as_of (the date its marts were built at), read-only."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        check_warehouse(con, warehouse)
        as_of_row = con.execute("select as_of_date, latest_extract_date from intermediate.int_as_of").fetchone()
        if as_of_row is None or as_of_row[0] is None:
            raise CasePackError(
                f"warehouse {warehouse} has no as_of date (nothing loaded?). What to do: run the pipeline first."
            )
        as_of, latest_extract = as_of_row
        thresholds = {
            (code, name): int(value)
            for code, name, value in con.execute(
                "select flag_code, threshold_name, value from seeds.flag_thresholds"
            ).fetchall()
        }
        flag_counts_all = dict(
            con.execute("select flag_code, count(*) from marts.dyad_flags group by flag_code").fetchall()
        )
        panel_size = con.execute("select count(*) from marts.panel").fetchone()[0]
        gaps = source_gaps(con, as_of)
        first_delivered = first_deliveries(con, as_of)
        pack_rows = con.execute(
            """
            select
                case_pack.pack_position,
                case_pack.dyad_id,
                case_pack.victim_id,
                case_pack.perpetrator_id,
                case_pack.pack_section,
                case_pack.panel_reason,
                case_pack.latest_risk_level,
                panel.reason_refs
            from marts.case_pack as case_pack
            left join marts.panel as panel
                on case_pack.dyad_id = panel.dyad_id
            order by case_pack.pack_position
            """
        ).fetchall()
        cases = [
            Case(
                position=pos, dyad_id=dyad, victim_id=victim, perpetrator_id=perp, section=section,
                panel_reason=reason, latest_risk_level=risk, panel_refs=_split_refs(refs),
            )
            for pos, dyad, victim, perp, section, reason, risk, refs in pack_rows
        ]
        by_dyad = {c.dyad_id: c for c in cases}
        under_review = _persons_under_review(con)
        for case in cases:
            case.pending_review = case.victim_id in under_review or case.perpetrator_id in under_review

        for dyad, code, raised_at, refs, detail in con.execute(
            """
            select flags.dyad_id, flags.flag_code, flags.raised_at, flags.evidence_refs, flags.detail
            from marts.dyad_flags as flags
            inner join marts.case_pack as case_pack
                on flags.dyad_id = case_pack.dyad_id
            order by flags.dyad_id, flags.raised_at, flags.flag_code
            """
        ).fetchall():
            by_dyad[dyad].flags.append(Flag(code, raised_at, _split_refs(refs), detail, _is_new(raised_at, as_of)))

        for dyad, at, etype, source_id, table, ref, detail, category, delivered in con.execute(
            """
            select
                journey.dyad_id,
                journey.event_at,
                journey.event_type,
                journey.source_id,
                journey.source_table,
                journey.record_ref,
                journey.detail,
                journey.offence_category,
                journey.first_delivered_date
            from marts.victim_journey as journey
            inner join marts.case_pack as case_pack
                on journey.dyad_id = case_pack.dyad_id
            where cast(journey.event_at as date) <= case_pack.as_of_date
            order by journey.dyad_id, journey.event_at, journey.event_type, journey.source_id, journey.record_ref
            """
        ).fetchall():
            # a record first delivered this week is new to the panel, however old its events' own dates, unless
            # it came with its source's first delivery (that source's history)
            late = delivered if (
                delivered and not _is_new(at, as_of) and _is_new(delivered, as_of) and source_id not in first_delivered
            ) else None
            by_dyad[dyad].events.append(
                Event(at, etype, AGENCY_OF_TABLE.get(table, "other"), source_id, table, ref, detail, category,
                      _is_new(at, as_of) or late is not None, late)
            )

        for row in con.execute(
            """
            select
                orders.dyad_id,
                orders.source_id,
                orders.order_ref,
                orders.order_type,
                orders.status,
                orders.granted_date,
                orders.expires_date,
                orders.days_to_expiry,
                orders.positive_requirements
            from marts.orders_in_force as orders
            inner join marts.case_pack as case_pack
                on orders.dyad_id = case_pack.dyad_id
            order by orders.dyad_id, orders.expires_date nulls last, orders.source_id, orders.order_ref
            """
        ).fetchall():
            by_dyad[row[0]].orders.append(OrderInForce(*row[1:]))

        for row in con.execute(
            """
            select
                risk.dyad_id,
                risk.assessed_at,
                risk.risk_level,
                risk.source_id,
                risk.source_table,
                risk.record_ref
            from marts.dyad_risk_history as risk
            inner join marts.case_pack as case_pack
                on risk.dyad_id = case_pack.dyad_id
            order by risk.dyad_id, risk.assessed_at, risk.source_id, risk.source_table, risk.record_ref
            """
        ).fetchall():
            by_dyad[row[0]].risk_history.append(RiskAssessment(*row[1:]))

    return PackData(
        as_of=as_of,
        warehouse_as_of=as_of,
        latest_extract_date=latest_extract,
        cases=cases,
        thresholds=thresholds,
        flag_counts_all={code: int(flag_counts_all.get(code, 0)) for code in FLAG_CODES},
        panel_size=int(panel_size),
        source_gaps=gaps,
        first_deliveries=first_delivered,
    )
