"""Synthetic MASIP partnership: agency drops in the real formats of SPEC §2,
with the identifier noise of §2.5, deliberate faults, and the ground truth.

    summary = generate_partnership(Path("drops"), dyads=300, seed=7)

writes one directory per drop (``<source_id>_<extract_date>``, plus
``<...>_redelivery`` for a re-delivered truncated drop) and ``_truth/``:

- ``person_records.csv`` — ``source_id,source_table,record_ref,role,person_id``:
  one row per record role carrying at least one identifier (SPEC §5), for
  every record that should end up loaded (not bad rows, not deleted, not
  only in a broken drop);
- ``dyads.csv`` — ``victim_person_id,perpetrator_person_id,scenario``
  (``;``-separated scenario tags describing the dyad's own records as of
  ``as_of``; the perpetrator is blank for suspect-unknown dyads);
- ``faults.json`` — where each fault was put (drop, file, record refs);
- ``summary.json`` — the arguments and counts.

The truth holds synthetic person ids (``T000123``) only: no names or dates.

Notes:
- ``rows_by_table`` counts the data rows of every drop directory as their
  manifests list them (the re-delivered drop and duplicated rows included).
- Records set ``DELETED`` in a later drop (a crime, referral or contact keyed
  twice, the copy deleted) are not in ``person_records.csv``: they leave the marts.
- Every ``updated_at`` is on or after the record's own event dates (order
  ``expires_at`` excepted: it lies ahead) and before its drop's ``extract_date``
  (the extract is taken at the start of that day).
- Scenario tags (``dyads.csv``) are derived from the dyad's own generated
  records (e.g. ``no_spo_considered``, ``interim_spo_late``,
  ``breach_response_over_24h``, ``repeat_breaches_no_stalking_crime``,
  ``no_advocacy_referral``, ``spo_request_not_acted_on``,
  ``s2a_time_limit_at_risk``, ``masip_followup_complete``,
  ``unrecognised_course_of_conduct``, ``advocacy_perpetrator_name_only``);
  flags that depend on other dyads of the same victim may differ.
- Re-running into the same ``out_dir`` first removes the drop directories and
  ``_truth`` a previous run wrote there (nothing else).
"""

from __future__ import annotations

import csv
import json
import random
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from masip.synth.journeys import build_cluster
from masip.synth.model import SynthRandom, World
from masip.synth.writer import PROFILES, DropSet

__all__ = ["ALL_FAULTS", "DEFAULT_FAULTS", "GenerationSummary", "generate_partnership"]

ALL_FAULTS: frozenset[str] = frozenset(
    {"duplicate_rows", "bad_rows", "breach_before_order", "truncated_drop", "schema_drift"}
)
DEFAULT_FAULTS: frozenset[str] = ALL_FAULTS - {"schema_drift"}


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    drops: tuple[str, ...]
    rows_by_table: dict[str, int]
    persons: int
    truth_dir: Path
    dyads: int = 0
    seed: int = 0
    as_of: date = date(2026, 11, 16)
    weeks: int = 0
    faults: frozenset[str] = frozenset()
    fault_log: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def total_rows(self) -> int:
        return sum(self.rows_by_table.values())


_SOURCES_RE = "|".join(re.escape(s) for s in PROFILES)
_OWN_DIR = re.compile(rf"^({_SOURCES_RE})_\d{{4}}-\d{{2}}-\d{{2}}(_redelivery)?$")


def _clear_previous(out_dir: Path) -> None:
    """Remove drops and truth a previous run wrote here (nothing else)."""
    for child in out_dir.iterdir():
        if child.is_dir() and (child.name == "_truth" or _OWN_DIR.match(child.name)):
            shutil.rmtree(child)


def generate_partnership(out_dir: Path, dyads: int = 300, seed: int = 7,
                         as_of: date = date(2026, 11, 16), weeks: int = 4,
                         faults: frozenset[str] = DEFAULT_FAULTS) -> GenerationSummary:
    """Write a synthetic partnership's drops and ground truth into ``out_dir``.

    Deterministic for given arguments (byte-identical files). Streams records
    to disk cluster by cluster, so memory stays bounded at any ``dyads``.
    """
    faults = frozenset(faults)
    unknown = faults - ALL_FAULTS
    if unknown:
        raise ValueError(f"unknown faults: {sorted(unknown)}; known: {sorted(ALL_FAULTS)}")
    if dyads < 0 or weeks < 0:
        raise ValueError("dyads and weeks must be >= 0")
    if as_of - timedelta(days=7 * weeks) < date(2021, 7, 1):
        raise ValueError("as_of minus the weekly drops must leave some history after 2021-04-01")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous(out_dir)
    truth_dir = out_dir / "_truth"
    truth_dir.mkdir()

    master = random.Random(seed)
    world = World(SynthRandom(master.getrandbits(64)), as_of, weeks, dyads, faults)
    drops = DropSet(out_dir, world, SynthRandom(master.getrandbits(64)), faults)
    cluster_seeds = random.Random(master.getrandbits(64))

    with open(truth_dir / "person_records.csv", "w", newline="", encoding="utf-8") as pr_fh, \
            open(truth_dir / "dyads.csv", "w", newline="", encoding="utf-8") as dy_fh:
        truth = csv.writer(pr_fh, lineterminator="\n")
        truth.writerow(("source_id", "source_table", "record_ref", "role", "person_id"))
        dyad_writer = csv.writer(dy_fh, lineterminator="\n")
        dyad_writer.writerow(("victim_person_id", "perpetrator_person_id", "scenario"))
        index = 0
        while index < dyads:
            rng = SynthRandom(cluster_seeds.getrandbits(64))
            for out in build_cluster(world, rng, index, dyads - index):
                dyad_writer.writerow((out.victim.tid, out.perp.tid if out.perp else "", ";".join(sorted(out.tags))))
                for rec in out.recs:
                    drops.emit(rec, truth)
                index += 1
    closed = drops.close()

    log: list[dict] = []
    for entry in world.fault_log:
        entry = dict(entry)
        entry["breach_drop"] = drops.drop_name(entry["source_id"], entry.pop("breach_window"))
        entry["order_drop"] = drops.drop_name(entry["source_id"], entry.pop("order_window"))
        log.append(entry)
    log += drops.log
    for extra in (closed["truncated"], closed["drift"]):
        if extra:
            log.append(extra)
    applied = frozenset(e["fault"] for e in log if e["fault"] in ALL_FAULTS)
    (truth_dir / "faults.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    summary = GenerationSummary(
        out_dir=out_dir, drops=tuple(closed["drops"]), rows_by_table=dict(closed["rows_by_table"]),
        persons=world.next_pid - 1, truth_dir=truth_dir, dyads=dyads, seed=seed, as_of=as_of, weeks=weeks,
        faults=applied, fault_log=tuple(log),
    )
    (truth_dir / "summary.json").write_text(json.dumps({
        "seed": seed, "dyads": dyads, "as_of": as_of.isoformat(), "weeks": weeks,
        "faults_requested": sorted(faults), "faults_applied": sorted(applied), "drops": list(summary.drops),
        "rows_by_table": summary.rows_by_table, "persons": summary.persons,
    }, indent=1) + "\n", encoding="utf-8")
    return summary
