"""Encrypted landing copies of loaded drops (SPEC §3.1), their retention, and re-keying.

The plain drops hold names and dates of birth, so the pipeline keeps them only
as AES-GCM encrypted archives under a key derived from the partnership secret
(purpose ``landing/aes-gcm``). They exist so that the warehouse can be rebuilt
(after a key rotation, or a fix to a model) without asking every agency to
re-send a year of extracts; they are deleted once older than the retention
period.

Archive layout: 4-byte big-endian header length, a JSON header (drop name,
manifest checksum, extract date, key version), a 12-byte nonce, then the
AES-GCM ciphertext of an uncompressed tar of the drop's files. The header is
authenticated as associated data, so it cannot be edited unnoticed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pseudonymisation.keys import Keyring

SUFFIX = ".masip-landing"
RETENTION_ENV = "MASIP_LANDING_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 400  # a financial year of weekly drops plus a quarter for late corrections


class DropChangedError(Exception):
    """A drop's file (the argument: its name) was moved away or rewritten after ingest had read it."""


class LandingArchiveError(RuntimeError):
    """An archive cannot be read with the key at hand (wrong key, or tampered with)."""


@dataclass(frozen=True)
class ArchiveHeader:
    drop_name: str
    drop_sha256: str
    extract_date: date
    key_version: str

    def to_bytes(self) -> bytes:
        return json.dumps(
            {"drop_name": self.drop_name, "drop_sha256": self.drop_sha256,
             "extract_date": self.extract_date.isoformat(), "key_version": self.key_version},
            sort_keys=True,
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ArchiveHeader:
        data = json.loads(raw)
        return cls(data["drop_name"], data["drop_sha256"], date.fromisoformat(data["extract_date"]), data["key_version"])


def archive_name(drop_name: str, drop_sha256: str) -> str:
    """The file name of a drop's encrypted landing copy."""
    return f"{drop_name}--{drop_sha256[:16]}{SUFFIX}"


def missing_copies(
    directory: Path, loaded: Iterable[tuple[str, str, date]], retention_days: int, today: date
) -> list[str]:
    """Names of loaded drops (name, manifest checksum, extract date) within retention whose copy is missing.

    Needs no key: it only looks for the files. Copies past retention are deleted on purpose, so they are not
    missing.
    """
    cutoff = today - timedelta(days=retention_days)
    return sorted(
        name for name, sha, extract_date in loaded
        if extract_date >= cutoff and not (directory / archive_name(name, sha)).is_file()
    )


class LandingArchive:
    """A folder of encrypted drop archives, all under one partnership key."""

    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self.keyring = keyring
        self._aead = AESGCM(keyring.purpose_key("landing/aes-gcm"))

    def path_for(self, drop_name: str, drop_sha256: str) -> Path:
        return self.directory / archive_name(drop_name, drop_sha256)

    def store(
        self, drop_dir: Path, file_names: list[str], drop_sha256: str, extract_date: date,
        as_read: Callable[[str, bytes], bool],
    ) -> Path:
        """Encrypt the drop's manifest and files into one archive; returns its path.

        ``as_read(name, content)`` says whether a file is still what ingest verified and read: the files are read
        again here, and a drop moved away or rewritten in between raises :class:`DropChangedError` (the copy
        must hold what was loaded, or a rotation would rebuild other rows)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name in ["manifest.json", *file_names]:
                try:
                    content = (drop_dir / name).read_bytes()
                except (FileNotFoundError, NotADirectoryError):
                    raise DropChangedError(name) from None
                if not as_read(name, content):
                    raise DropChangedError(name)
                entry = tarfile.TarInfo(name)
                entry.size, entry.mode, entry.mtime = len(content), 0o600, int(time.time())
                tar.addfile(entry, io.BytesIO(content))
        header = ArchiveHeader(drop_dir.name, drop_sha256, extract_date, self.keyring.key_version)
        return self._write(header, buffer.getvalue())

    def _write(self, header: ArchiveHeader, plaintext: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        header_bytes = header.to_bytes()
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, plaintext, header_bytes)
        path = self.path_for(header.drop_name, header.drop_sha256)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(struct.pack(">I", len(header_bytes)) + header_bytes + nonce + ciphertext)
        partial.chmod(0o600)
        os.replace(partial, path)
        return path

    @staticmethod
    def read_header(path: Path) -> ArchiveHeader:
        with path.open("rb") as handle:
            (length,) = struct.unpack(">I", handle.read(4))
            return ArchiveHeader.from_bytes(handle.read(length))

    def _decrypt(self, path: Path) -> tuple[ArchiveHeader, bytes]:
        raw = path.read_bytes()
        (length,) = struct.unpack(">I", raw[:4])
        header_bytes = raw[4 : 4 + length]
        header = ArchiveHeader.from_bytes(header_bytes)
        nonce, ciphertext = raw[4 + length : 16 + length], raw[16 + length :]
        try:
            return header, self._aead.decrypt(nonce, ciphertext, header_bytes)
        except InvalidTag:
            raise LandingArchiveError(
                f"{path.name} was made with key {header.key_version} and cannot be opened with key "
                f"{self.keyring.key_version} (or it was altered). Use the key it was made with."
            ) from None

    def archives(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{SUFFIX}")) if self.directory.is_dir() else []

    def in_load_order(self, loaded: Iterable[tuple[str, str]]) -> list[Path]:
        """Every archive: those of the ``loaded`` drops (name and manifest checksum, in the order they loaded) in
        that order, then any other (a copy whose drop's load never committed) by file name."""
        present = self.archives()
        stored = set(present)
        ordered = [path for path in dict.fromkeys(self.path_for(*drop) for drop in loaded) if path in stored]
        others = stored.difference(ordered)
        return ordered + [path for path in present if path in others]

    def restore_all(self, target_dir: Path, paths: Iterable[Path] | None = None) -> list[Path]:
        """Decrypt every archive (or those at ``paths``, in that order) into a folder of its own; returns the drop
        folders in that order.

        A drop keeps its name, which ingest reads (source and extract date) and the warehouse keeps, inside a
        numbered folder: ``target_dir/<n>/<drop_name>/``, the n-th archive. Two deliveries under one name (a
        corrected re-delivery that reused its folder's name) are two drops, never one extracted over the other.
        Ingest reads the numbered folders (the drop folders' parents) in the order given
        (:func:`connectors.ingest.ingest_drops`), so the drops load in that order.

        The target holds plain identifiers: the caller (key rotation, a re-read) uses the
        vault's owner-only folder for them, which every later run clears
        (``connectors.vault.Vault.remove_leftovers``), and deletes it when done.
        """
        restored = []
        for number, path in enumerate(self.archives() if paths is None else paths, start=1):
            header, plaintext = self._decrypt(path)
            folder = target_dir / f"{number:06d}"
            folder.mkdir(parents=True, mode=0o700)
            drop_dir = folder / header.drop_name
            drop_dir.mkdir(mode=0o700)
            with tarfile.open(fileobj=io.BytesIO(plaintext), mode="r") as tar:
                tar.extractall(drop_dir, filter="data")
            restored.append(drop_dir)
        return restored

    def rekey(self, new_keyring: Keyring) -> LandingArchive:
        """Re-encrypt every archive under ``new_keyring``; returns the re-keyed archive."""
        target = LandingArchive(self.directory, new_keyring)
        for path in self.archives():
            header, plaintext = self._decrypt(path)
            target._write(
                ArchiveHeader(header.drop_name, header.drop_sha256, header.extract_date, new_keyring.key_version),
                plaintext,
            )
        return target

    def prune(self, retention_days: int, today: date) -> list[str]:
        """Delete archives whose extract date is more than ``retention_days`` before ``today``."""
        cutoff = today - timedelta(days=retention_days)
        removed = []
        for path in self.archives():
            if self.read_header(path).extract_date < cutoff:
                path.unlink()
                removed.append(path.name)
        return removed
