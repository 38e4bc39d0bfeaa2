"""The criminal-justice records of one dyad: crimes and their attrition, court
results, orders and breaches (:class:`JourneyBase`, extended by the services
and the journey templates)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from masip.synth.model import (
    BREACH_CODES,
    CATEGORY,
    DESCRIPTIONS,
    FORCE_SOURCE,
    MIN_EVENT,
    NFA_OUTCOMES,
    NFA_WEIGHTS,
    POSITIVE_REQUIREMENTS,
    RELATIONSHIP_WEIGHTS,
    RELATIONSHIPS,
    S4A_CODES,
    STALKING_CATEGORIES,
    STALKING_CODES,
    STALKING_WEIGHTS,
    DyadOut,
    Person,
    Rec,
    World,
    add_months,
    days,
)


class JourneyBase:
    """The state of one dyad's journey, its time helpers and its criminal-justice records."""

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
