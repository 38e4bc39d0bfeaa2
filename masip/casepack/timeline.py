"""The visual journey timeline of one case, as inline SVG (no scripts, no external files; prints as drawn).

One lane per kind of event (incidents and court, orders, breaches, referrals
and advocacy, health, probation and MASIP) plus a risk-level strip on top;
orders in force, supervision and MASIP caseload periods are drawn as bars;
the last 7 days (new since the previous pack) are shaded and their events
ringed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from markupsafe import escape

from masip.casepack.data import NEW_SINCE_DAYS, Case
from masip.casepack.wording import LANES, event_label, humanise_code

WIDTH = 960
LABEL_WIDTH = 150
RIGHT_PAD = 16
TOP = 22
RISK_HEIGHT = 14
LANE_HEIGHT = 26
AXIS_HEIGHT = 22

LANE_COLOURS = {
    "incidents": "#1f4e79",
    "orders": "#6a3d9a",
    "breaches": "#b03a2e",
    "referrals": "#1b7a5a",
    "health": "#a65c00",
    "supervision": "#4d4d4d",
}
RISK_COLOURS = {"STANDARD": "#9cc69b", "MEDIUM": "#f2b84b", "HIGH": "#d9534f"}
LANE_OF_EVENT = {etype: key for key, _, etypes in LANES for etype in etypes}


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _ticks(start: date, end: date) -> list[tuple[date, str]]:
    span = (end - start).days
    if span > 4 * 365:
        months, fmt = 12, "%Y"
    elif span > 540:
        months, fmt = 6, "%b %Y"
    elif span > 180:
        months, fmt = 3, "%b %Y"
    else:
        months, fmt = 1, "%b %Y"
    tick = date(start.year, 1, 1)
    ticks = []
    while tick <= end:
        if tick >= start:
            ticks.append((tick, tick.strftime(fmt)))
        month = tick.month - 1 + months
        tick = date(tick.year + month // 12, month % 12 + 1, 1)
    return ticks


def render_timeline(case: Case, as_of: date) -> str:
    """SVG markup of the case's journey up to ``as_of``."""
    end = as_of + timedelta(days=1)
    dates = [_day(e.event_at) for e in case.events]
    dates += [_day(r.assessed_at) for r in case.risk_history]
    dates += [o.granted_date for o in case.orders]
    start = min(dates) if dates else as_of - timedelta(days=90)
    start = min(start, end - timedelta(days=60))
    start -= timedelta(days=max(2, (end - start).days // 40))
    total = (end - start).days
    plot_width = WIDTH - LABEL_WIDTH - RIGHT_PAD

    def x(value: date | datetime) -> float:
        if isinstance(value, datetime):
            offset = (value - datetime.combine(start, datetime.min.time())).total_seconds() / 86400
        else:
            offset = (value - start).days
        return round(LABEL_WIDTH + max(0.0, min(offset, total)) / total * plot_width, 1)

    lanes_top = TOP + RISK_HEIGHT + 8
    height = lanes_top + LANE_HEIGHT * len(LANES) + AXIS_HEIGHT
    lane_y = {key: lanes_top + i * LANE_HEIGHT for i, (key, _, _) in enumerate(LANES)}
    out: list[str] = [
        (f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
         f'xmlns="http://www.w3.org/2000/svg" aria-label="Journey timeline of case {escape(case.dyad_id)}, '
         f'{escape(start.isoformat())} to {escape(as_of.isoformat())}">')
    ]
    # the last 7 days
    week_start = as_of - timedelta(days=NEW_SINCE_DAYS - 1)
    bx = x(week_start)
    out.append(
        f'<rect class="this-week" x="{bx}" y="{TOP - 14}" width="{max(3.0, x(end) - bx)}" '
        f'height="{height - AXIS_HEIGHT - TOP + 14}" fill="#fff3b0" stroke="#e0b800" stroke-width="0.8"/>'
        f'<text x="{x(end)}" y="{TOP - 4}" text-anchor="end" font-size="11" fill="#7a6000">this week</text>'
    )
    # risk strip
    out.append(
        f'<text x="{LABEL_WIDTH - 8}" y="{TOP + RISK_HEIGHT - 3}" text-anchor="end" font-size="12.5" '
        f'fill="#222">Risk level</text>'
    )
    history = sorted(case.risk_history, key=lambda r: r.assessed_at)
    if not history:
        out.append(
            f'<text x="{LABEL_WIDTH + 4}" y="{TOP + RISK_HEIGHT - 3}" font-size="10" fill="#666">'
            "no risk level recorded</text>"
        )
    for i, r in enumerate(history):
        seg_end = history[i + 1].assessed_at if i + 1 < len(history) else datetime.combine(end, datetime.min.time())
        x0, x1 = x(r.assessed_at), x(seg_end)
        out.append(
            f'<rect x="{x0}" y="{TOP}" width="{max(1.5, x1 - x0)}" height="{RISK_HEIGHT}" '
            f'fill="{RISK_COLOURS.get(r.risk_level, "#ccc")}"><title>{escape(r.risk_level)} from '
            f'{escape(_day(r.assessed_at).isoformat())} ({escape(r.source_id)}: {escape(r.record_ref)})</title></rect>'
        )
    # lanes
    for i, (key, label, _) in enumerate(LANES):
        y = lane_y[key]
        if i % 2 == 0:
            out.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{plot_width}" height="{LANE_HEIGHT}" fill="#f3f4f6"/>')
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + LANE_HEIGHT / 2 + 4}" text-anchor="end" font-size="12.5" '
            f'fill="{LANE_COLOURS[key]}">{escape(label)}</text>'
        )
    # grid: one dashed line per tick, under everything drawn next
    axis_y = lanes_top + LANE_HEIGHT * len(LANES)
    ticks = _ticks(start, end)
    for tick, _ in ticks:
        out.append(
            f'<line x1="{x(tick)}" y1="{TOP}" x2="{x(tick)}" y2="{axis_y + 4}" stroke="#999" stroke-width="0.5" '
            'stroke-dasharray="2,3"/>'
        )
    # periods: orders in force, supervision, MASIP caseload
    def bar(key: str, first: date | datetime, last: date | datetime, colour: str, title: str, thick: float) -> None:
        y = lane_y[key] + LANE_HEIGHT / 2 - thick / 2
        x0, x1 = x(first), x(last)
        out.append(
            f'<rect x="{x0}" y="{y}" width="{max(1.5, x1 - x0)}" height="{thick}" rx="2" fill="{colour}" '
            f'fill-opacity="0.28"><title>{escape(title)}</title></rect>'
        )

    for order in case.orders:
        last = min(order.expires_date or end, end)
        expiry = order.expires_date.isoformat() if order.expires_date else "no expiry date"
        bar("orders", order.granted_date, last, LANE_COLOURS["orders"],
            f"{humanise_code(order.order_type)} {order.order_ref} in force, expires {expiry}", 14)
    periods: dict[tuple[str, str], dict[str, datetime]] = {}
    for e in case.events:
        if e.event_type in ("SUPERVISION_START", "SUPERVISION_END", "MASIP_ACCEPTED", "MASIP_ENDED"):
            periods.setdefault((e.source_id, e.record_ref), {})[e.event_type] = e.event_at
    as_of_end = datetime.combine(end, datetime.min.time())
    for (_, ref), marks in sorted(periods.items()):
        if "SUPERVISION_START" in marks:
            bar("supervision", marks["SUPERVISION_START"], marks.get("SUPERVISION_END", as_of_end),
                LANE_COLOURS["supervision"], f"probation supervision {ref}", 14)
        if "MASIP_ACCEPTED" in marks:
            bar("supervision", marks["MASIP_ACCEPTED"], marks.get("MASIP_ENDED", as_of_end),
                "#1b7a5a", f"on the MASIP caseload ({ref})", 6)
    # events
    for e in case.events:
        key = LANE_OF_EVENT.get(e.event_type)
        if key is None:
            continue
        cx, cy = x(e.event_at), lane_y[key] + LANE_HEIGHT / 2
        title = escape(f"{_day(e.event_at).isoformat()} {event_label(e.event_type)} — {e.source_id}: {e.record_ref}")
        if e.is_new:
            out.append(
                f'<circle class="event new" cx="{cx}" cy="{cy}" r="6.5" fill="{LANE_COLOURS[key]}" stroke="#000" '
                f'stroke-width="2"><title>NEW: {title}</title></circle>'
            )
        else:
            out.append(
                f'<circle class="event" cx="{cx}" cy="{cy}" r="4.2" fill="{LANE_COLOURS[key]}" fill-opacity="0.85" '
                f'stroke="#fff" stroke-width="0.8"><title>{title}</title></circle>'
            )
    # axis
    out.append(f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{WIDTH - RIGHT_PAD}" y2="{axis_y}" stroke="#333"/>')
    for tick, label in ticks:
        out.append(
            f'<text x="{x(tick)}" y="{axis_y + 16}" text-anchor="middle" font-size="11.5" fill="#333">'
            f'{escape(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
