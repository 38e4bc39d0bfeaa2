"""The error policy of the MASIP DAGs: which failures a retry cannot fix, and :func:`fail_without_retry`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class RunConfigError(ValueError):
    """A run parameter is missing or malformed; retrying will not fix it."""


class ReconciliationError(RuntimeError):
    """Row counts in the run report do not reconcile (read ≠ loaded + quarantined + duplicates)."""


class WarehouseStateError(RuntimeError):
    """The warehouse or its candidate is missing, corrupt or not a MASIP warehouse; retrying will not fix it."""


class DbtDataTestFailed(RuntimeError):
    """A dbt data test failed: the data breaks a contract, so a retry would fail the same way."""


@contextmanager
def fail_without_retry() -> Iterator[None]:
    """Turn problems a retry cannot fix into immediate failures (Airflow skips the remaining retries).

    Those are: no key, a key that does not match the vault's key version, a
    malformed parameter, a missing or foreign linkage vault, failed data-quality
    checks, counts that do not reconcile, a damaged warehouse or a read-only
    warehouse folder. The message is kept; none of these exceptions carries key
    material. (A warehouse held by another run is retried with back-off.)
    """
    from airflow.sdk.exceptions import AirflowFailException

    from connectors.vault import KeyVersionMismatch
    from masip.linkage.stage import LinkageInputError
    from masip.quality import DataQualityError
    from masip.warehouse import WarehouseDamaged, WarehouseNotWritable
    from pseudonymisation.keys import MissingKeyError

    try:
        yield
    except (
        MissingKeyError, KeyVersionMismatch, RunConfigError, DataQualityError, ReconciliationError,
        WarehouseStateError, DbtDataTestFailed, WarehouseDamaged, WarehouseNotWritable, LinkageInputError,
    ) as error:
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error
