"""Source profiles: what the pipeline knows about each agency source.

A new force or service is onboarded by adding one YAML file to
``connectors/profiles/`` (no code): its ``source_id``, ``agency`` and, when a
system upgrade renames a column, a ``column_renames`` entry mapping the
delivered name to the contract name. A source that does not hold an optional
column and sends columns of its own lists it under ``absent_columns``: a
file that lacks a column while it has one the contract does not know is
otherwise rejected, since that is how a renamed column looks
(:meth:`connectors.reader.TableReader._map_header`). A rename holds in
every file of the source, or, nested under a file's name
(``orders.csv: {ref: order_ref}``), in that file only. A source whose system
writes its own values for a coded column (``Female`` for ``F``,
``Ex-partner`` for ``EX_PARTNER``) maps them under ``value_maps``, column by
column, onto the contract's codes: read in any case and spacing, as codes
are; a value the map does not name is checked as it is.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from connectors.code_lists import load_code_lists
from connectors.contracts import AGENCY_TABLES, TABLES, Column, ColumnType
from connectors.normalise import normalise_code

log = logging.getLogger(__name__)

#: The profiles shipped with the product; ``$MASIP_PROFILES_DIR`` points a deployment at its own.
PROFILES_DIR = Path(__file__).parent / "profiles"
PROFILES_DIR_ENV = "MASIP_PROFILES_DIR"


@dataclass(frozen=True)
class SourceProfile:
    source_id: str
    agency: str
    description: str = ""
    force: str | None = None
    column_renames: dict[str, str] = field(default_factory=dict)  # in every file of the source
    #: file (table name) → renames in that file only, which win over ``column_renames`` there
    file_renames: dict[str, dict[str, str]] = field(default_factory=dict)
    absent_columns: frozenset[str] = frozenset()
    #: contract column → {delivered value, as :func:`normalise_code` reads it → the contract's code}
    value_maps: dict[str, dict[str, str]] = field(default_factory=dict)

    def renames_in(self, table: str) -> dict[str, str]:
        """Delivered column name → contract name, in the source's ``table`` file."""
        return {**self.column_renames, **self.file_renames.get(table, {})}


#: The keys a profile file may have: the fields of :class:`SourceProfile` (``column_renames`` holds the per-file
#: renames too).
_KEYS = tuple(f.name for f in fields(SourceProfile) if f.name != "file_renames")


class ProfileError(ValueError):
    """A profile file is malformed."""


class Profiles(dict[str, SourceProfile]):
    """The profiles that could be read, by source_id, and ``broken``: the files that could not, by the source_id
    their name gives, with what is wrong. A broken file stops only its own source's drops."""

    def __init__(self, profiles: dict[str, SourceProfile], broken: dict[str, str]) -> None:
        super().__init__(profiles)
        self.broken = broken

    @property
    def source_ids(self) -> frozenset[str]:
        """Every source with a profile file, a broken one's included: its drops are found, to be rejected with
        the profile's problem, and its ingest DAG stays."""
        return frozenset(self) | frozenset(self.broken)


def profiles_dir() -> Path:
    """Where the profiles are: ``$MASIP_PROFILES_DIR``, else :data:`PROFILES_DIR`."""
    return Path(os.environ.get(PROFILES_DIR_ENV) or PROFILES_DIR)


def profile_path(source_id: str) -> Path:
    """The profile file of ``source_id``."""
    return profiles_dir() / f"{source_id}.yaml"


def onboarding_advice() -> str:
    """How a new source is onboarded, naming the folder this run reads its profiles from."""
    return (f"add {profile_path('<source_id>')} (the profiles folder this run reads; see "
            f"{PROFILES_DIR / 'police-cheshire.yaml'} for the format)")


def load_profiles(directory: Path | None = None) -> Profiles:
    """Every profile in ``directory`` (default :func:`profiles_dir`), keyed by source_id.

    A file that is not a valid profile (not YAML, a key missing, unknown or of the wrong type, a column that is
    not the agency's) is left out and named in ``broken`` with its problem, and logged: the other sources'
    drops are read as usual.
    """
    profiles: dict[str, SourceProfile] = {}
    broken: dict[str, str] = {}
    for path in sorted((directory or profiles_dir()).glob("*.yaml")):
        try:
            profile = _profile(path)
        except ProfileError as error:
            broken[path.stem] = str(error)
            log.warning("%s", error)
            continue
        profiles[profile.source_id] = profile
    return Profiles(profiles, broken)


#: A profile is a few lines; a larger file is not one.
MAX_PROFILE_BYTES = 1_000_000


def _profile_text(path: Path, fix: str) -> str:
    """The text of ``path``, a regular file, opened without waiting (a named pipe would block the run for ever)."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise ProfileError(f"profile {path} cannot be read ({error.strerror}): {fix}") from None
    status = os.fstat(handle)
    if not stat.S_ISREG(status.st_mode):
        os.close(handle)
        raise ProfileError(f"profile {path} is not a file (a folder, a named FIFO or a device): {fix}")
    with os.fdopen(handle, "rb") as file:
        if status.st_size > MAX_PROFILE_BYTES:
            raise ProfileError(f"profile {path} is over {MAX_PROFILE_BYTES:,} bytes, so not a profile: {fix}")
        try:
            return file.read(MAX_PROFILE_BYTES + 1).decode("utf-8")
        except OSError as error:
            raise ProfileError(f"profile {path} cannot be read ({error.strerror}): {fix}") from None


def _profile(path: Path) -> SourceProfile:
    """The profile in ``path``; raises :class:`ProfileError` saying what is wrong and what to do."""
    fix = f"fix {path} (see {PROFILES_DIR / 'police-cheshire.yaml'} for the format) and re-run"
    try:
        data = yaml.safe_load(_profile_text(path, fix))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ProfileError(f"profile {path} is not valid YAML{line}: {fix}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path} is not a mapping of keys to values: {fix}")
    unknown = sorted(str(key) for key in data if key not in _KEYS)
    missing = [key for key in ("source_id", "agency") if key not in data]
    if unknown or missing:
        raise ProfileError(
            f"profile {path}: " + "; ".join(
                ([f"unknown key(s) {unknown} (the keys are {list(_KEYS)})"] if unknown else [])
                + ([f"missing key(s) {missing}"] if missing else [])
            ) + f": {fix}"
        )
    source_id, agency = data["source_id"], data["agency"]
    if source_id != path.stem:
        raise ProfileError(f"profile {path}: source_id must be the file's name, {path.stem!r}: {fix}")
    if agency not in AGENCY_TABLES:
        raise ProfileError(f"profile {path}: agency must be one of {sorted(AGENCY_TABLES)}: {fix}")
    for key in ("description", "force"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ProfileError(f"profile {path}: {key} must be text: {fix}")
    columns = {column.name: column for table in AGENCY_TABLES[agency] for column in TABLES[table].columns}
    everywhere, per_file = _renames(path, data.get("column_renames"), agency, fix)
    return SourceProfile(
        source_id=source_id, agency=agency, description=data.get("description") or "", force=data.get("force"),
        column_renames=everywhere, file_renames=per_file,
        absent_columns=_absent_columns(path, data.get("absent_columns"), columns, fix),
        value_maps=_value_maps(path, data.get("value_maps"), agency, fix),
    )


def _renames(path: Path, renames: Any, agency: str, fix: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``column_renames``: delivered name → contract name in every file, or file → such renames in that file only."""
    renames = renames or {}
    shape = (f"profile {path}: column_renames must map delivered column names to contract names, in every file "
             "({crime_no: crime_ref}) or in one file ({orders.csv: {ref: order_ref}}): " + fix)
    if not isinstance(renames, dict) or not all(isinstance(key, str) for key in renames):
        raise ProfileError(shape)
    files = {table: {c.name for c in TABLES[table].columns} for table in AGENCY_TABLES[agency]}
    everywhere: dict[str, str] = {}
    per_file: dict[str, dict[str, str]] = {}
    for key, value in renames.items():
        if isinstance(value, str):
            everywhere[key] = value
            continue
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ProfileError(shape)
        table = key.removesuffix(".csv")
        if table not in files:
            raise ProfileError(f"profile {path}: column_renames names the file {key!r}, not one of the agency's "
                               f"files {[f'{t}.csv' for t in files]}: {fix}")
        per_file[table] = dict(value)
    strange = sorted({target for target in everywhere.values() if not any(target in c for c in files.values())}
                     | {target for table, names in per_file.items() for target in names.values()
                        if target not in files[table]})
    if strange:
        raise ProfileError(f"profile {path}: column_renames maps to {strange}, not columns of the agency's files "
                           f"(or of the file named): {fix}")
    return everywhere, per_file


def _absent_columns(path: Path, absent: Any, columns: dict[str, Any], fix: str) -> frozenset[str]:
    absent = absent or []
    if not isinstance(absent, list) or not all(isinstance(name, str) for name in absent):
        raise ProfileError(f"profile {path}: absent_columns must be a list of column names: {fix}")
    strange = sorted(name for name in absent if name not in columns)
    required = sorted(name for name in absent if name in columns and columns[name].required)
    if strange or required:
        problems = ([f"{strange} are not columns of the agency's files"] if strange else []) + (
            [f"{required} are required, so a file without them is rejected whatever the profile says"] if required else [])
        raise ProfileError(f"profile {path}: absent_columns {'; '.join(problems)}: {fix}")
    return frozenset(absent)


def _value_maps(path: Path, maps: Any, agency: str, fix: str) -> dict[str, dict[str, str]]:
    """``value_maps`` checked: each a coded column of the agency's files, each value mapped to a code of its list."""
    if not maps:
        return {}
    shape = (f"profile {path}: value_maps must map each coded column to its delivered values and their contract "
             "codes, e.g. {relationship: {Ex-partner: EX_PARTNER}}; write values YAML reads as true/false (Yes, No, On, "
             f"Off) in quotes: {fix}")
    if not isinstance(maps, dict) or not all(
        isinstance(column, str) and isinstance(values, dict)
        and all(isinstance(v, str | int) and not isinstance(v, bool) for pair in values.items() for v in pair)
        for column, values in maps.items()
    ):
        raise ProfileError(shape)
    coded: dict[str, list[Column]] = {}
    for table in AGENCY_TABLES[agency]:
        for column in TABLES[table].columns:
            if column.type in (ColumnType.CODE, ColumnType.CODE_SET, ColumnType.FORCE):
                coded.setdefault(column.name, []).append(column)
    strange = sorted(column for column in maps if column not in coded)
    if strange:
        raise ProfileError(f"profile {path}: value_maps names {strange}, not coded columns of the agency's files "
                           f"(they are {sorted(coded)}): {fix}")
    code_lists = load_code_lists()
    checked: dict[str, dict[str, str]] = {}
    for column, values in maps.items():
        # a force's own short code is put as the force's canonical code (WYP: WEST_YORKSHIRE)
        allowed = frozenset.intersection(*(code_lists[c.code_list] for c in coded[column] if c.code_list))
        mapped: dict[str, str] = {}
        for delivered, code in values.items():
            delivered, code = normalise_code(str(delivered)), normalise_code(str(code))
            if code not in allowed:
                raise ProfileError(f"profile {path}: value_maps maps a value of {column} to {code!r}, which is not "
                                   f"in its code list {coded[column][0].code_list}: {fix}")
            if mapped.setdefault(delivered, code) != code:
                raise ProfileError(f"profile {path}: value_maps maps one value of {column} (in another case or "
                                   f"spacing) to both {mapped[delivered]!r} and {code!r}: {fix}")
        checked[column] = mapped
    return checked
