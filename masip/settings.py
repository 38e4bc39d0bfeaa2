"""Every MASIP_* setting that is a number or a size, checked before a stage does any work
(:mod:`connectors.settings`): a bad value stops the run naming the variable, before anything is read or
written, instead of half-way through."""

from __future__ import annotations

from connectors.ingest import ingest_workers
from connectors.manifest import max_file_bytes
from connectors.settings import landing_retention_days
from masip.linkage.backends import (
    DEFAULT_LINKAGE_MEMORY,
    DEFAULT_SCORING_MEMORY,
    LINKAGE_MEMORY_ENV,
    SCORING_MEMORY_ENV,
    memory_capped,
)
from masip.linkage.scorer import min_training_records


def check_settings() -> None:
    """Read every setting; the first bad one raises :class:`connectors.settings.SettingError` saying what to do."""
    max_file_bytes()
    ingest_workers()
    landing_retention_days()
    min_training_records()
    memory_capped()
    memory_capped(LINKAGE_MEMORY_ENV, DEFAULT_LINKAGE_MEMORY)
    memory_capped(SCORING_MEMORY_ENV, DEFAULT_SCORING_MEMORY)
