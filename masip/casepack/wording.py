"""Plain-language wording of the case pack: flag titles and explanations, event names, timeline lanes.

Flag explanations quote the thresholds the warehouse was built with (seed
``flag_thresholds``), so the words cannot drift from the rules.
"""

from __future__ import annotations

from collections.abc import Mapping

#: flag code -> (title, explanation template; {name} fields are thresholds of that flag)
FLAGS: dict[str, tuple[str, str]] = {
    "UNRECOGNISED_COURSE_OF_CONDUCT": (
        "Repeated incidents not recorded as stalking",
        ("{min_crimes} or more police crimes for this pair within {crime_window} days of each other, and none "
         "recorded as a stalking offence. Review whether this is a course of conduct (stalking)."),
    ),
    "NO_SPO_CONSIDERED": (
        "No Stalking Protection Order applied for within {spo_application_window} days",
        ("A stalking crime was reported, and no Stalking Protection Order (interim or full) was applied for "
         "within {spo_application_window} days of the first one."),
    ),
    "INTERIM_SPO_LATE": (
        "Interim SPO granted late",
        ("An interim Stalking Protection Order was granted more than {max_report_to_grant} days after the crime "
         "it relates to was reported."),
    ),
    "BREACH_RESPONSE_OVER_24H": (
        "Breach not answered within {max_response_time} hours",
        ("A breach of an order protecting the victim was answered more than {max_response_time} hours after it "
         "was reported, or has no recorded response."),
    ),
    "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING": (
        "Repeated breaches not recorded as stalking",
        ("{min_breaches} or more breaches of this pair's orders, and no stalking crime recorded within "
         "{stalking_crime_window} days of the second breach."),
    ),
    "NO_ADVOCACY_REFERRAL": (
        "Victim not referred to stalking advocacy within {referral_window} days",
        ("Within {referral_window} days of the first stalking crime the victim was neither referred by police "
         "to specialist stalking advocacy nor taken on by the advocacy service."),
    ),
    "SPO_REQUEST_NOT_ACTED_ON": (
        "SPO request not acted on within {spo_application_window} days",
        ("The victim (or their advocate) asked police to apply for a Stalking Protection Order, and no "
         "application for this pair followed within {spo_application_window} days."),
    ),
    "SUMMARY_TIME_LIMIT_AT_RISK": (
        "Charging time limit close or passed",
        ("A stalking (s2A, summary-only) crime has no charge or outcome, and its {time_limit}-month time limit "
         "for charging falls within {warning_window} days (or has passed)."),
    ),
    "SPO_WITHOUT_POSITIVE_REQUIREMENTS": (
        "Full SPO without positive requirements",
        ("A full Stalking Protection Order was granted without positive requirements (for example a "
         "perpetrator programme or a mental-health assessment)."),
    ),
}

EVENTS: dict[str, str] = {
    "CRIME_REPORTED": "Crime reported",
    "CPS_REFERRED": "File sent to CPS",
    "CHARGED": "Charged",
    "OUTCOME": "Police outcome",
    "ORDER_APPLIED": "Order applied for",
    "ORDER_GRANTED": "Order granted",
    "ORDER_REFUSED": "Order refused",
    "BREACH_REPORTED": "Breach reported",
    "BREACH_RESPONDED": "Police responded to breach",
    "ARREST": "Arrest for breach",
    "COURT_RESULT": "Court result",
    "REFERRAL": "Police referral",
    "ADVOCACY_REFERRAL": "Referred to stalking advocacy",
    "ADVOCACY_CLOSED": "Advocacy case closed",
    "SPO_REQUESTED": "SPO requested by victim/advocate",
    "HEALTH_CONTACT": "Health contact",
    "SUPERVISION_START": "Probation supervision started",
    "SUPERVISION_END": "Probation supervision ended",
    "MASIP_ACCEPTED": "Accepted onto MASIP caseload",
    "MASIP_ENDED": "Left MASIP caseload",
}

#: Timeline lanes, top to bottom: (key, label, event types)
LANES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("incidents", "Incidents & court", ("CRIME_REPORTED", "CPS_REFERRED", "CHARGED", "OUTCOME", "COURT_RESULT")),
    ("orders", "Orders", ("ORDER_APPLIED", "ORDER_GRANTED", "ORDER_REFUSED")),
    ("breaches", "Breaches", ("BREACH_REPORTED", "BREACH_RESPONDED", "ARREST")),
    ("referrals", "Referrals & advocacy", ("REFERRAL", "ADVOCACY_REFERRAL", "ADVOCACY_CLOSED", "SPO_REQUESTED")),
    ("health", "Health", ("HEALTH_CONTACT",)),
    ("supervision", "Probation & MASIP", ("SUPERVISION_START", "SUPERVISION_END", "MASIP_ACCEPTED", "MASIP_ENDED")),
)

SECTIONS: dict[str, str] = {
    "PANEL": "On the MASIP panel",
    "HIGH_RISK_FLAGGED": "High risk with open flags (not on the panel)",
}

PANEL_REASONS: dict[str, str] = {
    "MASIP_CASELOAD": "perpetrator on the MASIP caseload (probation)",
    "MASIP_REFERRAL": "police referral to MASIP",
    "MASIP_CASELOAD+MASIP_REFERRAL": "perpetrator on the MASIP caseload (probation) and police referral to MASIP",
}

AGENCIES: dict[str, str] = {
    "police": "Police",
    "probation": "Probation",
    "health": "Health",
    "advocacy": "Stalking advocacy",
}


class _Thresholds(dict):
    def __missing__(self, key: str) -> str:  # a threshold missing from the seed shows as "?"
        return "?"


def flag_title(code: str, thresholds: Mapping[tuple[str, str], int]) -> str:
    title = FLAGS.get(code, (code.replace("_", " ").capitalize(), ""))[0]
    return title.format_map(_flag_thresholds(code, thresholds))


def flag_explanation(code: str, thresholds: Mapping[tuple[str, str], int]) -> str:
    text = FLAGS.get(code, ("", ""))[1]
    return text.format_map(_flag_thresholds(code, thresholds))


def _flag_thresholds(code: str, thresholds: Mapping[tuple[str, str], int]) -> _Thresholds:
    return _Thresholds({name: value for (flag, name), value in thresholds.items() if flag == code})


def event_label(event_type: str) -> str:
    return EVENTS.get(event_type, event_type.replace("_", " ").capitalize())


def humanise_code(text: str | None) -> str:
    """``SPO_FULL`` -> ``SPO full``, ``RESTRAINING_ORDER`` -> ``Restraining order``."""
    if not text:
        return ""
    keep = {"SPO", "DVPO", "CPS", "MASIP", "IDVA", "MH"}
    words = " ".join(w if w in keep else w.lower() for w in text.split("_"))
    return words[:1].upper() + words[1:]
