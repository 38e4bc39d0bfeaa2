"""Which folders of an input folder are drops, told by their names alone (SPEC §2).

A drop folder's name is written into the warehouse (``drop_name``), the run
report, the logs and the sensor's XCom, so it may only be a name that cannot
hold a person's identifier: ``<source_id>_<YYYY-MM-DD>``, the source one with a
profile in ``connectors/profiles/`` and the date from 2000 to a year ahead
(so a drop dated in the future is read, and rejected for its manifest's
extract date), optionally followed by a re-delivery mark (``_redelivery``,
``_2``, ``_v2``). Any other folder is not read and never named: it is
counted (:attr:`DropFolders.misnamed`), and the run report tells the
operator to rename it. An entry that is not a folder at all (a ``.zip``
delivered instead of a folder, a link to nothing) is counted the same way
(:attr:`DropFolders.not_folders`), and so is a link that leads out of the
input folder: whoever can write the landing area could otherwise make ingest
read any folder its process can see (another partnership's drops). A link to
a folder inside the input folder is read. When a drop is read, its manifest must
say the same source and extract date as its folder's name
(:func:`check_folder_matches`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from connectors.manifest import (
    SOURCE_ID_PATTERN,
    DropRejected,
    Manifest,
    plausible_extract_date,
)
from connectors.profiles import onboarding_advice

_DROP_NAME = re.compile(
    rf"(?P<source>{SOURCE_ID_PATTERN})_(?P<date>[^_]+)(?:_(?:redelivery[0-9]{{0,2}}|v?[0-9]{{1,2}}))?", re.ASCII,
)


def rename_advice() -> str:
    """What the operator is told to do with a folder that is not named as a drop."""
    return (
        "name each drop folder <source_id>_<YYYY-MM-DD> (its manifest's source_id and extract_date, e.g. "
        "police-cheshire_2026-11-16, with _redelivery or _2 for a re-delivery); to onboard a new source, "
        f"{onboarding_advice()}. Then re-run"
    )


@dataclass(frozen=True)
class DropName:
    source_id: str
    extract_date: date


def parse_drop_name(name: str, known_sources: Collection[str]) -> DropName | None:
    """The source and extract date a folder name gives, or ``None`` if it is not a drop's name."""
    match = _DROP_NAME.fullmatch(name)
    if match is None or match["source"] not in known_sources:
        return None
    extract = plausible_extract_date(match["date"])
    return DropName(match["source"], extract) if extract is not None else None


#: What the operator is told to do with an entry of the input folder that is not a folder.
UNPACK_ADVICE = (
    "unpack an archive (.zip, …) into its own folder named <source_id>_<YYYY-MM-DD>, replace a link that leads "
    "nowhere or out of the input folder with the drop folder itself, and move any other file out of the input "
    "folder (or give it a name starting with _); then re-run"
)


@dataclass(frozen=True)
class DropFolders:
    """The drop folders found (sorted by name), and how many other entries were not read."""

    drops: list[Path]
    misnamed: int = 0
    not_folders: int = 0  # files, links that lead nowhere, loop or lead out of the input folder

    def warnings(self, input_dir: Path) -> list[str]:
        """What the operator is told about the entries of ``input_dir`` not read (their names are never shown)."""
        return [w for w in (self.misnamed_warning(input_dir), self.not_folders_warning(input_dir)) if w]

    def misnamed_warning(self, input_dir: Path) -> str | None:
        """What the operator is told about the folders not read (their names are never shown)."""
        if not self.misnamed:
            return None
        return (f"{self.misnamed} folder(s) in {input_dir} are not named as a drop of a known source and were not "
                f"read (their names are not shown: they could hold anything). What to do: {rename_advice()}.")

    def not_folders_warning(self, input_dir: Path) -> str | None:
        """What the operator is told about the entries that are not folders (their names are never shown)."""
        if not self.not_folders:
            return None
        return (f"{self.not_folders} item(s) in {input_dir} are not folders (a file, or a link that leads to no "
                "folder or out of the input folder) and were not read (their names are not shown: they could hold anything). A drop is a folder "
                f"holding manifest.json and its CSV files. What to do: {UNPACK_ADVICE}.")


def find_drops(input_dir: Path, known_sources: Collection[str], source_ids: Iterable[str] | None = None) -> DropFolders:
    """The drop folders of ``input_dir`` (only those of ``source_ids``, if given); ``_…`` and ``.…`` entries are skipped.

    ``known_sources``: the source ids with a profile. A folder whose name is
    not ``<known source>_<YYYY-MM-DD>`` (see :func:`parse_drop_name`) is counted
    as misnamed, and any other entry that is not a folder (a file, a link that
    leads nowhere, loops or leads out of ``input_dir``) as not a folder,
    whatever ``source_ids`` says.
    """
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input folder {input_dir} does not exist; pass the folder that holds the drops")
    known = frozenset(known_sources)
    wanted = known if source_ids is None else frozenset([source_ids] if isinstance(source_ids, str) else source_ids)
    drops, misnamed, not_folders = [], 0, 0
    inside = input_dir.resolve()
    for entry in sorted(p for p in input_dir.iterdir() if not p.name.startswith(("_", "."))):
        if not entry.is_dir() or (entry.is_symlink() and inside not in entry.resolve().parents):
            not_folders += 1
        elif (name := parse_drop_name(entry.name, known)) is None:
            misnamed += 1
        elif name.source_id in wanted:
            drops.append(entry)
    return DropFolders(drops, misnamed, not_folders)


def check_folder_matches(manifest: Manifest, known: Collection[str]) -> None:
    """Rejects a drop whose manifest names another source or extract date than its folder's name."""
    name = parse_drop_name(manifest.drop_name, known)
    assert name is not None, "find_drops returns only folders named as drops"
    if (manifest.source_id, manifest.extract_date) == (name.source_id, name.extract_date):
        return
    found = f"source {name.source_id} and extract date {name.extract_date}"
    if manifest.source_id in known:
        expected = f"{manifest.source_id}_{manifest.extract_date}"
        raise DropRejected(
            f"the folder's name gives {found}, but its manifest.json says {expected}. What to do: rename the folder "
            f"{expected} if the manifest is right, or ask the sender to fix the manifest; then re-run"
        )
    raise DropRejected(
        f"the folder's name gives {found}, but its manifest.json names a source_id that has no profile (not shown). "
        f"What to do: if it is a new source, {onboarding_advice()}, and name the folder "
        "<source_id>_<extract_date>; otherwise ask the sender to fix the manifest; then re-run"
    )
