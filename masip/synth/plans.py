"""What happens to a dyad: its plan (attrition path, orders, referrals,
breaches, noise) and when its story starts."""

from __future__ import annotations

import random
from datetime import date

from masip.synth.model import (
    EARLIEST,
    add_months,
    days,
)


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
