"""Deliberate faults attached to a dyad: bad rows and deleted duplicates."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from masip.synth.model import (
    ADVOCACY,
    EARLIEST,
    FORCE_SOURCE,
    HEALTH,
    Raw,
    Rec,
    World,
    days,
)

if TYPE_CHECKING:
    from masip.synth.journeys import Journey


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
