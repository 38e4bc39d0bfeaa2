"""The service records of one dyad: police referrals, advocacy cases, health
contacts and probation supervision (with MASIP)."""

from __future__ import annotations

from datetime import date

from masip.synth.justice import JourneyBase
from masip.synth.model import (
    ADVOCACY,
    CLOSURE_REASONS,
    CLOSURE_WEIGHTS,
    HEALTH,
    PROBATION,
    SUPERVISION_REQUIREMENTS,
    Person,
    Rec,
    add_months,
    days,
)


class ServiceRecords(JourneyBase):
    """Referrals, advocacy cases, health contacts and supervision of one dyad."""

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
