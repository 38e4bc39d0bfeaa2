"""One build per batch of deliveries: ``masip_build``'s settle window and its no-op runs.

Six sources delivering on a Monday update six source assets, each of which
queues a ``masip_build`` run. Two rules make that one build:

* **Settle window** (task ``settle``, a sensor in reschedule mode): a run waits
  until no source asset has been updated for :data:`DEFAULT_SETTLE` (the
  ``settle_minutes`` parameter, else ``$MASIP_BUILD_SETTLE_MINUTES``), so the
  deliveries of a batch land before it copies the warehouse. It never waits
  longer than :data:`MAX_SETTLE_WAIT` after the run started, so a stream of
  deliveries cannot hold the build off. ``settle_minutes=0`` builds at once.
* **No-op runs** (task ``prepare_candidate``): the DAG runs one at a time
  (``max_active_runs=1``), so the deliveries that arrive during a build queue
  runs behind it. The first of them builds everything loaded so far; the rest
  find no drop loaded, no clerical review decision imported and no code changed
  (dbt models, flag thresholds, linkage) since the published build
  (:mod:`masip.publication`) and finish at once, every task skipped. So
  reviewers' decisions and a deployment's changes reach the marts at the next
  daily run, even in a week without deliveries. ``rebuild=true`` (or an explicit
  ``as_of``) builds anyway.

A lone urgent delivery is therefore being built :data:`DEFAULT_SETTLE` (plus
one :data:`SETTLE_POKE_INTERVAL`) after its ingest announced it, or at once
when triggered by hand with ``settle_minutes=0``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from masip.orchestration.config import resolve_run_config
from masip.orchestration.errors import RunConfigError, fail_without_retry

log = logging.getLogger(__name__)

SETTLE_ENV = "MASIP_BUILD_SETTLE_MINUTES"
#: How long no source may have delivered before a build starts.
DEFAULT_SETTLE = timedelta(minutes=15)
#: The longest a build waits for deliveries to settle, from the start of its run.
MAX_SETTLE_WAIT = timedelta(hours=1)
#: How often the settle sensor looks (reschedule mode: no worker slot held in between).
SETTLE_POKE_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Settled:
    """Whether the deliveries have settled, and why (for the log and XCom: a time and counts, no data)."""

    done: bool
    reason: str


def settle_window(params: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> timedelta:
    """The run's quiet period: parameter ``settle_minutes``, else ``$MASIP_BUILD_SETTLE_MINUTES``, else the default."""
    env = os.environ if environ is None else environ
    value = (params or {}).get("settle_minutes")
    text = str(value).strip() if value is not None else (env.get(SETTLE_ENV) or "").strip()
    if not text:
        return DEFAULT_SETTLE
    try:
        minutes = float(text)
    except ValueError:
        raise RunConfigError(f"settle_minutes={text!r} is not a number of minutes") from None
    if minutes < 0:
        raise RunConfigError(f"settle_minutes={text!r} is negative; use 0 to build at once")
    return timedelta(minutes=minutes)


def settle_decision(
    last_delivery: datetime | None, waiting_since: datetime, now: datetime, quiet: timedelta,
    max_wait: timedelta = MAX_SETTLE_WAIT,
) -> Settled:
    """Done when no delivery came in the last ``quiet``, or the run has waited ``max_wait`` already."""
    if last_delivery is None or now - last_delivery >= quiet:
        since = "no delivery announced yet" if last_delivery is None else f"last delivery {last_delivery:%H:%M:%S}"
        return Settled(True, f"deliveries settled ({since}; quiet period {quiet})")
    if now - waiting_since >= max_wait:
        return Settled(True, f"deliveries still arriving after {max_wait} of waiting: building what has landed")
    return Settled(False, f"last delivery at {last_delivery:%H:%M:%S}; waiting until {quiet} pass without one")


def latest_delivery(inlet_events: Any, assets: Iterable[Any]) -> datetime | None:
    """The time of the newest event of any of ``assets`` (read through the task's ``inlet_events``)."""
    latest: datetime | None = None
    for asset in assets:
        newest = inlet_events[asset].ascending(False).limit(1)
        if len(newest):
            stamp = newest[0].timestamp
            latest = stamp if latest is None or stamp > latest else latest
    return latest


def poke_settled(
    params: Mapping[str, Any] | None, inlet_events: Any, assets: Iterable[Any], waiting_since: datetime | None,
    now: datetime | None = None,
) -> Any:
    """The ``settle`` sensor: done (XCom: the last delivery's time and the quiet period) when deliveries settled."""
    from airflow.sdk import PokeReturnValue

    now = now or datetime.now(UTC)
    with fail_without_retry():
        quiet = settle_window(params)
    last = latest_delivery(inlet_events, assets)
    settled = settle_decision(last, waiting_since or now, now, quiet)
    log.info("%s", settled.reason)
    value = {"last_delivery": last.isoformat() if last else None, "quiet_minutes": quiet.total_seconds() / 60,
             "reason": settled.reason}
    return PokeReturnValue(is_done=settled.done, xcom_value=value if settled.done else None)


def forces_build(params: Mapping[str, Any] | None) -> bool:
    """True when the run asks for a build even if nothing new was loaded (``rebuild``, or an explicit ``as_of``)."""
    params = params or {}
    return bool(params.get("rebuild")) or resolve_run_config(params, require_input=False).as_of is not None


def skip_if_nothing_new(params: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
    """End the run as a no-op (every task skipped) when no drop was loaded, no clerical review decision
    imported and no model, flag threshold, linkage code or data-quality rule changed since the published build.

    ``new`` is :func:`masip.publication.whats_new` of the warehouse.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    if new["drops"] or new["review_decisions"] or new["code_changed"] or forces_build(params):
        return
    raise AirflowSkipException(
        f"nothing new: every loaded drop (up to load number {new['latest']}) and every clerical review decision "
        "is in the published build already, built by this code (an earlier run built them); trigger with "
        "rebuild=true to build anyway"
    )
