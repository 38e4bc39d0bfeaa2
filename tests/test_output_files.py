"""Outputs are written into a new file renamed over their name, never through a link planted under it
(:mod:`masip.output_files`); and no product module writes an output file any other way."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from masip.output_files import fresh_path, write_output
from pseudonymisation.keys import create_secret_file
from tests.conftest import REPO_ROOT


def test_an_output_replaces_a_link_planted_under_its_name_and_leaves_the_target_alone(tmp_path: Path):
    target = tmp_path / "secret.key"
    target.write_text("partnership secret\n")
    report = tmp_path / "out" / "run_report.json"
    report.parent.mkdir()
    report.symlink_to(target)
    write_output(report, '{"run": 1}')
    assert target.read_text() == "partnership secret\n"
    assert not report.is_symlink() and report.read_text() == '{"run": 1}'
    assert [p.name for p in report.parent.iterdir()] == ["run_report.json"]


def test_an_output_gets_the_mode_a_plain_write_would(tmp_path: Path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = write_output(tmp_path / "written.txt", b"x")
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_a_failed_write_leaves_the_previous_output_and_no_partial_file(tmp_path: Path):
    previous = write_output(tmp_path / "pack.pdf", b"last week")
    with pytest.raises(RuntimeError), fresh_path(previous) as temporary:
        temporary.write_bytes(b"half a pa")
        raise RuntimeError("the browser crashed")
    assert previous.read_bytes() == b"last week" and [p.name for p in tmp_path.iterdir()] == ["pack.pdf"]


@pytest.mark.parametrize("taken", ["file", "link to a file", "link to nowhere"])
def test_a_secret_file_is_created_owner_only_and_never_over_a_taken_name(tmp_path: Path, taken: str):
    fresh = tmp_path / "new.key"
    create_secret_file(fresh, "s3cret\n")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600 and fresh.read_text() == "s3cret\n"
    name, victim = tmp_path / "taken.key", tmp_path / "victim.txt"
    if taken == "file":
        name.write_text("old")
    else:
        if taken == "link to a file":
            victim.write_text("untouched")
        name.symlink_to(victim)
    with pytest.raises(FileExistsError):
        create_secret_file(name, "s3cret\n")
    assert (victim.read_text() == "untouched") if taken == "link to a file" else not victim.exists()


#: Where a product module may still write a file itself: into the owner-only vault or beside the warehouse (the
#: operator's own folders), or the synthetic generator's drops; every other file goes through masip.output_files.
WRITES_ALLOWED = {
    "masip/cli.py": "the demo's marker beside its own warehouse",
    "masip/linkage/state.py": "the linkage state, in the vault",
    "masip/store_swaps.py": "the swap journal beside the warehouse, synced",
    "masip/casepack/render.py": "the PDF, into the new file of masip.output_files.fresh_path",
    "masip/synth/__init__.py": "the generator's ground truth",
    "masip/synth/writer.py": "the generator's drops",
    "connectors/handoff.py": "ingest's hand-off files, in the vault",
    "pseudonymisation/landing.py": "the encrypted landing archive, in the vault",
    "pseudonymisation/keys.py": "key files and the vault's drop salt, created exclusively (never through a link)",
}
_WRITE = re.compile(r"\.write_text\(|\.write_bytes\(|savefig\((?!image)|open\([^)]*[\"'](?:w|wb|a|ab)[\"']|\"wb\"\)")


def test_no_product_module_writes_an_output_file_but_through_output_files():
    writers = {
        str(path.relative_to(REPO_ROOT))
        for folder in ("masip", "connectors", "pseudonymisation", "dags")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if _WRITE.search(path.read_text(encoding="utf-8")) and path.name != "output_files.py"
    }
    assert writers <= set(WRITES_ALLOWED), sorted(writers - set(WRITES_ALLOWED))
    assert set(WRITES_ALLOWED) <= writers, "an allowed writer no longer writes: remove it from WRITES_ALLOWED"
