"""Persons, records and the victim journeys that produce them.

A *cluster* is a small group of dyads that share persons (a perpetrator with
two victims, a victim with a second perpetrator later, or one dyad). Each
dyad is built from templates (course of conduct, stalking crime, SPOs,
breaches, referrals, advocacy, attrition, probation / MASIP, health) as a
list of :class:`Rec` — one per agency record, each with its versions
(``updated_at`` + the full field set at that time). Only what has happened
before ``as_of`` is generated. The writer turns records into drop rows; the
clusters are built and written one at a time so memory stays bounded.
"""

from __future__ import annotations

import calendar
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate, pairwise
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


# --- one dyad ------------------------------------------------------------------------------


class Journey:
    """Builds the records of one dyad."""

    def __init__(self, world: World, rng: random.Random, victim: Person, perp: Person | None, kind: str,
                 t0: date, index: int):
        self.w = world
        self.rng = rng
        self.H = world.H
        self.victim = victim
        self.perp = perp
        self.kind = kind
        self.t0 = t0
        self.index = index
        self.out = DyadOut(victim, perp, kind)
        if kind in ("suspect_unknown", "advocacy_only", "breach_before_order"):
            self.out.tags.add(kind)
        self.rel = rng.choices(RELATIONSHIPS, RELATIONSHIP_WEIGHTS)[0] if perp else None
        self.crimes: list[Rec] = []
        self.orders: list[Rec] = []
        self.cases: list[Rec] = []
        self.supervisions: list[Rec] = []

    # -- time helpers
    def stamp(self, d: date, lo: int = 8, hi: int = 20) -> datetime:
        return datetime(d.year, d.month, d.day, self.rng.randrange(lo, hi), self.rng.randrange(60))

    def report_time(self, d: date) -> datetime:
        hour = self.rng.choices(range(24), (1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 4, 3, 2))[0]
        return datetime(d.year, d.month, d.day, hour, self.rng.randrange(60))

    def later(self, at: datetime, lo_min: int, hi_min: int, same_day: bool = False) -> datetime:
        out = at + timedelta(minutes=self.rng.randint(lo_min, hi_min))
        if same_day and out.date() != at.date():
            out = datetime(at.year, at.month, at.day, 23, 59)
            out = max(out, at)
        return out

    def ok(self, d: date | None) -> bool:
        return d is not None and d < self.H

    def add(self, rec: Rec, at: datetime, fields: dict) -> bool:
        if at.date() >= self.H:
            return False
        rec.versions.append((at, fields))
        return True

    def upd(self, rec: Rec, at: datetime, changes: dict) -> bool:
        last_at, last = rec.versions[-1]
        if at <= last_at:
            at = last_at + timedelta(minutes=self.rng.randint(1, 30))
        if at.date() >= self.H:
            return False
        new = dict(last)
        new.update(changes)
        rec.versions.append((at, new))
        return True

    def keep(self, rec: Rec) -> Rec:
        self.out.recs.append(rec)
        return rec

    # -- crimes
    def describe(self, code: str) -> str:
        cat = CATEGORY.get(code, "OTHER")
        key = "STALKING" if cat in STALKING_CATEGORIES else cat
        text = self.rng.choice(DESCRIPTIONS.get(key, DESCRIPTIONS["OTHER"]))
        if self.perp is not None and self.rng.random() < 0.06:
            name = self.perp.forename
            text = f"{text} - suspect {name} known to victim" if self.rng.random() < 0.5 else f"Messages from {name}"
        return text

    def crime(self, reported: datetime, code: str, *, suspect: bool = True, first_code: str | None = None,
              risk: str | None = None, offence_from: date | None = None, from_gap: int = 40) -> Rec | None:
        rng = self.rng
        d = reported.date()
        if d >= self.H:
            return None
        force = self.victim.home_at(d)[0]
        source = FORCE_SOURCE[force]
        ref = self.w.refs.crime(source, reported.year)
        roles = [("victim_", "VICTIM", self.victim, "full")]
        has_suspect = suspect and self.perp is not None
        if has_suspect:
            mode = rng.choices(("full", "no_forename", "no_surname", "forename_only"), (94, 3, 2, 1))[0]
            roles.append(("suspect_", "PERPETRATOR", self.perp, mode))
        if offence_from is None and rng.random() > 0.06:
            offence_from = max(d - days(rng.randint(0, from_gap)), MIN_EVENT)
        if risk is None:
            stalking = CATEGORY[code] in STALKING_CATEGORIES
            risk = rng.choices(("STANDARD", "MEDIUM", "HIGH", None),
                               (40, 32, 23, 5) if stalking else (55, 28, 12, 5))[0]
        rec = Rec("crimes", source, ref, roles, d)
        fields = {
            "crime_ref": ref, "force": force, "reported_at": reported, "offence_from": offence_from,
            "offence_code": first_code or code, "offence_desc": self.describe(first_code or code),
            "relationship": self.rel if has_suspect else rng.choice((None, "UNKNOWN", "STRANGER")),
            "online_element": rng.choices(("Y", "N", None), (55, 40, 5))[0], "risk_level": risk,
            "cps_referred_at": None, "charged_at": None, "charge_offence_code": None, "outcome_code": None,
            "outcome_at": None, "record_status": "ACTIVE",
        }
        self.add(rec, self.later(reported, 3, 600, same_day=True), fields)
        if first_code:
            self.upd(rec, self.stamp(d + days(rng.randint(2, 30))), {"offence_code": code})
        if rng.random() < 0.04 and risk != "HIGH":  # risk reassessed
            self.upd(rec, self.stamp(d + days(rng.randint(1, 20))), {"risk_level": "HIGH"})
        self.crimes.append(rec)
        return self.keep(rec)

    def code_of(self, crime: Rec) -> str:
        return crime.final["offence_code"]

    def reported_date(self, crime: Rec) -> date:
        return crime.first["reported_at"].date()

    def prosecute(self, crime: Rec, path: str, supervisable: bool = False) -> dict | None:
        """Attrition of one crime. Returns conviction details when convicted."""
        rng = self.rng
        R = self.reported_date(crime)
        code = self.code_of(crime)
        if path in ("open", "s2a_at_risk"):
            if path == "s2a_at_risk" and rng.random() < 0.35:
                cps = R + days(rng.randint(10, 40))
                if self.ok(cps):
                    self.upd(crime, self.stamp(cps), {"cps_referred_at": cps})
            return None
        if path == "time_limit_expired":
            start = crime.final["offence_from"] or R
            od = add_months(start, 6) + days(rng.randint(1, 25))
            if self.ok(od):
                self.upd(crime, self.stamp(od), {"outcome_code": "17", "outcome_at": od})
            return None
        if path == "no_suspect":
            od = R + days(rng.randint(7, 90))
            if self.ok(od):
                self.upd(crime, self.stamp(od), {"outcome_code": rng.choices(("18", "14"), (7, 3))[0], "outcome_at": od})
            return None
        if path in ("nfa", "cps_no_charge"):
            if path == "cps_no_charge" or rng.random() < 0.12:
                cps = R + days(rng.randint(7, 60))
                if not self.ok(cps) or not self.upd(crime, self.stamp(cps), {"cps_referred_at": cps}):
                    return None
                od = cps + days(rng.randint(5, 70))
                oc = rng.choice(("9", "15", "16", "10", "21"))
            else:
                od = R + days(rng.randint(14, 220))
                oc = rng.choices(NFA_OUTCOMES, NFA_WEIGHTS)[0]
            if self.ok(od):
                self.upd(crime, self.stamp(od), {"outcome_code": oc, "outcome_at": od})
            return None
        # charged paths: convicted / acquitted / dismissed / withdrawn
        cps = R + days(rng.randint(5, 45))
        if not self.ok(cps) or not self.upd(crime, self.stamp(cps), {"cps_referred_at": cps}):
            return None
        charged = cps + days(rng.randint(1, 20))
        ccode, oc = code, "1"
        if code in S4A_CODES and rng.random() < 0.35:
            ccode, oc = "195/12", "1A"
        if not self.ok(charged) or not self.upd(crime, self.stamp(charged), {
                "charged_at": charged, "charge_offence_code": ccode, "outcome_code": oc, "outcome_at": charged}):
            return None
        hearings = [charged + days(rng.randint(10, 45))]
        for _ in range(rng.choices((0, 1, 2), (50, 35, 15))[0]):
            hearings.append(hearings[-1] + days(rng.randint(20, 90)))
        final = hearings[-1]
        bail = None
        if rng.random() < 0.6:
            bail = self.order("BAIL_CONDITIONS", crime, applied=None, decided=charged, decision="GRANTED",
                              expires=hearings[0], expire_status=False)
        court = "CROWN" if code in S4A_CODES and rng.random() < 0.5 else "MAGISTRATES"
        source = crime.source
        force = crime.first["force"]
        for h in hearings[:-1]:
            if not self.ok(h):
                return None
            self.court_result(source, force, crime, h, court, "ADJOURNED")
            if bail is not None:
                self.upd(bail, self.stamp(h, 15, 19), {"expires_at": final})
        if not self.ok(final):
            return None
        result = {"convicted": "CONVICTED", "acquitted": "ACQUITTED", "dismissed": "DISMISSED",
                  "withdrawn": "WITHDRAWN"}[path]
        info = None
        if result == "CONVICTED":
            conv = ccode
            if ccode in STALKING_CODES and rng.random() < 0.08:
                conv = "8L"
            if supervisable:
                sentence = rng.choices(("COMMUNITY", "SUSPENDED", "CUSTODY"), (40, 35, 25))[0]
            else:
                sentence = rng.choices(("COMMUNITY", "SUSPENDED", "CUSTODY", "FINE", "DISCHARGE"), (30, 25, 20, 15, 10))[0]
            months = {"CUSTODY": rng.randint(4, 36), "SUSPENDED": rng.randint(6, 24),
                      "COMMUNITY": rng.randint(12, 24)}.get(sentence)
            self.court_result(source, force, crime, final, court, "CONVICTED", conv, sentence, months)
            info = {"hearing": final, "sentence": sentence, "months": months, "code": conv}
        else:
            self.court_result(source, force, crime, final, court, result)
        if bail is not None:
            self.upd(bail, self.stamp(final, 15, 20), {"status": "EXPIRED", "expires_at": final})
        if (result == "CONVICTED" and rng.random() < 0.6) or (result == "ACQUITTED" and rng.random() < 0.2):
            expires = None if rng.random() < 0.15 else add_months(final, 12 * rng.randint(1, 5))
            self.order("RESTRAINING_ORDER", crime, applied=final, decided=final, decision="GRANTED", expires=expires)
        return info

    def court_result(self, source: str, force: str, crime: Rec, hearing: date, court: str, result: str,
                     conv: str | None = None, sentence: str | None = None, months: int | None = None) -> Rec | None:
        if not self.ok(hearing):
            return None
        ref = self.w.refs.court(source)
        rec = Rec("court_results", source, ref, [], hearing)
        fields = {"result_ref": ref, "force": force, "crime_ref": crime.ref, "hearing_at": hearing,
                  "court": court, "result": result, "convicted_offence_code": conv, "sentence_type": sentence,
                  "sentence_months": months, "record_status": "ACTIVE"}
        if not self.add(rec, self.stamp(hearing, 14, 20), fields):
            return None
        return self.keep(rec)

    # -- orders
    def order(self, otype: str, crime: Rec | None, *, applied: date | None, decided: date | None,
              decision: str | None, expires: date | None, requirements: tuple[str, ...] = (),
              source: str | None = None, expire_status: bool = True, late_entry: datetime | None = None) -> Rec | None:
        first = applied or decided
        if not self.ok(first) or self.perp is None:
            return None
        if source is None:
            source = crime.source if crime is not None else FORCE_SOURCE[self.victim.home_at(first)[0]]
        force = {v: k for k, v in FORCE_SOURCE.items()}[source]
        ref = self.w.refs.order(source)
        rec = Rec("orders", source, ref, [("protected_", "VICTIM", self.victim, "full"),
                                          ("subject_", "PERPETRATOR", self.perp, "full")], first)
        base = {"order_ref": ref, "force": force, "crime_ref": crime.ref if crime is not None else None,
                "order_type": otype, "status": "APPLIED", "applied_at": applied, "granted_at": None,
                "expires_at": None, "positive_requirements": None, "record_status": "ACTIVE"}
        states: list[tuple[datetime, dict]] = []
        if applied is not None:
            states.append((self.stamp(applied), {}))
        if decision is not None and self.ok(decided):
            ch = {"status": decision}
            if decision == "GRANTED":
                ch.update(granted_at=decided, expires_at=expires,
                          positive_requirements=";".join(requirements) if requirements else None)
            states.append((self.stamp(decided, 10, 20), ch))
            if decision == "GRANTED" and expire_status and expires is not None and self.ok(expires):
                states.append((self.stamp(expires, 0, 6), {"status": "EXPIRED"}))
        if late_entry is not None:  # the order was keyed in late: one version, state as of entry
            merged = dict(base)
            for at, ch in states:
                if at <= late_entry:
                    merged.update(ch)
            if not self.add(rec, late_entry, merged):
                return None
        else:
            at0, ch0 = states[0]
            merged = dict(base)
            merged.update(ch0)
            if not self.add(rec, at0, merged):
                return None
            for at, ch in states[1:]:
                if not self.upd(rec, at, ch):
                    break
        self.orders.append(rec)
        return self.keep(rec)

    def granted_window(self, order: Rec) -> tuple[date, date] | None:
        f = order.final
        g = f["granted_at"]
        if g is None:
            return None
        end = f["expires_at"] or self.H
        end = min(end, self.H - days(1))
        return (g, end) if end > g + days(4) else None

    def spo(self, crime: Rec, *, interim: bool, full: bool, interim_timely: bool, full_applied: date | None,
            full_decision: str = "GRANTED", requirements: bool = True) -> None:
        rng = self.rng
        R = self.reported_date(crime)
        full_decided = None
        if full and full_applied is not None:
            full_decided = full_applied + days(rng.randint(14, 70))
        if interim:
            base = full_applied - days(rng.randint(0, 3)) if full_applied and not interim_timely else R
            if interim_timely:
                applied = R + days(rng.randint(0, 1))
                granted = applied + days(rng.randint(0, (R + days(2) - applied).days))
            else:
                applied = max(base, R + days(rng.randint(2, 9)))
                granted = max(applied + days(rng.randint(1, 6)), R + days(3))
            decision = rng.choices(("GRANTED", "REFUSED"), (94, 6))[0]
            expires = full_decided if full_decided and full_decided > granted else granted + days(56)
            self.order("SPO_INTERIM", crime, applied=applied, decided=granted, decision=decision, expires=expires)
        if full and full_applied is not None:
            reqs: tuple[str, ...] = ()
            if requirements:
                reqs = tuple(sorted(rng.sample(POSITIVE_REQUIREMENTS, rng.randint(1, 3)),
                                    key=POSITIVE_REQUIREMENTS.index))
            expires = add_months(full_decided, 12 * rng.randint(2, 5))
            self.order("SPO_FULL", crime, applied=full_applied, decided=full_decided, decision=full_decision,
                       expires=expires, requirements=reqs)

    # -- breaches
    def breaches(self, order: Rec, repeat: bool, *, stalking_after: bool | None, responses: list[str] | None = None,
                 new_crime_p: float = 0.3, first_at: date | None = None) -> list[Rec]:
        rng = self.rng
        win = self.granted_window(order)
        if win is None:
            return []
        lo, hi = win
        span = (hi - lo).days
        b = first_at or (lo + days(rng.randint(3, max(3, min(span - 1, 200)))))
        n = rng.choices((2, 3, 4), (6, 3, 1))[0] if repeat else 1
        out: list[Rec] = []
        otype = self.order_type(order)
        for i in range(n):
            if b >= hi or not self.ok(b):
                break
            response = responses[i] if responses and i < len(responses) else rng.choices(
                ("fast", "late", "never"), (55, 30, 15))[0]
            rec = self.breach(order, self.report_time(b), response,
                              new_crime=otype in BREACH_CODES and rng.random() < new_crime_p)
            if rec is not None:
                out.append(rec)
            b = b + days(rng.randint(3, 40))
        if len(out) >= 2 and stalking_after:
            second = out[1].first["reported_at"].date()
            d = second + days(rng.randint(1, 28))
            code = rng.choices(STALKING_CODES, STALKING_WEIGHTS)[0]
            c = self.crime(self.report_time(d), code)
            if c is not None:
                self.prosecute(c, rng.choice(("nfa", "open", "cps_no_charge")))
        return out

    def order_type(self, order: Rec) -> str:
        return order.first["order_type"]

    def breach(self, order: Rec, reported: datetime, response: str, new_crime: bool = False) -> Rec | None:
        rng = self.rng
        if reported.date() >= self.H:
            return None
        source = order.source
        ref = self.w.refs.breach(source)
        rec = Rec("breaches", source, ref, [], reported.date())
        fields = {"breach_ref": ref, "force": order.first["force"], "order_ref": order.ref, "reported_at": reported,
                  "responded_at": None, "arrested_at": None, "new_crime_ref": None, "record_status": "ACTIVE"}
        if not self.add(rec, self.later(reported, 2, 50, same_day=True), fields):
            return None
        if new_crime:
            c = self.crime(self.later(reported, 5, 90, same_day=True), BREACH_CODES[self.order_type(order)],
                           offence_from=reported.date())
            if c is not None:
                self.upd(rec, self.later(c.versions[0][0], 1, 30), {"new_crime_ref": c.ref})
                self.prosecute(c, rng.choices(("nfa", "convicted", "open"), (5, 3, 2))[0])
        if response != "never":
            if response == "fast":
                responded = self.later(reported, 10, 22 * 60)
            else:
                responded = self.later(reported, 25 * 60, 6 * 24 * 60)
            ch = {"responded_at": responded}
            at = responded
            if rng.random() < 0.5:
                arrested = self.later(responded, 5, 8 * 60)
                ch["arrested_at"] = arrested
                at = arrested
            self.upd(rec, self.later(at, 1, 120), ch)
        return self.keep(rec)

    # -- referrals, advocacy, health, probation
    def referral(self, crime: Rec, d: date, to: str) -> Rec | None:
        if not self.ok(d) or crime is None:
            return None
        source = crime.source
        ref = self.w.refs.referral(source)
        rec = Rec("referrals", source, ref, [], d)
        fields = {"referral_ref": ref, "force": crime.first["force"], "crime_ref": crime.ref, "referred_at": d,
                  "referred_to": to, "record_status": "ACTIVE"}
        if not self.add(rec, self.stamp(d), fields):
            return None
        return self.keep(rec)

    def case(self, referral_at: date, source: str, *, crime: Rec | None = None, perp_mode: str = "full",
             spo_request: bool = False, give_ref: bool = True) -> Rec | None:
        rng = self.rng
        if not self.ok(referral_at):
            return None
        ref = self.w.refs.case(referral_at.year)
        roles = [("client_", "VICTIM", self.victim, "full")]
        if self.perp is not None and perp_mode != "blank":
            roles.append(("perpetrator_", "PERPETRATOR", self.perp, perp_mode))
        rec = Rec("cases", ADVOCACY, ref, roles, referral_at)
        rec.meta["perp_mode"] = perp_mode if self.perp is not None else "blank"
        with_ref = crime is not None and give_ref
        fields = {"case_ref": ref, "relationship": self.rel if rng.random() < 0.8 else None,
                  "referral_at": referral_at, "referral_source": source,
                  "force": crime.first["force"] if with_ref else None, "police_crime_ref": crime.ref if with_ref else None,
                  "risk_level": rng.choices(("STANDARD", "MEDIUM", "HIGH", None), (30, 40, 25, 5))[0],
                  "spo_requested_at": None, "first_contact_at": None, "closed_at": None, "closure_reason": None,
                  "record_status": "ACTIVE"}
        if not self.add(rec, self.stamp(referral_at), fields):
            return None
        self.cases.append(rec)
        self.keep(rec)
        if rng.random() < 0.06:  # never engaged
            closed = referral_at + days(rng.randint(20, 60))
            if self.ok(closed):
                self.upd(rec, self.stamp(closed), {"closed_at": closed, "closure_reason": "DISENGAGED"})
            return rec
        first = referral_at + days(rng.randint(0, 10))
        if not self.ok(first) or not self.upd(rec, self.stamp(first), {"first_contact_at": first}):
            return rec
        if spo_request:
            req = first + days(rng.randint(0, 30))
            if self.ok(req):
                self.upd(rec, self.stamp(req), {"spo_requested_at": req})
                rec.meta["spo_requested_at"] = req
        closed = first + days(rng.randint(45, 420))
        if self.ok(closed):
            reason = rng.choices(CLOSURE_REASONS, CLOSURE_WEIGHTS)[0]
            self.upd(rec, self.stamp(closed), {"closed_at": closed, "closure_reason": reason})
        return rec

    def contact(self, person: Person, role: str, service: str, d: date, ctype: str, source: str | None) -> Rec | None:
        if not self.ok(d):
            return None
        if person.nhs is None:
            person.nhs = self.w.ids.nhs()
        ref = self.w.refs.contact()
        rec = Rec("contacts", HEALTH, ref, [("", role, person, "full")], d)
        fields = {"contact_ref": ref, "person_role": role, "service": service, "contact_at": d,
                  "contact_type": ctype, "referral_source": source, "record_status": "ACTIVE"}
        if not self.add(rec, self.stamp(d), fields):
            return None
        return self.keep(rec)

    def health_episode(self, person: Person, role: str, service: str, start: date, source: str) -> None:
        rng = self.rng
        if service == "EMERGENCY_DEPARTMENT":
            self.contact(person, role, service, start, "ASSESSMENT", source)
            return
        if self.contact(person, role, service, start, "REFERRAL_RECEIVED", source) is None:
            return
        d = start + days(rng.randint(10, 45))
        if rng.random() < 0.15:
            self.contact(person, role, service, d, "DID_NOT_ATTEND", source)
            d += days(rng.randint(7, 30))
        self.contact(person, role, service, d, "ASSESSMENT", source)
        for _ in range(rng.randint(0, 6)):
            d += days(rng.randint(14, 40))
            self.contact(person, role, service, d, rng.choices(("TREATMENT", "DID_NOT_ATTEND"), (85, 15))[0], source)
        if rng.random() < 0.7:
            self.contact(person, role, service, d + days(rng.randint(14, 60)), "DISCHARGE", source)

    def supervision(self, start: date, order_type: str, planned_months: int, masip: str | None,
                    rosh: str | None = None) -> Rec | None:
        """``masip``: None (not accepted), "ended" or "active"."""
        rng = self.rng
        perp = self.perp
        if not self.ok(start) or perp is None:
            return None
        if perp.crn is None:
            perp.crn = self.w.ids.crn()
        ref = self.w.refs.event()
        rec = Rec("supervision", PROBATION, ref, [("", "PERPETRATOR", perp, "full")], start)
        n_req = rng.randint(1, 3) if order_type != "LICENCE" else rng.randint(0, 2)
        pool = SUPERVISION_REQUIREMENTS if order_type != "LICENCE" else ("NON_CONTACT", "EXCLUSION_ZONE", "CURFEW")
        reqs = ";".join(rng.sample(pool, min(n_req, len(pool)))) or None
        fields = {"event_ref": ref, "order_type": order_type, "start_date": start, "end_date": None,
                  "requirements": reqs,
                  "rosh_level": rosh or rng.choices(("LOW", "MEDIUM", "HIGH", "VERY_HIGH"), (10, 45, 35, 10))[0],
                  "masip_accepted_at": None, "masip_ended_at": None, "record_status": "ACTIVE"}
        if not self.add(rec, self.stamp(start, 9, 18), fields):
            return None
        end = add_months(start, planned_months)
        if masip:
            acc = start + days(rng.randint(7, 60))
            if self.ok(acc) and self.upd(rec, self.stamp(acc, 9, 18), {"masip_accepted_at": acc}):
                rec.meta["masip_accepted_at"] = acc
                if masip == "ended":
                    ended = add_months(acc, rng.randint(5, 14))
                    if self.ok(ended):
                        self.upd(rec, self.stamp(ended, 9, 18), {"masip_ended_at": ended})
                        rec.meta["masip_ended_at"] = ended
                        end = max(end, ended)
        if self.ok(end):
            self.upd(rec, self.stamp(end, 9, 18), {"end_date": end})
        self.supervisions.append(rec)
        return self.keep(rec)

    # -- templates ----------------------------------------------------------------------
    def next_date(self, d: date, lo: int, hi: int) -> date:
        return d + days(self.rng.randint(lo, hi))

    def maybe_move_victim(self, d: date, other_force: bool) -> None:
        rng = self.rng
        force = self.victim.home_at(d)[0]
        if other_force:
            force = rng.choice([f for f in FORCES if f != force])
        self.victim.homes.append((d, force, draw_postcode(rng, force)))

    def run(self, plan: dict) -> DyadOut:
        kind = self.kind
        if kind == "suspect_unknown":
            self.run_suspect_unknown()
        elif kind == "advocacy_only":
            self.run_advocacy_only()
        elif kind == "breach_before_order":
            self.run_breach_before_order(plan["late_window"])
        else:
            self.run_police(plan)
        return self.out

    def run_suspect_unknown(self) -> None:
        rng = self.rng
        d = self.t0
        first = None
        for _ in range(rng.choices((1, 2, 3), (5, 3, 2))[0]):
            code = rng.choice(("8L", "8R", "58D", "8Q", "195/12", "9A", "8L"))
            c = self.crime(self.report_time(d), code, suspect=False)
            if c is None:
                break
            first = first or c
            self.prosecute(c, rng.choices(("no_suspect", "open"), (8, 2))[0])
            if rng.random() < 0.45:
                self.referral(c, self.next_date(d, 0, 6), "VICTIM_SUPPORT")
            if CATEGORY[code] in STALKING_CATEGORIES and rng.random() < 0.4:
                self.referral(c, self.next_date(d, 0, 20), "STALKING_ADVOCACY")
            d = self.next_date(d, 10, 90)
        if first is not None and rng.random() < 0.12:
            self.case(self.next_date(self.reported_date(first), 1, 60), "SELF", perp_mode="blank")
        if first is not None and rng.random() < 0.08:
            self.health_episode(self.victim, "VICTIM", "PSYCHOLOGICAL_THERAPY",
                                self.next_date(self.reported_date(first), 10, 90), "GP")

    def run_advocacy_only(self) -> None:
        rng = self.rng
        source = rng.choices(("SELF", "HEALTH", "OTHER"), (60, 25, 15))[0]
        start = self.t0
        if source == "HEALTH":
            self.health_episode(self.victim, "VICTIM", "PSYCHOLOGICAL_THERAPY", start, rng.choice(("GP", "SELF")))
            start = self.next_date(start, 15, 60)
        mode = rng.choices(("full", "name_only", "forename_only"), (35, 50, 15))[0]
        self.case(start, source, perp_mode=mode, spo_request=rng.random() < 0.2)
        if source != "HEALTH" and rng.random() < 0.3:
            self.health_episode(self.victim, "VICTIM", "PSYCHOLOGICAL_THERAPY",
                                self.next_date(start, 10, 60), "ADVOCACY")

    def run_breach_before_order(self, k: int) -> None:
        """A breach reported in window k whose order is keyed in window k+1 (fault)."""
        rng = self.rng
        lo, hi = self.w.window_bounds(k)
        b = hi - days(rng.randint(1, 3))
        if k > 0:
            b = max(b, lo)
        crime_d = b - days(rng.randint(25, 60))
        c = self.crime(self.report_time(crime_d), rng.choice(STALKING_CODES))
        if c is None:
            return
        self.prosecute(c, "open")
        n_lo, n_hi = self.w.window_bounds(k + 1)
        entry_d = max(n_lo, b + days(1)) + days(rng.randint(0, 2))
        entry_d = min(entry_d, n_hi - days(1))
        otype = rng.choice(("SPO_INTERIM", "NON_MOLESTATION_ORDER"))
        applied = crime_d + days(rng.randint(1, 4))
        granted = applied + days(rng.randint(0, 2))
        expires = granted + days(56) if otype == "SPO_INTERIM" else add_months(granted, 12)
        order = self.order(otype, c, applied=applied, decided=granted, decision="GRANTED", expires=expires,
                           late_entry=self.stamp(entry_d))
        if order is None:
            return
        br = self.breach(order, self.report_time(b), rng.choice(("fast", "late")))
        if br is not None:
            self.w.fault_log.append({"fault": "breach_before_order", "source_id": order.source,
                                     "breach_ref": br.ref, "order_ref": order.ref,
                                     "breach_window": k, "order_window": k + 1})
        self.referral(c, self.next_date(crime_d, 0, 10), "STALKING_ADVOCACY")

    def run_police(self, plan: dict) -> None:
        rng = self.rng
        kind = self.kind
        stalking = kind == "stalking"
        path = plan.get("path", "nfa")
        masip = plan.get("masip")
        d = self.t0
        move_after = plan.get("move_after")  # crime index after which the victim moves
        crimes_made: list[Rec] = []

        def after_crime(i: int, when: date) -> None:
            if move_after == i:
                self.maybe_move_victim(when + days(rng.randint(5, 40)), other_force=plan.get("move_force", False))

        if plan.get("perp_moves") and self.perp is not None:
            pf = self.perp.home_at(d)[0]
            self.perp.homes.append((d + days(rng.randint(60, 500)), pf, draw_postcode(rng, pf)))
        if plan.get("married") and self.victim.married is None and self.victim.sex != "M":
            new = draw_surname(rng)
            if new != self.victim.surname:
                if rng.random() < 0.35 and "-" not in self.victim.surname:
                    new = f"{self.victim.surname}-{new}"
                self.victim.married = (d + days(rng.randint(40, 500)), new)

        primary: Rec | None = None
        if stalking:
            n_pre = rng.choices((0, 1, 2, 3), (28, 34, 24, 14))[0]
            n_st = rng.choices((1, 2, 3, 4), (42, 31, 17, 10))[0]
            if path == "s2a_at_risk":
                s2a_from = add_months(self.H, -6) + days(rng.randint(-35, 25))
                d_primary = s2a_from + days(rng.randint(3, 20))
                d = max(d_primary - days(80 * n_pre) - days(1), EARLIEST)
        else:
            n_pre, n_st = rng.choices((2, 3, 4, 5), (40, 33, 17, 10))[0], 0
        i = 0
        for j in range(n_pre):
            code = rng.choices(NON_STALKING_CODES, NON_STALKING_WEIGHTS)[0]
            if code == "8/67" and self.rel not in ("PARTNER", "EX_PARTNER", "FAMILY"):
                code = "8L"
            c = self.crime(self.report_time(d), code)
            if c is None:
                break
            crimes_made.append(c)
            sub = "nfa"
            if not stalking and j == 0:
                sub = path
            elif rng.random() < 0.1:
                sub = "open"
            conv = self.prosecute(c, sub, supervisable=bool(plan.get("supervise")))
            if conv is not None:
                self.after_conviction(conv, None)
            if code in ("105A", "8N") and rng.random() < 0.3:
                self.health_episode(self.victim, "VICTIM", "EMERGENCY_DEPARTMENT", d + days(rng.randint(0, 1)),
                                    rng.choice(("SELF", "POLICE", "OTHER")))
            after_crime(i, d)
            i += 1
            d = self.next_date(d, 7, 110 if not stalking else 75)
            if stalking and path == "s2a_at_risk":
                d = min(d, d_primary - days(1))
        if stalking:
            for j in range(n_st):
                code = rng.choices(STALKING_CODES, STALKING_WEIGHTS)[0]
                offence_from = None
                if j == 0 and path == "s2a_at_risk":
                    code = rng.choice(S2A_CODES)
                    d = max(d, d_primary)
                    offence_from = min(s2a_from, d)
                first_code = None
                if j == 0 and rng.random() < 0.08:
                    first_code = rng.choice(("8L", "8R"))
                    self.out.tags.add("reclassified_to_stalking")
                c = self.crime(self.report_time(d), code, first_code=first_code, offence_from=offence_from,
                               from_gap=90)
                if c is None:
                    break
                crimes_made.append(c)
                if j == 0:
                    primary = c
                    conv = self.prosecute(c, path, supervisable=bool(plan.get("supervise")))
                    if conv is not None:
                        self.after_conviction(conv, masip)
                else:
                    self.prosecute(c, rng.choices(("nfa", "open", "cps_no_charge", "time_limit_expired"),
                                                  (60, 20, 15, 5 if code in S2A_CODES else 0))[0])
                after_crime(i, d)
                i += 1
                # the behaviour goes on between stalking reports, often recorded as lesser offences
                for _ in range(rng.choices((0, 1, 2, 3), (33, 35, 21, 11))[0]):
                    d = self.next_date(d, 4, 45)
                    lesser = rng.choices(("8R", "8L", "58D", "3B", "9A"), (35, 30, 15, 10, 10))[0]
                    c2 = self.crime(self.report_time(d), lesser)
                    if c2 is None:
                        break
                    crimes_made.append(c2)
                    self.prosecute(c2, rng.choices(("nfa", "open"), (8, 2))[0])
                d = self.next_date(d, 10, 120)
        if not crimes_made:
            return
        self.victim_services(plan, primary, crimes_made)
        self.orders_and_breaches(plan, primary, crimes_made)
        self.other_referrals(plan, crimes_made)
        if self.perp is not None and rng.random() < (0.06 if not masip else 0.0):
            pf = self.reported_date(crimes_made[-1])
            self.health_episode(self.perp, "PERPETRATOR", rng.choice(("COMMUNITY_MH", "FORENSIC_MH_ASSESSMENT")),
                                pf + days(rng.randint(10, 200)), rng.choice(("POLICE", "GP", "SELF")))

    def victim_services(self, plan: dict, primary: Rec | None, crimes: list[Rec]) -> None:
        """Police referral to stalking advocacy, the advocacy case, SPO (with request), victim health."""
        rng = self.rng
        stalking = primary is not None
        case_rec = None
        police_ref = None
        if stalking:
            R1 = self.reported_date(primary)
            timing = plan.get("advocacy", "never")
            if timing == "timely":
                police_ref = self.referral(primary, R1 + days(rng.randint(0, 14)), "STALKING_ADVOCACY")
            elif timing == "late":
                d = R1 + days(rng.randint(15, 120))
                later_crimes = [c for c in crimes if self.reported_date(c) <= d]
                police_ref = self.referral(later_crimes[-1], d, "STALKING_ADVOCACY")
            if police_ref is not None and rng.random() < 0.85:
                pr_d = police_ref.first["referred_at"]
                crime = next(c for c in crimes if c.ref == police_ref.first["crime_ref"])
                case_rec = self.case(pr_d + days(rng.randint(0, 4)), "POLICE", crime=crime,
                                     perp_mode=plan["perp_mode"], spo_request=plan.get("spo_request", False),
                                     give_ref=rng.random() < 0.65)
            elif rng.random() < 0.36:
                d = max(self.t0, R1 + days(rng.randint(-30, 200)))
                case_rec = self.case(d, "SELF", perp_mode=plan["perp_mode"],
                                     spo_request=plan.get("spo_request", False))
            elif rng.random() < 0.08:
                d = R1 + days(rng.randint(5, 60))
                self.health_episode(self.victim, "VICTIM", "PSYCHOLOGICAL_THERAPY", d, "GP")
                case_rec = self.case(d + days(rng.randint(10, 50)), "HEALTH", perp_mode=plan["perp_mode"],
                                     spo_request=plan.get("spo_request", False))
            # SPO
            request = case_rec.meta.get("spo_requested_at") if case_rec is not None else None
            spo = plan.get("spo", "none")
            timely = plan.get("spo_timely", True)
            full_applied = None
            if request is not None:
                if plan.get("request_acted", True):
                    full_applied = request + days(rng.randint(1, 25))
                    spo = spo if spo != "none" else "full"
                    timely = False
                elif spo != "none":
                    full_applied = request + days(rng.randint(35, 120))
                    timely = False
            elif spo != "none":
                full_applied = R1 + days(rng.randint(3, 27) if timely else rng.randint(30, 150))
            if spo != "none":
                interim = spo in ("interim_full", "interim_only")
                full = spo in ("interim_full", "full", "interim_only")
                decision = "GRANTED"
                if spo == "interim_only":
                    decision = rng.choice(("REFUSED", "WITHDRAWN"))
                elif rng.random() < 0.1:
                    decision = rng.choice(("REFUSED", "REFUSED", "WITHDRAWN"))
                self.spo(primary, interim=interim, full=full, interim_timely=plan.get("interim_timely", True),
                         full_applied=full_applied, full_decision=decision,
                         requirements=plan.get("positive_requirements", True))
        else:
            if rng.random() < 0.2:
                R = self.reported_date(crimes[0])
                case_rec = self.case(R + days(rng.randint(0, 200)), "SELF", perp_mode=plan["perp_mode"])
        # victim health (therapy)
        if rng.random() < (0.3 if stalking else 0.1):
            start = self.reported_date(crimes[0]) + days(rng.randint(20, 150))
            src = "ADVOCACY" if case_rec is not None else rng.choice(("GP", "SELF"))
            self.health_episode(self.victim, "VICTIM", "PSYCHOLOGICAL_THERAPY", start, src)

    def orders_and_breaches(self, plan: dict, primary: Rec | None, crimes: list[Rec]) -> None:
        rng = self.rng
        if self.perp is None:
            return
        if self.rel in ("PARTNER", "EX_PARTNER") and rng.random() < 0.12:
            c = rng.choice(crimes)
            R = self.reported_date(c)
            applied = R + days(rng.randint(0, 1))
            granted = applied + days(rng.randint(0, 2))
            self.order("DVPO", c, applied=applied, decided=granted, decision="GRANTED", expires=granted + days(28))
        if rng.random() < 0.08:
            c = rng.choice(crimes)
            applied = self.reported_date(c) + days(rng.randint(3, 120))
            granted = applied + days(rng.randint(1, 21))
            decision = rng.choices(("GRANTED", "REFUSED"), (9, 1))[0]
            self.order("NON_MOLESTATION_ORDER", c if rng.random() < 0.4 else None, applied=applied,
                       decided=granted, decision=decision, expires=add_months(granted, rng.randint(6, 12)),
                       source=c.source)
        breach_plan = plan.get("breaches")
        if not breach_plan:
            return
        candidates = [o for o in self.orders if self.granted_window(o) is not None]
        if not candidates:
            return
        order = rng.choice(candidates)
        repeat = breach_plan == "repeat"
        stalking_after = plan.get("stalking_after_breaches", False) and self.kind == "stalking"
        self.breaches(order, repeat, stalking_after=stalking_after)

    def other_referrals(self, plan: dict, crimes: list[Rec]) -> None:
        rng = self.rng
        if rng.random() < 0.42:
            c = rng.choice(crimes)
            self.referral(c, self.reported_date(c) + days(rng.randint(0, 7)), "VICTIM_SUPPORT")
        if self.rel in ("PARTNER", "EX_PARTNER") and rng.random() < 0.3:
            c = rng.choice(crimes)
            self.referral(c, self.reported_date(c) + days(rng.randint(0, 10)), "IDVA")
        if rng.random() < 0.06:
            c = rng.choice(crimes)
            self.referral(c, self.reported_date(c) + days(rng.randint(0, 30)), "MENTAL_HEALTH")
        if self.perp is not None and self.kind == "stalking" and not plan.get("masip") and rng.random() < 0.05:
            c = crimes[-1]
            self.referral(c, self.reported_date(c) + days(rng.randint(1, 40)), "MASIP")

    def after_conviction(self, conv: dict, masip: str | None) -> None:
        """Probation supervision (and MASIP) after a conviction; post-intervention offending."""
        rng = self.rng
        sentence = conv["sentence"]
        if sentence not in ("COMMUNITY", "SUSPENDED", "CUSTODY") or self.perp is None:
            return
        hearing = conv["hearing"]
        months = conv["months"] or 12
        if sentence == "CUSTODY":
            start = add_months(hearing, max(1, months // 2))
            otype = "LICENCE"
            planned = max(3, months - months // 2)
            if months < 24 and rng.random() < 0.35:  # short sentence: licence then post-sentence supervision
                otype = "POST_SENTENCE_SUPERVISION"
                start = add_months(hearing, months)
                planned = 12
        elif sentence == "SUSPENDED":
            start, otype, planned = hearing, "SUSPENDED_SENTENCE", max(months, 12)
        else:
            start, otype, planned = hearing, "COMMUNITY_ORDER", months
        if masip == "active":
            planned = max(planned, (self.H - start).days // 30 + 3)
        sup = self.supervision(start, otype, planned, masip)
        if sup is None:
            return
        acc = sup.meta.get("masip_accepted_at")
        if acc is not None:
            crimes_before = [c for c in self.crimes if self.reported_date(c) <= acc]
            if crimes_before and rng.random() < 0.5:
                self.referral(crimes_before[-1], acc - days(rng.randint(0, 20)), "MASIP")
            if rng.random() < 0.45:
                service = rng.choices(("STALKING_CLINIC", "FORENSIC_MH_ASSESSMENT"), (6, 4))[0]
                self.health_episode(self.perp, "PERPETRATOR", service, acc + days(rng.randint(7, 60)), "PROBATION")
            if not self.cases and rng.random() < 0.2:  # victim liaison refers the victim to advocacy
                self.case(acc + days(rng.randint(3, 30)), "PROBATION",
                          perp_mode=rng.choices(("full", "name_only"), (6, 4))[0])
        # reoffending after the intervention / supervision (less often after MASIP)
        end = sup.meta.get("masip_ended_at")
        if acc is not None:
            p = 0.28 if end is not None else 0.0
            anchor = end
        else:
            p = 0.45
            anchor = start + days(rng.randint(60, 300))
        if anchor is not None and rng.random() < p:
            d = anchor + days(rng.randint(20, 500))
            for _ in range(rng.choices((1, 2), (7, 3))[0]):
                if self.kind == "stalking":
                    code = rng.choices(("8Q", "195/12", "8L", "8R", "L-BRO"), (3, 2, 3, 2, 1))[0]
                else:
                    code = rng.choice(("8L", "8R", "58D"))
                if code == "L-BRO":
                    ro = [o for o in self.orders if self.order_type(o) == "RESTRAINING_ORDER"
                          and self.granted_window(o) is not None and self.granted_window(o)[1] > d]
                    if ro:
                        self.breach(ro[0], self.report_time(d), rng.choice(("fast", "late")), new_crime=True)
                        d = self.next_date(d, 20, 200)
                        continue
                    code = "8L"
                c = self.crime(self.report_time(d), code)
                if c is None:
                    break
                self.prosecute(c, rng.choice(("nfa", "open")))
                d = self.next_date(d, 20, 200)


# --- plans and clusters ----------------------------------------------------------------


def pick_t0(rng: random.Random, H: date, group: str) -> date:
    def between(a: date, b: date) -> date:
        b = min(b, H - days(8))
        a = max(min(a, b), EARLIEST)
        if b <= a:
            return a
        return a + days(rng.randrange((b - a).days))

    if group == "early":
        return between(EARLIEST, date(2022, 12, 31))
    if group == "mid":
        return between(date(2023, 1, 1), date(2024, 6, 30))
    if group == "active":
        return between(add_months(H, -26), add_months(H, -12))
    r = rng.random()
    if r < 0.30:
        return between(EARLIEST, date(2023, 12, 31))
    if r < 0.60:
        return between(date(2024, 1, 1), H - days(150))
    return between(H - days(150), H - days(8))


def make_plan(rng: random.Random, H: date, kind: str) -> tuple[dict, date]:
    plan: dict = {}
    group = "general"
    if kind == "stalking":
        r = rng.random()
        if r < 0.55:
            plan.update(path="convicted", supervise=True)
            plan["masip"] = rng.choices(("ended", "active"), (75, 25))[0]
            group = rng.choices(("early", "mid", "active"), (45, 30, 25))[0]
            if group == "active" or group == "mid" and plan["masip"] == "ended" and rng.random() < 0.3:
                plan["masip"] = "active"
        elif r < 0.64:
            plan.update(path="convicted", supervise=True)  # supervision without MASIP (comparison)
            group = rng.choice(("early", "mid", "general"))
        else:
            plan["path"] = rng.choices(
                ("nfa", "cps_no_charge", "acquitted", "dismissed", "withdrawn", "convicted", "open", "s2a_at_risk"),
                (34, 16, 10, 5, 5, 10, 10, 12))[0]
        plan["spo"] = rng.choices(("none", "interim_full", "full", "interim_only"), (44, 28, 20, 8))[0]
        plan["spo_timely"] = rng.random() < 0.55
        plan["interim_timely"] = rng.random() < 0.6
        plan["positive_requirements"] = rng.random() < 0.55
        plan["advocacy"] = rng.choices(("timely", "late", "never"), (45, 20, 35))[0]
        plan["spo_request"] = rng.random() < 0.35
        plan["request_acted"] = rng.random() < 0.55
        plan["breaches"] = rng.choices((None, "single", "repeat"), (55, 22, 23))[0]
        plan["stalking_after_breaches"] = rng.random() < 0.4
    else:  # unrecognised course of conduct
        plan["path"] = rng.choices(("nfa", "cps_no_charge", "convicted", "open", "withdrawn", "dismissed"),
                                   (66, 12, 10, 8, 2, 2))[0]
        plan["breaches"] = rng.choices((None, "single", "repeat"), (70, 15, 15))[0]
    plan["perp_mode"] = rng.choices(("full", "name_only", "forename_only", "blank"), (32, 36, 10, 22))[0]
    plan["married"] = rng.random() < 0.08
    plan["perp_moves"] = rng.random() < 0.1
    if rng.random() < 0.08:
        plan["move_after"] = rng.randint(0, 1)
        plan["move_force"] = rng.random() < 0.6
    t0 = pick_t0(rng, H, group)
    if plan.get("path") == "open" and t0 < H - days(200):
        t0 = pick_t0(rng, H, "general")
    return plan, t0


def build_cluster(world: World, rng: random.Random, first_index: int, budget: int) -> list[DyadOut]:
    """One to two dyads sharing persons. ``first_index`` is the first dyad's index."""
    H = world.H
    r = rng.random()
    shape = "single"
    if budget >= 2 and first_index not in world.late_order_at and first_index + 1 not in world.late_order_at:
        if r < 0.07:
            shape = "perp_two_victims"
        elif r < 0.12:
            shape = "victim_two_perps"
    outs: list[DyadOut] = []
    force = rng.choices(FORCES, FORCE_WEIGHTS)[0]

    def one(idx: int, victim: Person | None, perp: Person | None, kind: str | None, t0_min: date | None,
            cluster_tag: str | None) -> DyadOut:
        if idx in world.late_order_at:
            kind = "breach_before_order"
        if kind is None:
            kind = rng.choices(("stalking", "unrecognised_course_of_conduct", "suspect_unknown", "advocacy_only"),
                               (64, 20, 8, 8))[0]
        plan: dict = {}
        if kind in ("stalking", "unrecognised_course_of_conduct"):
            plan, t0 = make_plan(rng, H, "stalking" if kind == "stalking" else "unrecognised")
        elif kind == "breach_before_order":
            plan = {"late_window": world.late_order_at[idx]}
            t0 = world.window_bounds(plan["late_window"])[1] - days(70)
        else:
            t0 = pick_t0(rng, H, "general")
        if t0_min is not None and t0 < t0_min:
            t0 = min(t0_min, H - days(10))
        if victim is None:
            victim = world.new_person(rng, "VICTIM", force, t0)
        if perp is None and kind != "suspect_unknown":
            pforce = force if rng.random() < 0.85 else rng.choice(FORCES)
            perp = world.new_person(rng, "PERPETRATOR", pforce, t0)
        if kind == "suspect_unknown":
            perp = None
        j = Journey(world, rng, victim, perp, kind, t0, idx)
        out = j.run(plan)
        if cluster_tag:
            out.tags.add(cluster_tag)
        add_faults(world, j, idx)
        derive_tags(world, j)
        return out

    if shape == "single":
        outs.append(one(first_index, None, None, None, None, None))
    elif shape == "perp_two_victims":
        a = one(first_index, None, None, rng.choice(("stalking", "stalking", "unrecognised_course_of_conduct")),
                None, "perpetrator_multiple_victims")
        last = max((r.versions[-1][0].date() for r in a.recs), default=H - days(300))
        start = min(last, H - days(30)) - days(rng.randint(0, 200))
        b = one(first_index + 1, None, a.perp, "stalking", max(start, EARLIEST), "perpetrator_multiple_victims")
        outs += [a, b]
    else:
        a = one(first_index, None, None, rng.choice(("stalking", "unrecognised_course_of_conduct")), None,
                "victim_second_perpetrator")
        last = max((r.versions[-1][0].date() for r in a.recs), default=H - days(300))
        b = one(first_index + 1, a.victim, None, "stalking", min(last + days(rng.randint(30, 300)), H - days(20)),
                "victim_second_perpetrator")
        outs += [a, b]
    return outs


def add_faults(world: World, j: Journey, idx: int) -> None:
    """Bad rows and deleted duplicates attached to dyad ``idx``."""
    rng = j.rng
    recs = [r for r in j.out.recs if r.versions]
    if idx in world.delete_at and world.weeks >= 1:
        cands = [r for r in recs if r.table in ("crimes", "referrals", "contacts") and r.versions[0][0].date() < world.H - days(8)]
        if cands:
            src = rng.choice(cands)
            at0 = src.versions[0][0]
            k = world.window_of(at0.date())
            if k < world.weeks:
                lo = world.window_bounds(k + 1)[0]
                del_d = lo + days(rng.randrange(max(1, (world.H - lo).days)))
                ref = {"crimes": lambda: world.refs.crime(src.source, src.first["reported_at"].year),
                       "referrals": lambda: world.refs.referral(src.source),
                       "contacts": lambda: world.refs.contact()}[src.table]()
                dup = Rec(src.table, src.source, ref, src.roles, src.when, kind="deleted_duplicate")
                key = {"crimes": "crime_ref", "referrals": "referral_ref", "contacts": "contact_ref"}[src.table]
                f = dict(src.first)
                f[key] = ref
                dup.versions.append((at0 + timedelta(minutes=rng.randint(1, 40)), f))
                if dup.versions[0][0].date() != at0.date():
                    dup.versions[0] = (at0, f)
                f2 = dict(f)
                f2["record_status"] = "DELETED"
                dup.versions.append((j.stamp(del_d), f2))
                j.out.recs.append(dup)
    kind = world.bad_at.get(idx)
    if kind is None:
        return
    crimes = [r for r in recs if r.table == "crimes"]
    if kind in ("order_missing_type", "court_missing_result", "referral_not_a_date") and not crimes:
        kind = "contact_bad_date"
    if kind == "case_missing_referral_at" and j.perp is None and not crimes:
        kind = "contact_bad_date"
    H = world.H
    # half of the bad rows land in the weekly drops
    if world.weeks >= 1 and rng.random() < 0.5:
        d = world.d0 + days(rng.randrange(7 * world.weeks))
    else:
        d = max(j.t0, EARLIEST) + days(rng.randint(0, 30))
        if d >= H:
            d = H - days(1)
    at = j.stamp(d)
    base_crime = crimes[0] if crimes else None
    rec: Rec | None = None
    if kind.startswith("crime"):
        source = base_crime.source if base_crime else FORCE_SOURCE[j.victim.home_at(d)[0]]
        force = {v: k for k, v in FORCE_SOURCE.items()}[source]
        ref = world.refs.crime(source, d.year)
        roles = [("victim_", "VICTIM", j.victim, "full")]
        if j.perp is not None:
            roles.append(("suspect_", "PERPETRATOR", j.perp, "full"))
        rec = Rec("crimes", source, ref, roles, d, kind="bad")
        reported = j.report_time(d)
        if reported > at:
            at = reported + timedelta(minutes=30)
        code = rng.choice(("8L", "8R", "8Q"))
        f = {"crime_ref": ref, "force": force, "reported_at": reported, "offence_from": d - days(rng.randint(0, 20)),
             "offence_code": code, "offence_desc": j.describe(code), "relationship": j.rel,
             "online_element": "Y", "risk_level": "MEDIUM", "cps_referred_at": None, "charged_at": None,
             "charge_offence_code": None, "outcome_code": None, "outcome_at": None, "record_status": "ACTIVE"}
        if kind == "crime_unknown_code":
            f["offence_code"] = "99Z"
        elif kind == "crime_missing_code":
            f["offence_code"] = None
        elif kind == "crime_bad_date":
            f["reported_at"] = Raw("BAD_DATE_31_02")
        else:
            f["reported_at"] = Raw("not a date")
        rec.versions.append((at, f))
    elif kind == "referral_not_a_date":
        c = base_crime
        ref = world.refs.referral(c.source)
        rec = Rec("referrals", c.source, ref, [], d, kind="bad")
        rec.versions.append((at, {"referral_ref": ref, "force": c.first["force"], "crime_ref": c.ref,
                                  "referred_at": Raw("not a date"), "referred_to": "VICTIM_SUPPORT",
                                  "record_status": "ACTIVE"}))
    elif kind == "order_missing_type":
        c = base_crime
        if j.perp is None:
            kind = "contact_bad_date"
        else:
            ref = world.refs.order(c.source)
            rec = Rec("orders", c.source, ref, [("protected_", "VICTIM", j.victim, "full"),
                                                ("subject_", "PERPETRATOR", j.perp, "full")], d, kind="bad")
            rec.versions.append((at, {"order_ref": ref, "force": c.first["force"], "crime_ref": c.ref,
                                      "order_type": None, "status": "APPLIED", "applied_at": d, "granted_at": None,
                                      "expires_at": None, "positive_requirements": None, "record_status": "ACTIVE"}))
    elif kind == "court_missing_result":
        c = base_crime
        ref = world.refs.court(c.source)
        rec = Rec("court_results", c.source, ref, [], d, kind="bad")
        rec.versions.append((at, {"result_ref": ref, "force": c.first["force"], "crime_ref": c.ref, "hearing_at": d,
                                  "court": "MAGISTRATES", "result": None, "convicted_offence_code": None,
                                  "sentence_type": None, "sentence_months": None, "record_status": "ACTIVE"}))
    elif kind == "case_missing_referral_at":
        ref = world.refs.case(d.year)
        roles = [("client_", "VICTIM", j.victim, "full")]
        rec = Rec("cases", ADVOCACY, ref, roles, d, kind="bad")
        rec.versions.append((at, {"case_ref": ref, "relationship": j.rel, "referral_at": None,
                                  "referral_source": "SELF", "force": None, "police_crime_ref": None,
                                  "risk_level": "MEDIUM", "spo_requested_at": None, "first_contact_at": None,
                                  "closed_at": None, "closure_reason": None, "record_status": "ACTIVE"}))
    if rec is None and kind == "contact_bad_date":
        person = j.victim
        if person.nhs is None:
            person.nhs = world.ids.nhs()
        ref = world.refs.contact()
        rec = Rec("contacts", HEALTH, ref, [("", "VICTIM", person, "full")], d, kind="bad")
        rec.versions.append((at, {"contact_ref": ref, "person_role": "VICTIM", "service": "PSYCHOLOGICAL_THERAPY",
                                  "contact_at": Raw("BAD_DATE_31_02"), "contact_type": "ASSESSMENT",
                                  "referral_source": "GP", "record_status": "ACTIVE"}))
    if rec is not None:
        rec.meta["bad_kind"] = kind
        j.out.recs.append(rec)


# --- scenario tags from what was generated ---------------------------------------------------


def _clamped_six_months(d: date) -> date:
    return add_months(d, 6)


def derive_tags(world: World, j: Journey) -> None:
    """Tags describing the dyad's records as they stand at ``as_of`` (this dyad's records only)."""
    H = world.H
    t = j.out.tags
    recs = [r for r in j.out.recs if r.kind == "" and r.versions]
    crimes = [r for r in recs if r.table == "crimes"]
    orders = [r for r in recs if r.table == "orders"]
    breaches = [r for r in recs if r.table == "breaches"]
    referrals = [r for r in recs if r.table == "referrals"]
    cases = [r for r in recs if r.table == "cases"]
    contacts = [r for r in recs if r.table == "contacts"]
    sups = [r for r in recs if r.table == "supervision"]
    court = [r for r in recs if r.table == "court_results"]

    def cat(c: Rec) -> str:
        return CATEGORY.get(c.final["offence_code"], "OTHER")

    stalk = sorted((c for c in crimes if cat(c) in STALKING_CATEGORIES), key=lambda c: c.first["reported_at"])
    if len({c.first["force"] for c in crimes}) > 1:
        t.add("victim_moved_force")
    if stalk:
        t.add("stalking_crime")
    elif len(crimes) >= 2 and j.perp is not None:
        ds = sorted(c.first["reported_at"].date() for c in crimes)
        if any((b - a).days <= 365 for a, b in pairwise(ds)):
            t.add("unrecognised_course_of_conduct")
    if crimes and not stalk and "unrecognised_course_of_conduct" not in t and j.kind != "suspect_unknown":
        t.add("non_stalking_incidents")
    for c in crimes:
        f = c.final
        if f["charged_at"]:
            t.add("charged")
            if f["offence_code"] in S4A_CODES and f["charge_offence_code"] == "195/12":
                t.add("charge_downgraded")
        elif f["cps_referred_at"] and f["outcome_code"]:
            t.add("cps_no_charge")
        if f["outcome_code"] is None:
            t.add("open_investigation")
            if CATEGORY.get(f["offence_code"]) == "STALKING_S2A" and not f["charged_at"]:
                start = f["offence_from"] or f["reported_at"].date()
                if _clamped_six_months(start) <= H + days(30):
                    t.add("s2a_time_limit_at_risk")
        elif f["outcome_code"] == "17":
            t.add("time_limit_expired")
        if c.first["offence_code"] != f["offence_code"] and cat(c) in STALKING_CATEGORIES:
            t.add("reclassified_to_stalking")
    results = {r.final["result"] for r in court}
    for res, tag in (("CONVICTED", "convicted"), ("ACQUITTED", "acquitted"), ("ADJOURNED", "adjourned"),
                     ("DISMISSED", "court_dismissed"), ("WITHDRAWN", "court_withdrawn")):
        if res in results:
            t.add(tag)
    # orders
    spos = [o for o in orders if o.final["order_type"] in ("SPO_INTERIM", "SPO_FULL")]
    for o in orders:
        t.add(o.final["order_type"].lower())
        f = o.final
        if f["order_type"] == "SPO_FULL":
            if f["granted_at"]:
                t.add("spo_full_with_positive_requirements" if f["positive_requirements"]
                      else "spo_full_without_positive_requirements")
            if f["status"] in ("REFUSED", "WITHDRAWN"):
                t.add("spo_" + f["status"].lower())
        if f["order_type"] == "SPO_INTERIM" and f["granted_at"]:
            crime = next((c for c in crimes if c.ref == f["crime_ref"]), None)
            if crime is not None:
                late = (f["granted_at"] - crime.first["reported_at"].date()).days > 2
                t.add("interim_spo_late" if late else "interim_spo_within_48h")
    if stalk:
        R1 = stalk[0].first["reported_at"].date()
        applied = [o.final["applied_at"] for o in spos if o.final["applied_at"]]
        if any(R1 <= a <= R1 + days(28) for a in applied):
            t.add("spo_applied_within_28d")
        elif H >= R1 + days(28):
            t.add("spo_applied_late" if applied else "no_spo_considered")
        adv = [r.final["referred_at"] for r in referrals if r.final["referred_to"] == "STALKING_ADVOCACY"]
        adv += [c.final["referral_at"] for c in cases]
        if any(R1 <= a <= R1 + days(14) for a in adv):
            t.add("advocacy_referral_within_14d")
        elif H >= R1 + days(14):
            t.add("advocacy_referral_late" if any(a > R1 for a in adv) else "no_advocacy_referral")
    # breaches
    bs = sorted(breaches, key=lambda b: b.first["reported_at"])
    midnight = datetime(H.year, H.month, H.day)
    for b in bs:
        f = b.final
        rep, resp = f["reported_at"], f["responded_at"]
        if resp is None:
            t.add("breach_never_responded")
            if rep < midnight - timedelta(hours=24):
                t.add("breach_response_over_24h")
        elif resp - rep > timedelta(hours=24):
            t.add("breach_response_over_24h")
        else:
            t.add("breach_responded_within_24h")
        if f["new_crime_ref"]:
            t.add("breach_new_crime")
    if len(bs) >= 2:
        second = bs[1].first["reported_at"].date()
        if any(second <= c.first["reported_at"].date() <= second + days(30) for c in stalk):
            t.add("repeat_breaches_then_stalking_crime")
        else:
            t.add("repeat_breaches_no_stalking_crime")
    for r in referrals:
        to = r.final["referred_to"]
        if to != "STALKING_ADVOCACY":
            t.add(f"{to.lower()}_referral")
    for c in cases:
        t.add(f"advocacy_case_{c.final['referral_source'].lower()}")
        if j.perp is not None:
            t.add(f"advocacy_perpetrator_{c.meta.get('perp_mode', 'blank')}")
        req = c.final["spo_requested_at"]
        if req:
            t.add("spo_requested")
            if any(req <= o.final["applied_at"] <= req + days(28) for o in spos if o.final["applied_at"]):
                t.add("spo_request_acted_on")
            elif H >= req + days(28):
                t.add("spo_request_not_acted_on")
    for s in sups:
        f = s.final
        t.add("supervision")
        acc, end = f["masip_accepted_at"], f["masip_ended_at"]
        if acc:
            t.add("masip_intervention")
            if end is None:
                t.add("masip_active")
            else:
                if add_months(end, 18) <= H:
                    t.add("masip_followup_complete")
                post = [c for c in crimes if end < (c.final["offence_from"] or c.first["reported_at"].date())
                        <= add_months(end, 18)]
                if post:
                    t.add("reoffended_after_intervention")
        else:
            t.add("supervision_no_masip")
    for c in contacts:
        t.add("health_" + c.final["person_role"].lower())
    if j.perp is not None and not any(s.final["masip_accepted_at"] for s in sups):
        t.add("no_intervention")
