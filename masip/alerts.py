"""Failure alerts for the MASIP DAGs: one record per failed (or retried) task, plus optional email/Slack.

Every MASIP task has :func:`on_task_failure` as its ``on_failure_callback`` and
:func:`on_task_retry` as its ``on_retry_callback`` (``masip.orchestration.default_args``).
Each call appends one row to the table ``alerts`` of a small SQLite file,
**not** the warehouse (the warehouse has one writer, and an alert must be
recordable when the warehouse is the thing that is broken):

* ``$MASIP_ALERTS_DB`` if set, else ``<output folder>/ops_alerts.sqlite``, where
  the output folder is the run's ``out_dir`` parameter, else ``$MASIP_OUTPUT_DIR``,
  else ``output``.

A row holds the DAG, task, run, try number, the error type and the error
message, *scrubbed*: only the message text (no traceback, no task context),
with anything that looks like a key, a token, a password, a connection URI's
credentials or a personal identifier replaced by a placeholder.

Read them with ``sqlite3 output/ops_alerts.sqlite 'select * from alerts order by alert_id desc limit 20'``
or :func:`read_alerts`.

Notifications, off unless configured on the workers (read when the callback runs):

* ``MASIP_ALERT_EMAIL`` — comma-separated addresses: sends the scrubbed alert with
  Airflow's ``SmtpNotifier`` (``apache-airflow-providers-smtp``) over the connection
  ``$MASIP_ALERT_SMTP_CONN_ID`` (default ``smtp_default``).
* ``MASIP_ALERT_SLACK_CONN_ID`` — a Slack incoming-webhook connection: sends it with
  ``SlackWebhookNotifier`` if ``apache-airflow-providers-slack`` is installed (it is
  not in the lock; without it the setting is logged and ignored).

Retries are recorded (``state = 'up_for_retry'``) but only final failures notify.
A callback never raises: a broken alert channel is logged and must not mask the
task's own failure.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ALERTS_DB_ENV = "MASIP_ALERTS_DB"
ALERTS_FILE_NAME = "ops_alerts.sqlite"
ALERT_EMAIL_ENV = "MASIP_ALERT_EMAIL"
ALERT_SMTP_CONN_ENV = "MASIP_ALERT_SMTP_CONN_ID"
ALERT_SLACK_CONN_ENV = "MASIP_ALERT_SLACK_CONN_ID"

MAX_MESSAGE_CHARS = 2000
MAX_MESSAGE_LINES = 30

_SCHEMA = """
create table if not exists alerts (
    alert_id integer primary key autoincrement,
    created_at text not null,          -- UTC, ISO 8601
    state text not null,               -- failed | up_for_retry
    dag_id text not null,
    task_id text not null,
    run_id text not null,
    map_index integer,
    try_number integer,
    max_tries integer,
    error_type text not null,
    message text not null              -- scrubbed message text only
)
"""

# Order matters: credentials in URIs and "key=value" pairs first, then long opaque strings, then identifiers.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.DOTALL), "[redacted]"),
    # scheme://user:password@host -> scheme://[redacted]@host
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@"), r"\1[redacted]@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9+/_.=-]{8,}"), r"\1 [redacted]"),
    # password=..., "secret": "...", api_key: ..., key: ...
    (
        re.compile(
            r"(?i)([\"']?\b(?:password|passwd|pwd|secret|token|key|api[_-]?key|private[_-]?key|fernet[_-]?key|"
            r"access[_-]?key|authorization)[\"']?)(\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;)}\]]+)"
        ),
        r"\1\2[redacted]",
    ),
    # Long hex strings: keys, HMAC tokens (32 hex), checksums.
    (re.compile(r"\b[0-9a-fA-F]{16,}\b"), "[hex]"),
    # Long base64-like strings mixing upper case, lower case and digits: keys, JWTs, webhook secrets.
    (re.compile(r"(?=[A-Za-z0-9+/_.-]*[A-Z])(?=[A-Za-z0-9+/_.-]*[a-z])(?=[A-Za-z0-9+/_.-]*\d)[A-Za-z0-9+/_.-]{24,}=*"),
     "[redacted]"),
    # Personal identifiers that can appear in a data error: e-mail addresses, PNC ids, NHS and phone numbers, postcodes.
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "[email]"),
    (re.compile(r"\b\d{2,4}/\d{5,8}[A-Za-z]\b"), "[pnc]"),
    (re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"), "[number]"),
    (re.compile(r"\b\d{9,}\b"), "[number]"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b", re.IGNORECASE), "[postcode]"),
)


def scrub_message(text: str | None) -> str:
    """The message text with keys, credentials and identifiers replaced by placeholders; at most 30 lines/2000 chars."""
    if not text:
        return "(no message)"
    text = _airflow_redact(str(text))
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) > MAX_MESSAGE_LINES:
        lines = lines[:MAX_MESSAGE_LINES] + [f"... ({len(lines) - MAX_MESSAGE_LINES} more lines in the task log)"]
    text = "\n".join(lines)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def _airflow_redact(text: str) -> str:
    """Airflow's own masking of the secrets it knows (connection passwords read by this task, masked variables)."""
    try:
        from airflow.sdk.log import redact
    except Exception:  # noqa: BLE001 - outside Airflow there is nothing registered to mask
        return text
    try:
        redacted = redact(text)
    except Exception:  # noqa: BLE001
        return text
    return redacted if isinstance(redacted, str) else text


def describe_error(error: BaseException | str | None) -> tuple[str, str]:
    """(error type, scrubbed message) of a task's exception.

    ``AirflowFailException`` raised by ``masip.orchestration.fail_without_retry``
    wraps the real error: its type is reported, not the wrapper's.
    """
    if error is None:
        return "UnknownError", "(the task failed without an exception; see the task log)"
    if isinstance(error, str):
        return "Error", scrub_message(error)
    cause = error.__cause__
    if type(error).__name__ == "AirflowFailException" and cause is not None:
        message = str(error)
        prefix = f"{type(cause).__name__}: "
        return type(cause).__name__, scrub_message(message.removeprefix(prefix))
    return type(error).__name__, scrub_message(str(error))


def alerts_path(params: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Where alerts go: ``$MASIP_ALERTS_DB``, else ``<out_dir>/ops_alerts.sqlite`` (see module docstring)."""
    env = os.environ if environ is None else environ
    explicit = (env.get(ALERTS_DB_ENV) or "").strip()
    if explicit:
        return Path(explicit)
    out_dir = str((params or {}).get("out_dir") or "").strip() or (env.get("MASIP_OUTPUT_DIR") or "").strip() or "output"
    return Path(out_dir) / ALERTS_FILE_NAME


def record_alert(record: Mapping[str, Any], path: Path) -> None:
    """Append one alert row to the SQLite file ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    try:
        with con:
            con.execute(_SCHEMA)
            con.execute(
                "insert into alerts (created_at, state, dag_id, task_id, run_id, map_index, try_number, max_tries, "
                "error_type, message) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [record.get(k) for k in ("created_at", "state", "dag_id", "task_id", "run_id", "map_index",
                                         "try_number", "max_tries", "error_type", "message")],
            )
    finally:
        con.close()


def read_alerts(path: Path) -> list[dict[str, Any]]:
    """Every alert in ``path``, oldest first (empty if the file does not exist)."""
    if not Path(path).is_file():
        return []
    con = sqlite3.connect(path, timeout=30)
    try:
        con.row_factory = sqlite3.Row
        return [dict(row) for row in con.execute("select * from alerts order by alert_id")]
    finally:
        con.close()


def alert_record(context: Mapping[str, Any], state: str) -> dict[str, Any]:
    """The alert row for a task callback's context: who failed, which try, what error (scrubbed)."""
    ti = context.get("ti") or context.get("task_instance")
    error_type, message = describe_error(context.get("exception"))
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "state": state,
        "dag_id": getattr(ti, "dag_id", None) or str(getattr(context.get("dag"), "dag_id", "?")),
        "task_id": getattr(ti, "task_id", None) or "?",
        "run_id": getattr(ti, "run_id", None) or str(context.get("run_id", "?")),
        "map_index": getattr(ti, "map_index", None),
        "try_number": getattr(ti, "try_number", None),
        "max_tries": getattr(ti, "max_tries", None),
        "error_type": error_type,
        "message": message,
    }


def _notify(record: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    subject = f"[MASIP] {record['dag_id']}.{record['task_id']} failed ({record['error_type']})"
    body = (
        f"DAG {record['dag_id']}, task {record['task_id']}, run {record['run_id']}, try {record['try_number']}\n"
        f"{record['error_type']}: {record['message']}\n"
        "Details: the task log in Airflow and the table alerts of the ops_alerts.sqlite file."
    )
    recipients = [a.strip() for a in (os.environ.get(ALERT_EMAIL_ENV) or "").split(",") if a.strip()]
    if recipients:
        try:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            html = "<pre>" + body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</pre>"
            # notify() directly, not __call__: the text is not a template and must not be rendered as one.
            SmtpNotifier(
                to=recipients,
                subject=subject,
                html_content=html,
                smtp_conn_id=os.environ.get(ALERT_SMTP_CONN_ENV) or "smtp_default",
            ).notify(dict(context))
            log.info("Alert e-mailed to %d recipient(s)", len(recipients))
        except Exception as error:  # noqa: BLE001 - a broken mail server must not hide the task's failure
            log.warning("Could not e-mail the alert (%s)", type(error).__name__)
    slack_conn_id = (os.environ.get(ALERT_SLACK_CONN_ENV) or "").strip()
    if slack_conn_id:
        try:
            from airflow.providers.slack.notifications.slack_webhook import (
                SlackWebhookNotifier,
            )
        except ImportError:
            log.warning("%s is set but apache-airflow-providers-slack is not installed; no Slack alert sent",
                        ALERT_SLACK_CONN_ENV)
            return
        try:
            SlackWebhookNotifier(slack_webhook_conn_id=slack_conn_id, text=f"{subject}\n{body}").notify(dict(context))
            log.info("Alert sent to Slack")
        except Exception as error:  # noqa: BLE001
            log.warning("Could not send the alert to Slack (%s)", type(error).__name__)


def _handle(context: Mapping[str, Any], state: str) -> None:
    try:
        record = alert_record(context, state)
        params = context.get("params") or {}
        path = alerts_path(params)
        record_alert(record, path)
        log.warning("Alert recorded in %s: %s.%s try %s %s: %s", path, record["dag_id"], record["task_id"],
                    record["try_number"], state, record["error_type"])
        if state == "failed":
            _notify(record, context)
    except Exception as error:  # noqa: BLE001 - the callback must never raise
        log.error("Could not record the alert (%s: %s)", type(error).__name__, scrub_message(str(error)))


def on_task_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of every MASIP task: record the alert, then e-mail/Slack if configured."""
    _handle(context, "failed")


def on_task_retry(context: Mapping[str, Any]) -> None:
    """``on_retry_callback`` of every MASIP task: record the failed try (no notification)."""
    _handle(context, "up_for_retry")
