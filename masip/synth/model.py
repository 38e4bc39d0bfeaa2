"""The synthetic world's vocabulary: code lists, persons, agency records and
the world (horizon, identifier factories, fault plans) every journey draws on."""

from __future__ import annotations

import calendar
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import ClassVar

from masip.synth.identifiers import IdentifierFactory, RefFactory, draw_postcode
from masip.synth.names import draw_forename, draw_surname

# --- code lists (dbt_project/seeds) ---------------------------------------------

STALKING_CODES = ("8Q", "195/12", "8/65", "8/66")
STALKING_WEIGHTS = (35, 30, 15, 20)
S2A_CODES = ("8Q", "195/12")
S4A_CODES = ("8/65", "8/66")
NON_STALKING_CODES = ("8L", "8R", "58D", "58A", "105A", "3B", "9A", "8M", "28E", "8N", "8/67")
NON_STALKING_WEIGHTS = (30, 26, 8, 5, 8, 5, 7, 3, 3, 2, 3)
BREACH_CODES = {"SPO_INTERIM": "L-BSPO", "SPO_FULL": "L-BSPO", "RESTRAINING_ORDER": "L-BRO",
                "NON_MOLESTATION_ORDER": "L-BNMO"}
CATEGORY = {
    "195/12": "STALKING_S2A", "8Q": "STALKING_S2A", "8/65": "STALKING_S4A_FEAR", "8/66": "STALKING_S4A_ALARM",
    "8L": "HARASSMENT", "8M": "HARASSMENT", "8R": "MALICIOUS_COMMUNICATIONS", "8/67": "COERCIVE_CONTROL",
    "58A": "CRIMINAL_DAMAGE", "58D": "CRIMINAL_DAMAGE", "3B": "THREATS_TO_KILL", "105A": "ASSAULT",
    "8N": "ASSAULT", "28E": "BURGLARY", "L-BSPO": "BREACH_OF_ORDER", "L-BRO": "BREACH_OF_ORDER",
    "L-BNMO": "BREACH_OF_ORDER", "9A": "OTHER",
}
STALKING_CATEGORIES = frozenset({"STALKING_S2A", "STALKING_S4A_FEAR", "STALKING_S4A_ALARM"})

DESCRIPTIONS = {
    "STALKING": ("Repeated unwanted contact and following", "Persistent messages, turning up uninvited",
                 "Monitoring victim online and in person", "Loitering near home and workplace",
                 "Sending gifts and letters after being told to stop", "Tracking device found on car"),
    "HARASSMENT": ("Repeated unwanted calls", "Abusive messages over several days", "Turning up at address"),
    "MALICIOUS_COMMUNICATIONS": ("Offensive messages via social media", "Threatening text messages",
                                 "Abusive voicemail"),
    "COERCIVE_CONTROL": ("Controlling behaviour over finances and contact",),
    "CRIMINAL_DAMAGE": ("Window broken at address", "Tyres slashed", "Damage to vehicle"),
    "THREATS_TO_KILL": ("Threat to kill made by phone", "Threat to kill in message"),
    "ASSAULT": ("Assault at doorstep", "Pushed victim in street"),
    "BURGLARY": ("Entered address without permission",),
    "BREACH_OF_ORDER": ("Contact in breach of order",),
    "OTHER": ("Behaviour causing alarm and distress",),
}

NFA_OUTCOMES = ("14", "15", "16", "21", "10", "8", "3", "9", "20", "22", "13", "12", "5", "6", "4")
NFA_WEIGHTS = (18, 22, 28, 8, 6, 6, 3, 3, 1, 2, 1, 1, 0.3, 0.5, 0.5)
RELATIONSHIPS = ("EX_PARTNER", "PARTNER", "FAMILY", "ACQUAINTANCE", "NEIGHBOUR", "FRIEND", "COLLEAGUE",
                 "STRANGER", "OTHER", "UNKNOWN")
RELATIONSHIP_WEIGHTS = (45, 4, 6, 15, 8, 4, 5, 9, 2, 2)
POSITIVE_REQUIREMENTS = ("PERPETRATOR_PROGRAMME", "MENTAL_HEALTH_ASSESSMENT", "DEVICE_SURRENDER",
                         "SOCIAL_MEDIA_ACCESS", "SIGN_ON")
SUPERVISION_REQUIREMENTS = ("ACCREDITED_PROGRAMME", "MENTAL_HEALTH_TREATMENT", "REHABILITATION_ACTIVITY",
                            "EXCLUSION_ZONE", "NON_CONTACT", "CURFEW")
CLOSURE_REASONS = ("SUPPORT_COMPLETE", "DISENGAGED", "MOVED_AREA", "TRANSFERRED", "OTHER")
CLOSURE_WEIGHTS = (55, 20, 8, 7, 10)

FORCES = ("CHESHIRE", "HAMPSHIRE", "MET")
FORCE_WEIGHTS = (25, 30, 45)
FORCE_SOURCE = {"CHESHIRE": "police-cheshire", "HAMPSHIRE": "police-hampshire", "MET": "police-met"}
PROBATION, HEALTH, ADVOCACY = "probation-service", "health-trust", "advocacy-service"

EARLIEST = date(2021, 4, 1)
MIN_EVENT = date(2021, 1, 1)
MAX_DOB = date(2006, 12, 31)
MIN_DOB = date(1945, 1, 1)


class SynthRandom(random.Random):
    """``random.Random`` whose weighted ``choices`` caches cumulative weights
    (same results as the standard implementation, several times faster)."""

    _cum_cache: ClassVar[dict[tuple, list]] = {}

    def choices(self, population, weights=None, *, cum_weights=None, k=1):
        if weights is not None and cum_weights is None and k == 1 and isinstance(weights, tuple):
            cum = self._cum_cache.get(weights)
            if cum is None:
                cum = list(accumulate(weights))
                self._cum_cache[weights] = cum
            return [population[bisect(cum, self.random() * (cum[-1] + 0.0), 0, len(population) - 1)]]
        return super().choices(population, weights, cum_weights=cum_weights, k=k)


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def days(n: int) -> timedelta:
    return timedelta(days=n)


# --- persons and records ---------------------------------------------------------


class Person:
    __slots__ = ("crn", "dob", "forename", "homes", "married", "nhs", "pid", "pnc", "sex", "surname")

    def __init__(self, pid: int, sex: str, forename: str, surname: str, dob: date, force: str, postcode: str):
        self.pid = pid
        self.sex = sex
        self.forename = forename
        self.surname = surname
        self.dob = dob
        self.homes: list[tuple[date, str, str]] = [(date(1900, 1, 1), force, postcode)]
        self.pnc: str | None = None
        self.nhs: str | None = None
        self.crn: str | None = None
        self.married: tuple[date, str] | None = None

    @property
    def tid(self) -> str:
        return f"T{self.pid:06d}"

    def home_at(self, d: date) -> tuple[str, str]:
        for since, force, postcode in reversed(self.homes):
            if since <= d:
                return force, postcode
        return self.homes[0][1], self.homes[0][2]

    def surname_at(self, d: date) -> str:
        if self.married and d >= self.married[0]:
            return self.married[1]
        return self.surname


class Raw(str):
    """A cell written exactly as given (a deliberately bad value)."""


class Rec:
    """One agency record: table, source, reference, roles and versions."""

    __slots__ = ("kind", "meta", "ref", "roles", "source", "table", "versions", "when")

    def __init__(self, table: str, source: str, ref: str, roles: list, when: date, kind: str = ""):
        self.table = table
        self.source = source
        self.ref = ref
        self.roles = roles  # [(prefix, role, person, mode)]
        self.when = when  # the date identities are rendered at
        self.kind = kind  # "" | "bad" | "deleted_duplicate"
        self.versions: list[tuple[datetime, dict]] = []
        self.meta: dict = {}

    @property
    def final(self) -> dict:
        return self.versions[-1][1]

    @property
    def first(self) -> dict:
        return self.versions[0][1]


@dataclass
class DyadOut:
    victim: Person
    perp: Person | None
    kind: str
    tags: set[str] = field(default_factory=set)
    recs: list[Rec] = field(default_factory=list)


# --- the world: horizon, factories, fault plans -----------------------------------------


class World:
    def __init__(self, rng: random.Random, as_of: date, weeks: int, dyads: int, faults: frozenset[str]):
        self.rng = rng
        self.H = as_of
        self.weeks = weeks
        self.d0 = as_of - days(7 * weeks)
        self.ids = IdentifierFactory(rng)
        self.refs = RefFactory(rng, {"police-cheshire": "CHS", "police-hampshire": "HAM", "police-met": "MPS"})
        self.next_pid = 1
        self.faults = faults
        self.dyads = dyads
        n = dyads
        # fault plans, keyed by dyad index
        self.bad_at: dict[int, str] = {}
        if "bad_rows" in faults and n:
            count = min(n, 6 + n // 1000)
            for i, idx in enumerate(sorted(rng.sample(range(n), count))):
                self.bad_at[idx] = BAD_KINDS[i % len(BAD_KINDS)]
        self.delete_at: set[int] = set()
        if weeks >= 1 and n:
            self.delete_at = set(rng.sample(range(n), min(n, max(3, n // 60))))
        self.late_order_at: dict[int, int] = {}
        if "breach_before_order" in faults and weeks >= 1 and n:
            count = min(n, 2 + n // 5000)
            for idx in rng.sample(range(n), count):
                self.late_order_at[idx] = rng.randrange(0, weeks)  # breach in window k, order in k+1
        self.fault_log: list[dict] = []

    # windows: 0 = bulk (< d0), k = [d0 + 7(k-1), d0 + 7k)
    def window_of(self, d: date) -> int:
        if d < self.d0:
            return 0
        return (d - self.d0).days // 7 + 1

    def window_bounds(self, k: int) -> tuple[date, date]:
        """[start, end) of window k."""
        if k == 0:
            return EARLIEST - days(120), self.d0
        return self.d0 + days(7 * (k - 1)), self.d0 + days(7 * k)

    def new_person(self, rng: random.Random, role: str, force: str, t0: date) -> Person:
        if role == "VICTIM":
            sex = rng.choices("FMX", (78, 20, 2))[0]
            age = int(rng.triangular(17, 79, 31))
        else:
            sex = rng.choices("MFX", (82, 17, 1))[0]
            age = int(rng.triangular(18, 67, 33))
        dob = date(t0.year - age, 1, 1) + days(rng.randrange(365))
        if dob > MAX_DOB:
            dob = date(2006, 1, 1) + days(rng.randrange(365))
        if dob < MIN_DOB:
            dob = MIN_DOB + days(rng.randrange(365))
        forename = draw_forename(rng, sex)
        surname = draw_surname(rng)
        if rng.random() < 0.04:
            other = draw_surname(rng)
            if other != surname and "’" not in other + surname:
                surname = f"{surname}-{other}"
        p = Person(self.next_pid, sex, forename, surname, dob, force, draw_postcode(rng, force))
        self.next_pid += 1
        if role == "PERPETRATOR" and rng.random() < 0.85:
            lo = max(dob.year + 15, 1995)
            p.pnc = self.ids.pnc(rng.randint(min(lo, 2024), max(min(lo, 2024), min(t0.year, 2024))))
        return p


BAD_KINDS = ("crime_unknown_code", "crime_bad_date", "crime_missing_code", "referral_not_a_date",
             "order_missing_type", "contact_bad_date", "case_missing_referral_at", "court_missing_result",
             "crime_not_a_date")
