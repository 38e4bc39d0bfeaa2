"""The MASIP assets (one per source's raw data, one for the marts) and the names derived from source ids."""

from __future__ import annotations

import re
from collections.abc import Iterable

from airflow.sdk import Asset, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable

#: Asset URIs, defined once. The marts are the pipeline's public interface
#: (SPEC §5); downstream DAGs (publication, case packs) schedule on this asset.
MARTS_ASSET_URI = "masip://warehouse/marts"
MARTS_ASSET = Asset(name="masip_warehouse_marts", uri=MARTS_ASSET_URI, group="masip")

#: One asset per source: "new drops of this source were loaded into the warehouse's raw schema".
#: The per-source ingest DAGs produce them; ``masip_build`` is scheduled on any of them.
SOURCE_ASSET_URI_TEMPLATE = "masip://warehouse/raw/{source_id}"


def source_ids() -> list[str]:
    """The source ids of every profile in ``connectors/profiles/`` (reads those YAML files, nothing else), a broken
    one's included: its ingest DAG stays, and rejects its drops saying what is wrong with the profile. Left out,
    the DAG vanished with no import error, and nothing recorded its drops (outside check, 2026-12-06)."""
    from connectors.profiles import load_profiles

    return sorted(load_profiles().source_ids)


def source_asset_uri(source_id: str) -> str:
    return SOURCE_ASSET_URI_TEMPLATE.format(source_id=source_id)


def source_asset(source_id: str) -> Asset:
    """The asset updated when new drops of ``source_id`` have been loaded."""
    return Asset(name=f"masip_raw_{source_id}", uri=source_asset_uri(source_id), group="masip")


#: The build's time trigger, beside its assets: picks up drops loaded outside Airflow (``masip ingest``).
#: With nothing new since the published build, such a run is a no-op.
BUILD_DAILY_CRON = "0 6 * * *"


def any_source_updated(sources: Iterable[str]) -> AssetAny:
    """A run whenever any source's asset is updated."""
    return AssetAny(*(source_asset(s) for s in sources))


def build_schedule(sources: Iterable[str]) -> AssetOrTimeSchedule:
    """The build's schedule: any source's asset updated, or daily at 06:00 UTC (see :mod:`masip.orchestration.coalesce`)."""
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(BUILD_DAILY_CRON, timezone="UTC"), assets=any_source_updated(sources)
    )


def ingest_dag_id(source_id: str) -> str:
    """``police-met`` -> ``masip_ingest_police_met``."""
    return "masip_ingest_" + re.sub(r"[^A-Za-z0-9_]", "_", source_id)
