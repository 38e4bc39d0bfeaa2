"""The linkage vault: the only store that holds encodings of identifiers (SPEC §3 rule 7).

A folder of its own (by default ``vault/`` beside the warehouse; ``MASIP_VAULT_DIR``
or ``--vault`` elsewhere), mode 0700 with owner-only files:

* ``records.duckdb``, table ``person_encodings``: for every record role of every
  input row version, its keyed tokens and fuzzy-linkage encodings
  (:data:`connectors.raw_schema.PERSON_ENCODED_COLUMNS`; tokens are the
  64-bit integers the linkage compares, made so by ingest), the key version that
  made them, and the record-role keys that join it to ``raw.person_roles`` in
  the warehouse. Written by ingest only, append-only, one drop at a time.
* ``linkage.duckdb``: the linkage state (model, term frequencies, scored
  pairs; :mod:`masip.linkage.state_store`). The linkage stage writes a new one
  as ``linkage.candidate.duckdb``; it is published together with the
  warehouse candidate (:func:`masip.pipeline.publish_stage`).
* ``review.duckdb``: clerical review decisions (same person or not), keyed by
  record roles (:mod:`masip.linkage.review_store`). Written by ``masip review
  import`` only, read by every linkage run; not part of a build, so a
  discarded build, a retrain or a key rotation keeps it.

Data minimisation: each publication prunes ``person_encodings`` to what a
later build can read (:meth:`Vault.prune`): the encodings of record versions
the published warehouse has superseded, and of records deleted at source, are
deleted, and the file is rewritten once freed space reaches a quarter of it,
so their bytes do not linger on disk either.

Nobody who reads the marts opens this folder: dbt, the case pack and the
evaluation never do. Only ingest (which holds the key) writes it and only the
linkage stage (which needs no key: it compares tokens) reads it.

Crash consistency of ingest: a drop's vault rows are written and committed
first (deleting any rows of the same drop left by an earlier attempt), then
the warehouse transaction with its entity rows, roles and ``ops.loaded_drops``
row. A crash between the two leaves vault rows of a drop the warehouse does not
list as loaded: nothing reads them (the linkage reads only the roles of live
versions in the warehouse), and the next run loads the drop again, replacing
them. So a re-run always converges on one copy of each drop in both stores.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors.raw_schema import PERSON_ENCODED_COLUMNS
from pseudonymisation.encodings import ENCODING_VERSION
from pseudonymisation.keys import Keyring, create_secret_file

log = logging.getLogger(__name__)

VAULT_ENV = "MASIP_VAULT_DIR"
RECORDS_TABLE = "person_encodings"
META_TABLE = "vault_meta"  # name -> value: the encoding version and fingerprint of every row
META_COLUMNS = "name varchar primary key, value varchar"
#: The live record roles of a built warehouse: the only versions whose encodings the linkage reads.
LIVE_ROLES_RELATION = "intermediate.int_person_records"
#: The length of the vault's drop salt (:meth:`Vault.drop_salt`), and the purpose it is derived for.
DROP_SALT_BYTES = 32
DROP_SALT_PURPOSE = "drop-salt"
#: ``records.duckdb`` is rewritten when at least this share of its blocks is free (bytes of deleted rows).
COMPACT_FREE_SHARE = 0.25

#: ``person_encodings``: record-role keys, the drop they came in (for idempotent reloads), key version, encodings.
VAULT_RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_id", "varchar"),
    ("source_table", "varchar"),
    ("record_ref", "varchar"),
    ("role", "varchar"),
    ("version_id", "varchar"),
    ("drop_name", "varchar"),
    ("drop_sha256", "varchar"),
    ("key_version", "varchar"),
    *PERSON_ENCODED_COLUMNS,
)


#: Inside the vault: the landing copies key rotation decrypts (:attr:`Vault.plain_drops_dir`); ingest's hand-over
#: folders of a run (``connectors.handoff``); and where releases before 2026-12-05 decrypted for rotation.
PLAIN_DROPS_DIR = ".rotation-drops"
HANDOFF_PREFIX = ".handoff-"
OLD_PLAIN_DROPS_PREFIX = "masip-rotate-"

#: Vault columns of tokens and of token lists (64-bit integers, :func:`pseudonymisation.prf.leading_int64`).
VAULT_TOKEN_COLUMNS = tuple(name for name, sql_type in PERSON_ENCODED_COLUMNS if sql_type == "bigint")
VAULT_TOKEN_LIST_COLUMNS = tuple(name for name, sql_type in PERSON_ENCODED_COLUMNS if sql_type == "bigint[]")


def _token_integer_sql(column: str) -> str:
    """SQL of one hex token as the integer ingest now makes of it (for vaults written before it did)."""
    digits = f"lpad(left({column}, 16), 16, '0')"
    # in two exact 32-bit halves: DuckDB reads a longer hex string through a double
    unsigned = f"(('0x' || left({digits}, 8))::bigint::hugeint * 4294967296 + ('0x' || right({digits}, 8))::bigint)"
    return (
        f"case when {column} is null or {column} = '' then null else "
        f"({unsigned} - case when {unsigned} >= 9223372036854775808 then 18446744073709551616 else 0 end)::bigint end"
    )


def _store_tokens_as_integers(con: duckdb.DuckDBPyConnection) -> None:
    """Convert the hex token columns of a vault written before tokens were stored as integers, in place."""
    types = dict(con.execute(
        "select column_name, data_type from information_schema.columns where table_name = ?", [RECORDS_TABLE]
    ).fetchall())
    old = [c for c in (*VAULT_TOKEN_COLUMNS, *VAULT_TOKEN_LIST_COLUMNS) if types.get(c, "").startswith("VARCHAR")]
    if not old:
        return
    log.info("vault: storing the tokens of %d columns as 64-bit integers (once, for a vault of an older release)", len(old))
    con.execute("begin transaction")
    try:
        for column in old:
            converted = (
                _token_integer_sql(column) if column in VAULT_TOKEN_COLUMNS
                else f"list_sort(list_transform({column}, lambda token: {_token_integer_sql('token')}))"
            )
            con.execute(
                f"alter table {RECORDS_TABLE} alter {column} set data type "
                f"{'bigint' if column in VAULT_TOKEN_COLUMNS else 'bigint[]'} using {converted}"
            )
        con.execute("commit")
    except duckdb.Error as error:
        con.execute("rollback")
        if not isinstance(error, (duckdb.ConversionException, duckdb.InvalidInputException)):
            raise
        raise KeyVersionMismatch(
            "the linkage vault holds tokens that are not the hex digests ingest writes: it was not written by this "
            "pipeline's ingest, or it is damaged. Restore it from a backup, or rebuild the warehouse and the vault "
            "from the landing copies (README, key rotation)."
        ) from None


class KeyVersionMismatch(RuntimeError):
    """The vault holds tokens made with another key; mixing them would silently break linkage."""


class WrongVault(RuntimeError):
    """A warehouse with loaded drops has no vault, or another warehouse's, where ingest would write: a wrong
    ``--vault``, or a lost vault."""


def default_vault_dir(warehouse: Path) -> Path:
    """The vault lives beside the warehouse unless configured otherwise."""
    return warehouse.parent / "vault"


@dataclass(frozen=True)
class Vault:
    """The vault folder and its files (see module docstring)."""

    directory: Path

    @classmethod
    def for_warehouse(cls, warehouse: Path, configured: Path | None = None) -> Vault:
        """``configured`` (``--vault``), else ``$MASIP_VAULT_DIR``, else ``vault/`` beside ``warehouse``."""
        env = os.environ.get(VAULT_ENV, "").strip()
        vault = cls(Path(configured) if configured else Path(env) if env else default_vault_dir(warehouse))
        folder, directory = warehouse.parent.resolve(), vault.directory.resolve()
        if directory == folder or directory in folder.parents:
            # its tokens and filters would lie where the warehouse's readers look, and protect() would shut them out
            raise WrongVault(
                f"the linkage vault {vault.directory} is the warehouse's folder, or a folder holding it: the vault "
                "keeps every encoding of an identifier and must be a folder of its own, apart from what analysts "
                f"read. What to do: pass --vault (or set {VAULT_ENV}) a folder of its own, such as "
                f"{default_vault_dir(warehouse)}, then re-run"
            )
        return vault

    @property
    def drop_salt_path(self) -> Path:
        """The drop salt (:meth:`drop_salt`)."""
        return self.directory / "drop-salt"

    def drop_salt(self, keyring: Keyring | None = None) -> bytes | None:
        """The 32 bytes deliveries' digests are keyed with (:func:`connectors.manifest.manifest_digest`).

        Made by the vault's first ingest from its ``keyring`` (a purpose key: one-way, so the file reveals nothing
        of the secret, and two ingests of one drop under one key give the same ids), then kept: a rotation carries
        it to the new vault, so a delivery's digest and its rows' ``version_id`` stay what they are under every
        key, and the keyless drop sensor reads it. None for a vault made before the salt (its deliveries keep
        their plain digests), or no vault yet and no ``keyring``."""
        if self.drop_salt_path.is_file():
            salt = self.drop_salt_path.read_bytes()
            if len(salt) != DROP_SALT_BYTES:
                raise WrongVault(
                    f"the vault's drop salt {self.drop_salt_path} is not {DROP_SALT_BYTES} bytes: it was changed or "
                    "cut short. What to do: restore the vault folder from backup; without it no delivery already "
                    "loaded is recognised (every one would load again)"
                )
            return salt
        if keyring is None or self.records_path.is_file():  # a vault from before the salt keeps its plain digests
            return None
        self.create()
        salt = keyring.purpose_key(DROP_SALT_PURPOSE)
        create_secret_file(self.drop_salt_path, salt)
        return salt

    def carry_kept_files(self, side: Vault) -> None:
        """Copy what a rebuild keeps into ``side`` (a rotation's rebuilt vault): the clerical review decisions
        (keyed by agency references, not by key) and the drop salt (so deliveries keep their digests and their
        rows' ``version_id``)."""
        kept = [path for path in (self.decisions_path, self.drop_salt_path) if path.is_file()]
        if kept:
            side.create()
            for path in kept:
                shutil.copyfile(path, side.directory / path.name)
            side.protect()

    @property
    def holds_stores(self) -> bool:
        """Whether the folder holds a store of a vault (so it is one, and no output belongs in it)."""
        return any(path.is_file() for path in (self.records_path, self.state_path, self.decisions_path))

    @property
    def records_path(self) -> Path:
        return self.directory / "records.duckdb"

    @property
    def state_path(self) -> Path:
        return self.directory / "linkage.duckdb"

    @property
    def decisions_path(self) -> Path:
        """Clerical review decisions (:mod:`masip.linkage.review_store`)."""
        return self.directory / "review.duckdb"

    @property
    def state_candidate_path(self) -> Path:
        return self.directory / "linkage.candidate.duckdb"

    @property
    def plain_drops_dir(self) -> Path:
        """Where key rotation decrypts the landing copies: owner-only, inside the vault, at a fixed place that
        every later run looks at (:meth:`remove_leftovers`), never the system's temporary folder."""
        return self.directory / PLAIN_DROPS_DIR

    def remove_leftovers(self, reading: Iterable[Path] = ()) -> list[str]:
        """Delete what an interrupted process left: the drops a key rotation or a re-read decrypted (plain text,
        here or, from releases before 2026-12-05, in the system's temporary folder) and ingest's hand-over files
        (encodings); not the decrypted drops this process is ``reading`` (``masip reread``: folders inside the
        plain-text folder). Returns a warning for the operator for each plain-text folder deleted."""
        plain = self.plain_drops_dir.resolve()
        in_use = any(plain == path.resolve() or plain in path.resolve().parents for path in reading)
        stale_plain = [self.plain_drops_dir] if self.plain_drops_dir.exists() and not in_use else []
        stale_plain += [p for p in Path(tempfile.gettempdir()).glob(f"{OLD_PLAIN_DROPS_PREFIX}*")
                        if p.is_dir() and p.stat().st_uid == os.getuid()]
        for folder in [*stale_plain, *self.directory.glob(f"{HANDOFF_PREFIX}*")]:
            shutil.rmtree(folder, ignore_errors=True)
        return [
            f"deleted {folder}: the landing copies an interrupted key rotation had decrypted there, in plain text. "
            "What to do: nothing more for the files; if a rotation was interrupted, run `masip rotate-key` again."
            for folder in stale_plain
        ]

    def create(self) -> Vault:
        """Make the folder (owner-only) if it does not exist; tighten it if it does."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        return self

    def protect(self) -> None:
        """Every file in the vault readable and writable by its owner only (DuckDB creates them 0644)."""
        for path in self.directory.rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # ingest's hand-over files come and go meanwhile
                if path.is_file():
                    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
                elif path.is_dir():
                    path.chmod(0o700)

    def require_records(self) -> Path:
        """``records.duckdb``, which must exist (raises :class:`FileNotFoundError` saying what to do)."""
        if not self.records_path.is_file():
            raise FileNotFoundError(
                f"no vault records at {self.records_path}: run the ingest first, or point --vault / "
                f"{VAULT_ENV} at the vault this warehouse was built with"
            )
        return self.records_path

    def check_belongs_to(self, warehouse: Path, loaded: set[tuple[str, str]]) -> None:
        """Refuse (:class:`WrongVault`) to write the drops of ``warehouse``, which has ``loaded`` (drop name, manifest
        checksum), into a vault that is missing (a new vault there would leave the earlier records without
        encodings for good) or holds none of them (another warehouse's vault)."""
        if not loaded:
            return
        if not self.records_path.is_file():
            found = "there is no linkage vault at"
        else:
            with duckdb.connect(str(self.records_path), read_only=True) as con:
                held = set(con.execute(f"select distinct drop_name, drop_sha256 from {RECORDS_TABLE}").fetchall())
            if not held or held & loaded:
                return
            found = "none of them is in the linkage vault at"
        raise WrongVault(
            f"the warehouse {warehouse} has {len(loaded)} loaded drop(s), but {found} {self.directory}: --vault or "
            f"{VAULT_ENV} points at the wrong folder, or the vault was lost. Nothing was loaded. What to do: point "
            "--vault (or MASIP_VAULT_DIR) at the vault built with this warehouse; if it is lost, rebuild the "
            "warehouse and the vault from the landing copies (README, key rotation)."
        )

    def open_records(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection to ``records.duckdb`` (created, with its table, unless ``read_only``)."""
        if read_only:
            return duckdb.connect(str(self.require_records()), read_only=True)
        self.create()
        con = duckdb.connect(str(self.records_path))
        body = ", ".join(f"{name} {sql_type}" for name, sql_type in VAULT_RECORD_COLUMNS)
        con.execute(f"create table if not exists {RECORDS_TABLE} ({body})")
        _store_tokens_as_integers(con)
        self.protect()
        return con

    @staticmethod
    def check_encodings(con: duckdb.DuckDBPyConnection, key_version: str, fingerprint: str) -> None:
        """Refuse to add encodings that would not compare with the vault's: another key's tokens, another encoding
        version's (:data:`pseudonymisation.encodings.ENCODING_VERSION`), or encodings of the same version made
        by other normalisers (``fingerprint``: :func:`connectors.encoding_fingerprint.encoding_fingerprint`).
        Any of them would silently break linkage."""
        con.execute(f"create table if not exists {META_TABLE} ({META_COLUMNS})")
        stored = dict(con.execute(f"select name, value from {META_TABLE}").fetchall())
        has_rows = con.execute(f"select count(*) > 0 from {RECORDS_TABLE}").fetchone()[0]
        if has_rows and stored.get("encoding_version") != ENCODING_VERSION:
            raise KeyVersionMismatch(
                f"the linkage vault holds encodings of version {stored.get('encoding_version', 'v2 or older')}, but "
                f"this release writes {ENCODING_VERSION}; they cannot be compared. Rebuild warehouse and vault from "
                "the landing copies (see README, key rotation), or move both aside and deliver the drops again."
            )
        # a fingerprint is `<corpus>:<digest>` (connectors.encoding_fingerprint); a vault written before they were
        # recorded, or under another corpus, takes this release's: it cannot be checked this once
        held = stored.get("encoding_fingerprint", fingerprint)
        if has_rows and held.split(":")[0] == fingerprint.split(":")[0] and held != fingerprint:
            raise KeyVersionMismatch(
                f"the linkage vault holds encodings of version {ENCODING_VERSION} made by a release that cleans, "
                "normalises or encodes identifiers differently from this one (its encoding fingerprint differs: "
                "a changed normaliser, nickname list or transliteration library); new records would never link "
                "with the vault's. Nothing was loaded. Either go back to the release (and its locked "
                "dependencies) that built the vault, or rebuild warehouse and vault from the landing copies with "
                "this release (see README, key rotation); the release should also have raised ENCODING_VERSION."
            )
        con.executemany(
            f"insert or replace into {META_TABLE} values (?, ?)",
            [("encoding_version", ENCODING_VERSION), ("encoding_fingerprint", fingerprint)],
        )
        versions = [v for (v,) in con.execute(f"select distinct key_version from {RECORDS_TABLE}").fetchall()]
        foreign = [v for v in versions if v != key_version]
        if foreign:
            raise KeyVersionMismatch(
                f"the linkage vault holds tokens made with key {foreign[0]}, but this run's key is {key_version}. "
                "Use the partnership key the vault was built with, or rebuild warehouse and vault from the "
                "landing copies under the new key (see README, key rotation)."
            )

    def check_drop_salt(self, con: duckdb.DuckDBPyConnection, salted: bool) -> None:
        """Refuse to go on without the drop salt in a vault that had one: every delivery already loaded would be
        taken for a new one (its digest would change) and loaded again. A vault records that it has a salt on its
        first ingest with one; a vault from before the salt (``salted`` False, nothing recorded) goes on."""
        if salted:
            con.execute(f"insert or replace into {META_TABLE} values ('drop_digests', 'keyed')")
        elif con.execute(f"select count(*) from {META_TABLE} where name = 'drop_digests'").fetchone()[0]:
            raise WrongVault(
                f"the vault's drop salt {self.drop_salt_path} is missing, but its deliveries were known by digests "
                "keyed with it; without it every delivery already loaded would load again. Nothing was loaded. What "
                "to do: restore the vault folder (the file drop-salt) from backup, then re-run"
            )

    def write_drop(
        self, con: duckdb.DuckDBPyConnection, drop_name: str, drop_sha256: str, batches: list[pa.Table]
    ) -> None:
        """Replace the vault rows of one drop with ``batches``, in one transaction (idempotent)."""
        con.execute("begin transaction")
        try:
            con.execute(f"delete from {RECORDS_TABLE} where drop_name = ? and drop_sha256 = ?", [drop_name, drop_sha256])
            for batch in batches:
                rows = batch.num_rows
                batch = batch.append_column("drop_name", pa.array([drop_name] * rows, pa.string()))
                batch = batch.append_column("drop_sha256", pa.array([drop_sha256] * rows, pa.string()))
                con.register("vault_batch", batch.select([name for name, _ in VAULT_RECORD_COLUMNS]))
                try:
                    con.execute(f"insert into {RECORDS_TABLE} by name select * from vault_batch")
                finally:
                    con.unregister("vault_batch")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        self.protect()

    def prune(self, warehouse: Path) -> int:
        """Delete the encodings no later build reads; returns how many rows went.

        A row goes when its drop is loaded in ``warehouse`` (a published build)
        and its record version is not a live role there
        (:data:`LIVE_ROLES_RELATION`): a later version superseded it, or the
        record was deleted at source. Raw versions are append-only and the
        version rule is a fixed order, so a superseded version never becomes
        live again, and a ``--full-refresh`` reads exactly the live ones. Rows
        of drops the warehouse has not loaded (an ingest that stopped between
        the two stores) are left for that drop's reload. Once a quarter of the
        file is free space, the file is rewritten (:meth:`_compact`), so the
        deleted rows' bytes do not stay on disk. Run under the warehouse lock:
        ingest must not write the vault meanwhile.
        """
        if not self.records_path.is_file():
            return 0
        from masip.warehouse import attach_read_only

        with duckdb.connect(str(self.records_path)) as con:
            attach_read_only(con, warehouse, "warehouse")
            con.execute("begin transaction")
            pruned = con.execute(f"""
                delete from {RECORDS_TABLE} as encodings
                where exists (
                    select 1 from warehouse.ops.loaded_drops as loaded
                    where loaded.drop_name = encodings.drop_name and loaded.drop_sha256 = encodings.drop_sha256
                )
                and not exists (
                    select 1 from warehouse.{LIVE_ROLES_RELATION} as live
                    where live.source_table = encodings.source_table
                        and live.version_id = encodings.version_id
                        and live.role = encodings.role
                )
            """).fetchone()[0]
            con.execute("commit")
            con.execute("detach warehouse")
            con.execute("checkpoint")
            total, free = con.execute("select total_blocks, free_blocks from pragma_database_size()").fetchone()
        if total and free / total >= COMPACT_FREE_SHARE:
            self._compact()
        self.protect()
        if pruned:
            log.info("vault: removed the encodings of %d superseded or deleted record versions", pruned)
        return int(pruned)

    def _compact(self) -> None:
        """Rewrite ``records.duckdb`` with its live rows only, then swap it in (a crash leaves the old file)."""
        from masip.warehouse import attach_read_only, replace_database

        compacted = self.records_path.with_name("records.compacting.duckdb")
        compacted.unlink(missing_ok=True)
        with duckdb.connect(str(compacted)) as con:
            attach_read_only(con, self.records_path, "old")
            con.execute(f"create table {RECORDS_TABLE} as select * from old.{RECORDS_TABLE}")
            con.execute(f"create table {META_TABLE} ({META_COLUMNS})")
            con.execute(f"insert into {META_TABLE} select * from old.{META_TABLE}")
            con.execute("detach old")
        compacted.chmod(stat.S_IRUSR | stat.S_IWUSR)
        replace_database(compacted, self.records_path)
