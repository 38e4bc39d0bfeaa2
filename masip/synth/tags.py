"""Scenario tags describing a dyad's own generated records at ``as_of``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from masip.synth.model import (
    CATEGORY,
    S4A_CODES,
    STALKING_CATEGORIES,
    Rec,
    World,
    add_months,
    days,
)

if TYPE_CHECKING:
    from masip.synth.journeys import Journey


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
