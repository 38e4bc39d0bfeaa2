"""Source profiles: what the pipeline knows about each agency source.

A new force or service is onboarded by adding one YAML file to
``connectors/profiles/`` (no code): its ``source_id``, ``agency`` and, when a
system upgrade renames a column, a ``column_renames`` entry mapping the
delivered name to the contract name. A source that does not hold an optional
column and sends columns of its own lists it under ``absent_columns``: a
file that lacks a column while it has one the contract does not know is
otherwise rejected, since that is how a renamed column looks
(:meth:`connectors.reader.TableReader._map_header`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from connectors.contracts import AGENCY_TABLES

PROFILES_DIR = Path(__file__).parent / "profiles"


@dataclass(frozen=True)
class SourceProfile:
    source_id: str
    agency: str
    description: str = ""
    force: str | None = None
    column_renames: dict[str, str] = field(default_factory=dict)
    absent_columns: frozenset[str] = frozenset()

    @property
    def path(self) -> Path:
        return PROFILES_DIR / f"{self.source_id}.yaml"


class ProfileError(ValueError):
    """A profile file is malformed."""


def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, SourceProfile]:
    """Every profile in ``directory``, keyed by source_id."""
    profiles: dict[str, SourceProfile] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        try:
            profile = SourceProfile(
                source_id=data["source_id"],
                agency=data["agency"],
                description=data.get("description", ""),
                force=data.get("force"),
                column_renames=dict(data.get("column_renames") or {}),
                absent_columns=frozenset(data.get("absent_columns") or ()),
            )
        except KeyError as missing:
            raise ProfileError(f"{path}: missing key {missing}; see police-cheshire.yaml for the format") from None
        if profile.agency not in AGENCY_TABLES:
            raise ProfileError(f"{path}: agency {profile.agency!r} is not one of {sorted(AGENCY_TABLES)}")
        profiles[profile.source_id] = profile
    return profiles
