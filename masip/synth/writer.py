"""Turns records into agency drops (SPEC §2): source profiles, identity noise,
row formatting, buffered CSV files with running checksums, manifests, faults
and the ground truth."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import random
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from connectors.contracts import AGENCY_TABLES, TABLES, ColumnType, PersonRole
from masip.synth.model import Person, Raw, Rec, World
from masip.synth.names import (
    NICKNAMES,
    apostrophe_variant,
    fold_cp1252,
    strip_accents,
    typo,
)


def _fold_errors(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        return fold_cp1252(exc.object[exc.start:exc.end]), exc.end
    raise exc


codecs.register_error("masip_synth_fold", _fold_errors)


@dataclass(frozen=True)
class SourceProfile:
    source_id: str
    agency: str
    encoding: str  # as written in the manifest
    bom: bool
    date_format: str
    iso_datetime: bool
    missing: tuple[str, ...]  # tokens written for a missing value
    missing_weights: tuple[float, ...]
    code_lower: float
    code_space: float
    force: str | None = None

    @property
    def dmy(self) -> bool:
        return self.date_format == "%d/%m/%Y"


PROFILES: dict[str, SourceProfile] = {
    p.source_id: p
    for p in (
        SourceProfile("police-cheshire", "police", "cp1252", False, "%Y-%m-%d", False, ("NULL", ""), (80, 20),
                      0.02, 0.01, "CHESHIRE"),
        SourceProfile("police-hampshire", "police", "utf-8", False, "%d/%m/%Y", False, ("",), (1,), 0.03, 0.01,
                      "HAMPSHIRE"),
        SourceProfile("police-met", "police", "utf-8", True, "%Y-%m-%d", False, ("", "NULL", "N/A"), (50, 25, 25),
                      0.03, 0.02, "MET"),
        SourceProfile("probation-service", "probation", "utf-8", False, "%Y-%m-%d", True, ("",), (1,), 0.01, 0.0),
        SourceProfile("health-trust", "health", "utf-8", False, "%Y-%m-%d", False, ("N/A", ""), (50, 50), 0.01, 0.0),
        SourceProfile("advocacy-service", "advocacy", "cp1252", False, "%Y-%m-%d", False, ("",), (1,), 0.3, 0.1),
    )
}
SOURCES = tuple(PROFILES)
POLICE_SOURCES = ("police-cheshire", "police-hampshire", "police-met")

_KIND = {ColumnType.TEXT: 0, ColumnType.REFERENCE: 0, ColumnType.FORCE: 0, ColumnType.CODE: 1, ColumnType.DATE: 2, ColumnType.DATETIME: 3,
         ColumnType.INTEGER: 4, ColumnType.FLAG: 0, ColumnType.CODE_SET: 5}
_LAYOUT = {name: tuple((c.name, _KIND[c.type]) for c in t.columns) for name, t in TABLES.items()}
_ROLES = {name: {p.prefix: p for p in t.persons} for name, t in TABLES.items()}

DRIFT_RENAME = ("reported_at", "report_datetime")
BAD_DATE = "BAD_DATE_31_02"


def fmt_date(d: date, dmy: bool) -> str:
    if dmy:
        return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def fmt_datetime(dt: datetime, profile: SourceProfile) -> str:
    if profile.iso_datetime:
        return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    return f"{fmt_date(dt, profile.dmy)} {dt.hour:02d}:{dt.minute:02d}"


class CsvFile:
    """One CSV of one drop: rows buffered, shuffled per buffer, encoded, hashed as written."""

    FLUSH_AT = 4000

    def __init__(self, path: Path, header: list[str], profile: SourceProfile, rng: random.Random):
        self.path = path
        self.header = header
        self.profile = profile
        self.rng = rng
        self.rows: list[list[str]] = []
        self.count = 0
        self.sha = hashlib.sha256()
        self.started = False
        self.size = 0

    def add(self, row: list[str]) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        if not self.started:
            writer.writerow(self.header)
        self.rng.shuffle(self.rows)
        writer.writerows(self.rows)
        self.rows = []
        enc = "cp1252" if self.profile.encoding == "cp1252" else "utf-8"
        data = buf.getvalue().encode(enc, errors="masip_synth_fold")
        if not self.started and self.profile.bom:
            data = codecs.BOM_UTF8 + data
        with open(self.path, "ab" if self.started else "wb") as fh:
            fh.write(data)
        self.sha.update(data)
        self.size += len(data)
        self.started = True

    def close(self) -> None:
        if self.rows or not self.started:
            self.flush()


class DropSet:
    """All drops of the run: one directory per (source, window)."""

    def __init__(self, out_dir: Path, world: World, rng: random.Random, faults: frozenset[str]):
        self.out_dir = out_dir
        self.world = world
        self.rng = rng
        self.faults = faults
        self.weeks = world.weeks
        self.extract = [world.d0 + timedelta(days=7 * k) for k in range(world.weeks + 1)]
        self.drift: tuple[str, int] | None = None
        if "schema_drift" in faults and world.weeks >= 1:
            self.drift = (rng.choice(POLICE_SOURCES), rng.randint(1, world.weeks))
        self.files: dict[tuple[str, int, str], CsvFile] = {}
        for source, profile in PROFILES.items():
            for k in range(world.weeks + 1):
                d = self.drop_dir(source, k)
                d.mkdir(parents=True, exist_ok=True)
                for table in AGENCY_TABLES[profile.agency]:
                    header = [c.name for c in TABLES[table].columns]
                    if self.drift == (source, k) and table == "crimes":
                        header = [DRIFT_RENAME[1] if h == DRIFT_RENAME[0] else h for h in header]
                    self.files[(source, k, table)] = CsvFile(d / f"{table}.csv", header, profile, rng)
        self.dup_p = 0.004 if "duplicate_rows" in faults else 0.0
        self.log: list[dict] = []

    def drop_name(self, source: str, k: int) -> str:
        return f"{source}_{self.extract[k].isoformat()}"

    def drop_dir(self, source: str, k: int) -> Path:
        return self.out_dir / self.drop_name(source, k)

    def broken(self, source: str, k: int) -> bool:
        return self.drift == (source, k)

    # -- rendering
    def render_identity(self, rec: Rec, profile: SourceProfile) -> tuple[dict, list[tuple[str, Person]]]:
        rng = self.rng
        values: dict = {}
        identified: list[tuple[str, Person]] = []
        roles = _ROLES[rec.table]
        for prefix, role, person, mode in rec.roles:
            pr: PersonRole = roles[prefix]
            when = rec.when
            fn = person.forename
            sn = person.surname_at(when)
            if person.married and when >= person.married[0] and rng.random() < 0.15:
                sn = person.surname  # the old name lingers in some records
            if "-" in sn and rng.random() < 0.3:
                parts = sn.split("-")
                sn = rng.choice((parts[0], parts[-1], " ".join(parts)))
            nick = NICKNAMES.get(fn)
            if nick and rng.random() < 0.12:
                fn = rng.choice(nick)
            if not fn.isascii() and rng.random() < 0.3:
                fn = strip_accents(fn)
            if not sn.isascii():
                if "’" in sn and rng.random() < 0.45:
                    sn = apostrophe_variant(rng, sn)
                if rng.random() < 0.3:
                    sn = strip_accents(sn)
            r = rng.random()
            if r < 0.02:
                fn = typo(rng, fn)
            elif r < 0.04:
                sn = typo(rng, sn)
            if rng.random() < 0.025:
                fn, sn = sn, fn
            r = rng.random()
            if r < 0.05:
                fn, sn = fn.upper(), sn.upper()
            elif r < 0.062:
                fn, sn = fn.lower(), sn.lower()
            dob: date | None = person.dob
            r = rng.random()
            if r < 0.05:
                dob = None
            elif r < 0.10 and dob.day <= 12 and dob.day != dob.month:
                dob = date(dob.year, dob.day, dob.month)
            sex: str | None = person.sex
            r = rng.random()
            if r < 0.03:
                sex = None
            elif r < 0.04:
                sex = "U"
            postcode: str | None = person.home_at(when)[1]
            r = rng.random()
            if r < 0.06:
                postcode = None
            elif r < 0.21:
                postcode = postcode.replace(" ", "")
            elif r < 0.28:
                postcode = postcode.lower()
            elif r < 0.32:
                postcode = " " + postcode.replace(" ", "  ") + " "
            if mode == "no_forename":
                fn = None
            elif mode == "no_surname":
                sn = None
            elif mode == "forename_only":
                sn, dob, postcode = None, None, None
            elif mode == "name_only":
                dob, postcode = None, None
            got = {"forename": fn, "surname": sn, "dob": dob, "sex": sex, "postcode": postcode}
            for f in pr.fields:
                values[pr.column(f)] = got[f]
            ids = [got[f] for f in pr.fields if f in ("forename", "surname", "dob")]
            if pr.pnc_column:
                pnc = person.pnc if person.pnc and rng.random() < 0.8 else None
                values[pr.pnc_column] = pnc
                ids.append(pnc)
            if pr.nhs_column:
                nhs = person.nhs if person.nhs and rng.random() < 0.82 else None
                if nhs and rng.random() < 0.35:
                    nhs = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
                values[pr.nhs_column] = nhs
                ids.append(nhs)
            if pr.crn_column:
                values[pr.crn_column] = person.crn
            if any(ids):
                identified.append((role, person))
        return values, identified

    def format_row(self, rec: Rec, profile: SourceProfile, fields: dict, at: datetime) -> list[str]:
        rng = self.rng
        out: list[str] = []
        missing, weights = profile.missing, profile.missing_weights
        single = missing[0] if len(missing) == 1 else None
        lower, space = profile.code_lower, profile.code_space
        dmy = profile.dmy
        for name, kind in _LAYOUT[rec.table]:
            v = at if name == "updated_at" else fields.get(name)
            if v is None or v == "":
                out.append(single if single is not None else rng.choices(missing, weights)[0])
                continue
            if isinstance(v, Raw):
                if v == BAD_DATE:
                    y = rec.when.year
                    v = f"31/02/{y}" if dmy else f"{y}-02-31"
                    if kind == 3:
                        v += "T10:15:00" if profile.iso_datetime else " 10:15"
                out.append(str(v))
                continue
            if kind == 0:
                out.append(v)
            elif kind == 1:
                r = rng.random()
                if r < lower:
                    v = v.lower()
                elif r < lower + space:
                    v = rng.choice((f" {v} ", f"{v} ", f" {v}"))
                out.append(v)
            elif kind == 2:
                out.append(fmt_date(v, dmy))
            elif kind == 3:
                out.append(fmt_datetime(v, profile))
            elif kind == 4:
                out.append(str(v))
            else:
                out.append(v.lower() if rng.random() < lower / 2 else v)
        return out

    def emit(self, rec: Rec, truth: csv.writer) -> None:
        if not rec.versions:
            return
        world = self.world
        per_window: dict[int, tuple[datetime, dict]] = {}
        for at, fields in rec.versions:
            per_window[world.window_of(at.date())] = (at, fields)
        profile = PROFILES[rec.source]
        ident, identified = self.render_identity(rec, profile)
        for k in sorted(per_window):
            at, fields = per_window[k]
            row = self.format_row(rec, profile, {**fields, **ident}, at)
            f = self.files[(rec.source, k, rec.table)]
            f.add(row)
            if self.dup_p and self.rng.random() < self.dup_p:
                f.add(list(row))
                self.log.append({"fault": "duplicate_rows", "drop": self.drop_name(rec.source, k),
                                 "file": f"{rec.table}.csv", "record_ref": rec.ref})
        if rec.kind == "bad":
            k = max(per_window)
            self.log.append({"fault": "bad_rows", "drop": self.drop_name(rec.source, k), "file": f"{rec.table}.csv",
                             "record_ref": rec.ref, "kind": rec.meta.get("bad_kind", "")})
            return
        if rec.kind == "deleted_duplicate":
            k = max(per_window)
            self.log.append({"fault": "deleted_record", "drop": self.drop_name(rec.source, k),
                             "file": f"{rec.table}.csv", "record_ref": rec.ref})
        good = [k for k in per_window if not self.broken(rec.source, k)]
        if not good:
            return
        if per_window[max(good)][1].get("record_status") == "DELETED":
            return
        for role, person in identified:
            truth.writerow((rec.source, rec.table, rec.ref, role, person.tid))

    # -- closing
    MIN_DUPLICATES = 3

    def close(self) -> dict:
        if self.dup_p:
            # small runs: make sure the fault is there at least a few times
            have = sum(1 for e in self.log if e["fault"] == "duplicate_rows")
            pending = [key for key in sorted(self.files) if self.files[key].rows]
            while have < self.MIN_DUPLICATES and pending:
                key = pending.pop(self.rng.randrange(len(pending)))
                f = self.files[key]
                row = self.rng.choice(f.rows)
                f.add(list(row))
                ref = row[[c.name for c in TABLES[key[2]].columns].index(TABLES[key[2]].ref_column)]
                self.log.append({"fault": "duplicate_rows", "drop": self.drop_name(key[0], key[1]),
                                 "file": f"{key[2]}.csv", "record_ref": ref})
                have += 1
        for f in self.files.values():
            f.close()
        result: dict = {"drops": [], "rows_by_table": {}, "truncated": None, "drift": None}
        manifests: dict[str, dict] = {}
        for source, profile in PROFILES.items():
            for k in range(self.weeks + 1):
                name = self.drop_name(source, k)
                files = []
                for table in AGENCY_TABLES[profile.agency]:
                    f = self.files[(source, k, table)]
                    files.append({"name": f"{table}.csv", "rows": f.count, "sha256": f.sha.hexdigest()})
                    result["rows_by_table"][table] = result["rows_by_table"].get(table, 0) + f.count
                manifests[name] = {"source_id": source, "agency": profile.agency,
                                   "extract_date": self.extract[k].isoformat(), "schema_version": 1,
                                   "encoding": profile.encoding, "date_format": profile.date_format, "files": files}
        for name, manifest in manifests.items():
            (self.out_dir / name / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        result["drops"] = sorted(manifests)
        if "truncated_drop" in self.faults and self.weeks >= 1:
            cands = [(s, k) for s in POLICE_SOURCES for k in range(1, self.weeks + 1) if not self.broken(s, k)]
            if cands:
                # the weekly police drop with the most crimes rows (ties: first)
                source, k = max(cands, key=lambda sk: self.files[(sk[0], sk[1], "crimes")].count)
                name = self.drop_name(source, k)
                src_dir = self.out_dir / name
                red = self.out_dir / f"{name}_redelivery"
                shutil.copytree(src_dir, red)
                f = self.files[(source, k, "crimes")]
                data = f.path.read_bytes()
                cut = max(1, int(len(data) * 0.62))
                if data[cut - 1:cut] in (b"\n",):  # make sure the cut lands mid-line
                    cut -= 3
                f.path.write_bytes(data[:cut])
                result["drops"] = sorted(result["drops"] + [red.name])
                for table in AGENCY_TABLES["police"]:
                    ff = self.files[(source, k, table)]
                    result["rows_by_table"][table] += ff.count
                result["truncated"] = {"fault": "truncated_drop", "drop": name, "file": "crimes.csv",
                                       "manifest_rows": f.count, "redelivery": red.name}
        if self.drift is not None:
            result["drift"] = {"fault": "schema_drift", "drop": self.drop_name(*self.drift), "file": "crimes.csv",
                               "renamed": {DRIFT_RENAME[0]: DRIFT_RENAME[1]}}
        return result
