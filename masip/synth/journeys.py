"""Persons, records and the victim journeys that produce them.

A *cluster* is a small group of dyads that share persons (a perpetrator with
two victims, a victim with a second perpetrator later, or one dyad). Each
dyad is built from templates (course of conduct, stalking crime, SPOs,
breaches, referrals, advocacy, attrition, probation / MASIP, health) as a
list of :class:`Rec` — one per agency record, each with its versions
(``updated_at`` + the full field set at that time). Only what has happened
before ``as_of`` is generated. The writer turns records into drop rows; the
clusters are built and written one at a time so memory stays bounded.

The templates live here; the records they make live in ``justice`` (crimes,
courts, orders, breaches) and ``services`` (referrals, advocacy, health,
probation); ``model`` holds persons, records, code lists and the world;
``plans``, ``faults`` and ``tags`` plan a dyad, spoil it and describe it.
"""

from __future__ import annotations

import random
from datetime import date

from masip.synth.faults import add_faults
from masip.synth.identifiers import draw_postcode
from masip.synth.model import (
    CATEGORY,
    EARLIEST,
    FORCE_WEIGHTS,
    FORCES,
    NON_STALKING_CODES,
    NON_STALKING_WEIGHTS,
    S2A_CODES,
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
from masip.synth.names import draw_surname
from masip.synth.plans import make_plan, pick_t0
from masip.synth.services import ServiceRecords
from masip.synth.tags import derive_tags


class Journey(ServiceRecords):
    """Builds the records of one dyad from the templates of its kind."""

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


# --- clusters ----------------------------------------------------------------------------------


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
