"""The weekly case pack for a synthetic partnership, rendered and opened in headless Chromium.

One synthetic partnership (60 dyads, with faults) is ingested and built once
(module fixture); the pack is written once with ``build_casepack``. The HTML
is opened in Debian's Chromium (``/usr/bin/chromium``, ``make browser``;
never a downloaded browser) through Playwright: every index link resolves,
every case section is there, a screenshot is produced. The PDF has one
bookmark per case, each on the page where the case starts, and working
index links.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import duckdb
import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from connectors.ingest import ingest_drops
from masip.casepack import FLAG_CODES, CasePackResult, build_casepack
from masip.casepack.data import load_pack
from masip.pipeline import build_linked
from masip.synth import DEFAULT_FAULTS, generate_partnership
from pseudonymisation.keys import Keyring
from tests.leakcheck import collect_identifiers, leaks_in_text

SECRET = "casepack-test-partnership-secret-0123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
#: The case pack's marts and the journey, with everything they are built from (and their tests).
SELECT = "+path:models/marts/safeguarding +victim_journey"

pytestmark = pytest.mark.slow


@dataclass
class Partnership:
    drops: Path
    warehouse: Path
    out: Path
    result: CasePackResult
    dyads: list[str]  # marts.case_pack in pack order


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def partnership(tmp_path_factory: pytest.TempPathFactory) -> Partnership:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium) first")
    work = tmp_path_factory.mktemp("casepack")
    drops, warehouse = work / "drops", work / "warehouse" / "masip.duckdb"
    generate_partnership(drops, dyads=60, faults=DEFAULT_FAULTS)
    ingest_drops(drops, warehouse, Keyring(SECRET.encode()), show_progress=False)
    with pytest.MonkeyPatch.context() as mp:  # only tests whose every parent is built (not other marts')
        mp.setenv("DBT_INDIRECT_SELECTION", "buildable")
        build_linked(warehouse, select=SELECT)
    result = build_casepack(warehouse, work / "out")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        dyads = [d for (d,) in con.execute("select dyad_id from marts.case_pack order by pack_position").fetchall()]
    return Partnership(drops, warehouse, work / "out", result, dyads)


@pytest.fixture
def page(partnership: Partnership) -> Iterator[Any]:
    """The pack open in headless Chromium. Per test: a Playwright session must not stay open while
    build_casepack (in another test) starts its own in the same thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else route.abort())
            page.goto(partnership.result.html_path.as_uri())
            yield page
        finally:
            browser.close()


def test_result_counts_and_files(partnership: Partnership):
    r = partnership.result
    assert r.html_path.name == f"masip-casepack-{r.as_of.isoformat()}.html" and r.html_path.is_file()
    assert r.pdf_path is not None and r.pdf_path.read_bytes()[:5] == b"%PDF-"
    assert r.cases == len(partnership.dyads) == r.panel_cases + r.high_risk_cases
    assert r.panel_cases > 0 and r.high_risk_cases > 0
    assert set(r.flag_counts) == set(FLAG_CODES) == set(r.all_flag_counts)
    assert all(r.flag_counts[c] <= r.all_flag_counts[c] for c in FLAG_CODES)
    assert not r.recomputed
    with duckdb.connect(str(partnership.warehouse), read_only=True) as con:
        assert con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0] == r.as_of
        in_pack = dict(con.execute(
            "select flag_code, count(*) from marts.dyad_flags where dyad_id in (select dyad_id from marts.case_pack) "
            "group by 1").fetchall())
    assert r.flag_counts == {c: in_pack.get(c, 0) for c in FLAG_CODES}


def test_every_index_link_resolves_and_every_case_section_is_present(partnership: Partnership, page: Any):
    hrefs = page.eval_on_selector_all("a[href^='#']", "links => links.map(a => a.getAttribute('href'))")
    assert len(hrefs) >= 2 * len(partnership.dyads)  # index entry + "back to the index" per case
    missing = page.evaluate("ids => ids.filter(id => !document.getElementById(id))",
                            sorted({h[1:] for h in hrefs}))
    assert missing == []
    index_targets = page.eval_on_selector_all("table.index a", "links => links.map(a => a.getAttribute('href'))")
    assert index_targets == [f"#case-{d}" for d in partnership.dyads]  # panel first, pack order
    sections = page.eval_on_selector_all("section.case", "s => s.map(e => e.dataset.dyadId)")
    assert sections == partnership.dyads
    # each section has its journey timeline, its flags and its orders
    assert page.locator("section.case svg.timeline").count() == len(partnership.dyads)
    assert page.locator("section.case table.events").count() == len(partnership.dyads)
    # following an index link lands on that case
    page.click(f"table.index a[href='#case-{partnership.dyads[-1]}']")
    assert page.evaluate("location.hash") == f"#case-{partnership.dyads[-1]}"


def test_new_since_last_week_is_highlighted(partnership: Partnership, page: Any):
    """New: dated in the week, or (events) of a record first delivered in it, however old the event's date (a
    late delivery was never new to the panel before); those say when they were delivered."""
    pack = load_pack(partnership.warehouse)
    first_new_day = pack.as_of - timedelta(days=6)

    def in_week(day) -> bool:
        return first_new_day <= day <= pack.as_of

    with duckdb.connect(str(partnership.warehouse), read_only=True) as con:
        delivered = {(source_id, table, ref): day for source_id, table, ref, day in con.execute(
            "select source_id, source_table, record_ref, first_extract_date from staging.stg_raw__police_first_deliveries "
            "union all select source_id, source_table, record_ref, first_extract_date "
            "from staging.stg_raw__partner_first_deliveries"
        ).fetchall()}
    events = [e for c in pack.cases for e in c.events]
    late = [e for e in events if not in_week(e.event_at.date()) and in_week(delivered[e.source_id, e.source_table, e.record_ref])]
    new_events = sum(1 for e in events if in_week(e.event_at.date())) + len(late)
    new_flags = sum(1 for c in pack.cases for f in c.flags if first_new_day <= f.raised_at.date() <= pack.as_of)
    assert page.locator("table.events tr.new").count() == new_events
    assert page.locator("table.flags tr.new").count() == new_flags
    assert page.locator("svg.timeline circle.new").count() == new_events
    assert new_events + new_flags > 0, "the synthetic partnership should have something new in its last week"
    assert all(e.is_new and e.delivered_late == delivered[e.source_id, e.source_table, e.record_ref] for e in late)
    assert page.locator(".newbox li", has_text="(first delivered").count() == len(late)


def test_an_old_event_first_delivered_this_week_is_new(partnership: Partnership, tmp_path: Path):
    """A crime reported a month before the week but first delivered in it was never "new" to the panel: new went
    by the event's own date only. Its events are now new, and the pack says when they were delivered. (The
    generator delivers every record in its own week: here one crime's delivery is moved into the last week;
    tests/test_dbt_models.py checks the mart's delivery date on real drops.)"""
    warehouse = tmp_path / "masip.duckdb"
    shutil.copyfile(partnership.warehouse, warehouse)
    as_of = partnership.result.as_of
    with duckdb.connect(str(warehouse)) as con:
        source_id, ref = con.execute(
            "select source_id, record_ref from marts.victim_journey where source_table = 'crimes' "
            "and dyad_id in (select dyad_id from marts.case_pack) and event_at < ? order by event_id limit 1",
            [as_of - timedelta(days=30)],
        ).fetchone()
        con.execute("update marts.victim_journey set first_delivered_date = ? where source_id = ? and record_ref = ?",
                    [as_of - timedelta(days=1), source_id, ref])
    pack = load_pack(warehouse)
    late = [e for c in pack.cases for e in c.events if e.record_ref == ref]
    assert late and all(e.is_new and e.delivered_late == as_of - timedelta(days=1) for e in late)
    assert all(not e.is_new for c in pack.cases for e in c.events
               if e.record_ref != ref and e.event_at.date() <= as_of - timedelta(days=7))
    html = build_casepack(warehouse, tmp_path / "out", pdf=False).html_path.read_text(encoding="utf-8")
    assert html.count(f"(first delivered {(as_of - timedelta(days=1)).isoformat()})") == len(late)


def test_a_sources_first_delivery_is_its_history_not_news(partnership: Partnership, tmp_path: Path):
    """A force or service that joins the partnership sends its history at once: every record of it is first
    delivered this week, and the pack listed years of events as new, burying the week's news. Only the events
    dated in the week are new; the pack names the source as delivering for the first time."""
    warehouse = tmp_path / "masip.duckdb"
    shutil.copyfile(partnership.warehouse, warehouse)
    as_of = partnership.result.as_of
    week_start = as_of - timedelta(days=6)
    with duckdb.connect(str(warehouse)) as con:
        (source_id,) = con.execute(
            "select source_id from marts.victim_journey where dyad_id in (select dyad_id from marts.case_pack) "
            "and source_table = 'crimes' and event_at < ? group by 1 order by count(*) desc limit 1", [week_start],
        ).fetchone()
        # as if its earlier drops had never come: its first delivery is this week's, holding all its records
        con.execute("delete from ops.loaded_drops where source_id = ? and extract_date < ?", [source_id, week_start])
        con.execute("update marts.victim_journey set first_delivered_date = ? where source_id = ?",
                    [as_of - timedelta(days=1), source_id])
    pack = load_pack(warehouse)
    assert pack.first_deliveries == [source_id]
    events = [e for c in pack.cases for e in c.events if e.source_id == source_id]
    assert any(e.event_at.date() < week_start for e in events)
    assert all(e.is_new == (e.event_at.date() >= week_start) and e.delivered_late is None for e in events)
    html = build_casepack(warehouse, tmp_path / "out", pdf=False).html_path.read_text(encoding="utf-8")
    assert f"First delivery this week from {source_id}</b>" in html


def test_screenshot_is_produced(partnership: Partnership, page: Any, tmp_path: Path):
    png = tmp_path / "casepack.png"
    page.screenshot(path=str(png))
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_pdf_has_one_bookmark_per_case_on_the_page_it_starts(partnership: Partnership):
    reader = PdfReader(partnership.result.pdf_path)
    titles: list[tuple[str, int]] = []

    def walk(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append((item.title, reader.get_destination_page_number(item)))

    walk(reader.outline)
    cases = [(t, p) for t, p in titles if re.match(r"Case \d+ of \d+", t)]
    n = len(partnership.dyads)
    assert [t for t, _ in cases] == [f"Case {i} of {n} · {d}" for i, d in enumerate(partnership.dyads, 1)]
    pages = [p for _, p in cases]
    assert pages == sorted(pages) and len(set(pages)) == n  # each case starts on a page of its own
    for (title, number), dyad in zip(cases, partnership.dyads):
        assert dyad in reader.pages[number].extract_text(), title
    # the index's links work in the PDF too: every link points at a destination that exists
    destinations = set(reader.named_destinations)
    links = [a.get_object().get("/Dest") for page in reader.pages[: pages[0]] for a in page.get("/Annots") or []]
    links = [str(link) for link in links if link is not None]
    assert len(links) >= len(partnership.dyads) and set(links) <= destinations


def test_no_plain_identifiers_in_the_pack(partnership: Partnership):
    """Names, dates of birth, postcodes, PNC/NHS numbers, CRNs, free text of the drops: none in the HTML or the PDF."""
    plain = collect_identifiers(partnership.drops)
    assert len(plain.name_words) > 50
    html = partnership.result.html_path.read_text(encoding="utf-8")
    pdf_text = "\n".join(page.extract_text() for page in PdfReader(partnership.result.pdf_path).pages)
    assert leaks_in_text(html, plain) == []
    assert leaks_in_text(pdf_text, plain) == []


def test_a_source_whose_week_is_missing_is_named_at_the_top_of_the_pack(partnership: Partnership, tmp_path: Path):
    """A pack built without one agency's week said "data as of" that date all the same, and kept flags that
    week would have closed (outside check, 2026-12-06). It now names the source, its latest loaded delivery and
    the rejected ones, never a drop's name or rejection reason (a sender chooses those)."""
    assert "Not every agency" not in partnership.result.html_path.read_text(encoding="utf-8")
    warehouse = tmp_path / "masip.duckdb"
    shutil.copyfile(partnership.warehouse, warehouse)
    as_of = partnership.result.as_of
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from ops.loaded_drops where source_id = 'health-trust' and extract_date > ?",
                    [as_of - timedelta(days=7)])
        latest_health = con.execute("select max(extract_date) from ops.loaded_drops where source_id = 'health-trust'"
                                    ).fetchone()[0]
        con.execute("delete from ops.loaded_drops where source_id = 'police-met' and extract_date = ?", [as_of])
        con.execute("insert into ops.rejected_drops values ('police-met', 'police-met_x', 'ab', ?, "
                    "'crimes.csv: Jo Bloggs 1961', false)", [as_of])
        latest_met = con.execute("select max(extract_date) from ops.loaded_drops where source_id = 'police-met'"
                                 ).fetchone()[0]
    html = build_casepack(warehouse, tmp_path / "out", pdf=False).html_path.read_text(encoding="utf-8")
    gaps = html.split("Not every agency", 1)[1].split("</div>", 1)[0]
    assert f"<b>health-trust</b>: latest loaded delivery\n      {latest_health.isoformat()}; nothing delivered since" in gaps
    assert f"<b>police-met</b>: latest loaded delivery\n      {latest_met.isoformat()}; 1 later delivery rejected" in gaps
    assert "Bloggs" not in html and "police-met_x" not in html
    assert "police-cheshire" not in gaps


def test_flags_and_cases_gone_since_the_previous_pack_are_listed(partnership: Partnership, tmp_path: Path):
    """A flag that closed in the week vanished from the pack, and the panel could not tell "dealt with" from
    "overlooked". The pack compares itself with the latest earlier pack in its folder: the week before's pack,
    then this week's, and each case lists the flags the first showed that are gone; the cases that left are
    named at the top. A record the pack cannot read is passed over, one of a later date is not compared with."""
    import json

    out = tmp_path / "packs"
    as_of = partnership.result.as_of
    before = build_casepack(partnership.warehouse, out, as_of - timedelta(days=7), pdf=False)
    shown_before = json.loads((out / f"masip-casepack-{before.as_of.isoformat()}.flags.json").read_text())["cases"]
    (out / "masip-casepack-2001-01-01.flags.json").write_text("{not json", encoding="utf-8")
    (out / f"masip-casepack-{(as_of + timedelta(days=7)).isoformat()}.flags.json").write_text(
        json.dumps({"cases": {"Dlater": {"NO_SPO_CONSIDERED": "2026-01-01"}}}), encoding="utf-8")
    result = build_casepack(partnership.warehouse, out, pdf=False)
    now = {c.dyad_id: {f.flag_code for f in c.flags} for c in load_pack(partnership.warehouse).cases}
    cleared = [(d, code) for d, shown in shown_before.items() if d in now for code in shown if code not in now[d]]
    left = sorted(set(shown_before) - set(now))
    assert (result.cleared_flags, result.left_cases) == (len(cleared), len(left))
    html = result.html_path.read_text(encoding="utf-8")
    assert html.count(f"since the pack of {before.as_of.isoformat()}:") == len(cleared)
    assert all(d in html.split("not in this one", 1)[1].split("</div>", 1)[0] for d in left)
    assert "Dlater" not in html
    # a case of the pack under the id it had before one of its people got another (found by its records), with
    # a flag it no longer has; and a case that left: listed as such
    case = next(c for c in load_pack(partnership.warehouse).cases if len(c.flags) < len(FLAG_CODES))
    gone = next(code for code in FLAG_CODES if code not in {f.flag_code for f in case.flags})
    previous = {"D0000000000000001": {gone: "2026-09-01", **{f.flag_code: "2026-10-01" for f in case.flags}},
                "Dfeedfacecafebeef": {"NO_SPO_CONSIDERED": "2026-09-02"}}
    records = {"D0000000000000001": sorted({f"{e.source_id}|{e.source_table}|{e.record_ref}" for e in case.events})}
    (out / f"masip-casepack-{before.as_of.isoformat()}.flags.json").write_text(
        json.dumps({"cases": previous, "records": records}), encoding="utf-8")
    result = build_casepack(partnership.warehouse, out, pdf=False)
    html = result.html_path.read_text(encoding="utf-8")
    assert (result.cleared_flags, result.left_cases) == (1, 1)
    section = html.split(f'id="case-{case.dyad_id}"', 1)[1].split("<section", 1)[0]
    assert f"since the pack of {before.as_of.isoformat()}:" in section and "(raised 2026-09-01)" in section
    left_box = html.split("not in this one", 1)[1].split("</div>", 1)[0]
    assert "Dfeedfacecafebeef" in left_box and "D0000000000000001" not in left_box


@pytest.mark.parametrize("altered", ["dyad id", "flag code", "record"])
def test_an_altered_previous_pack_record_is_never_shown(partnership: Partnership, tmp_path: Path, caplog, altered):
    """The next pack shows the previous record's dyad ids and flag codes (cases that left, flags cleared). A name
    or a link written into that file reached the panel's pack (outside check, 2026-12-07): now a record holding
    anything a pack does not write is passed over with a warning, and an earlier one is compared with."""
    import json

    out = tmp_path / "packs"
    as_of = partnership.result.as_of
    earlier = build_casepack(partnership.warehouse, out, as_of - timedelta(days=14), pdf=False)
    hostile = "Quillonette Featherstonehaugh 21/10/1979 http://evil.example"
    case = {"D0123456789abcdef": {"NO_SPO_CONSIDERED": "2026-09-02"}}
    records = {"D0123456789abcdef": ["police-met|crimes|MPS-24-0000001"]}
    if altered == "dyad id":
        case = {hostile: case["D0123456789abcdef"]}
    elif altered == "flag code":
        case = {"D0123456789abcdef": {hostile: "2026-09-02"}}
    else:
        records = {"D0123456789abcdef": [f"police-met|crimes|{hostile}"]}
    (out / f"masip-casepack-{(as_of - timedelta(days=7)).isoformat()}.flags.json").write_text(
        json.dumps({"cases": case, "records": records}), encoding="utf-8")
    with caplog.at_level("WARNING"):
        result = build_casepack(partnership.warehouse, out, pdf=False)
    html = result.html_path.read_text(encoding="utf-8")
    assert "Quillonette" not in html and "evil.example" not in html and "D0123456789abcdef" not in html
    from masip.casepack.history import previous_pack

    assert previous_pack(out, as_of).as_of == earlier.as_of
    assert "holds what no case pack writes" in caplog.text and "Quillonette" not in caplog.text


def test_another_as_of_is_computed_on_a_copy_and_the_warehouse_is_untouched(partnership: Partnership, tmp_path):
    before = _sha256(partnership.warehouse)
    week_before = partnership.result.as_of - timedelta(days=7)
    result = build_casepack(partnership.warehouse, tmp_path, week_before, pdf=False)
    assert result.recomputed and result.as_of == week_before and result.pdf_path is None
    assert _sha256(partnership.warehouse) == before
    html = result.html_path.read_text(encoding="utf-8")
    assert f"flags as of {week_before.isoformat()}" in html
    assert "recomputed for this date" in html
    # and it says that later deliveries are in it: an earlier week's pack is not what the panel saw (outside check)
    assert "deliveries after this date,\n    corrections among them, are included" in html


def test_cli_command(partnership: Partnership, tmp_path: Path):
    from masip.cli import main

    assert "casepack" in main.list_commands(click.Context(main))  # loaded when named
    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(main, ["casepack", "--out", str(out), "--warehouse", str(partnership.warehouse), "--no-pdf"])
    assert res.exit_code == 0, res.output
    assert f"{partnership.result.cases} cases" in res.output
    assert (out / partnership.result.html_path.name).is_file()
    res = runner.invoke(main, ["casepack", "--out", str(out), "--warehouse", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "does not exist" in res.output  # a refusal (README), not a failure of the data
    res = runner.invoke(main, ["casepack", "--out", str(out), "--as-of", "16/11/2026"])
    assert res.exit_code != 0 and "YYYY-MM-DD" in res.output


def test_weekly_dag_writes_the_pack_after_the_marts_are_published(
    partnership: Partnership, airflow_db: Path, tmp_path: Path
):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from masip.orchestration import MARTS_ASSET_URI
    from tests.conftest import DAGS_FOLDER

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    dag = bag.dags["masip_weekly_casepack"]
    assert [a.uri for a in dag.timetable.asset_condition.objects] == [MARTS_ASSET_URI]  # after each publication
    assert {t.task_id for t in dag.tasks} == {"casepack"}
    assert set(dag.params) == {"warehouse", "out_dir", "as_of"}
    out = tmp_path / "dag"
    dag_run = dag.test(run_conf={"warehouse": str(partnership.warehouse), "out_dir": str(out)})
    assert dag_run.state == DagRunState.SUCCESS
    assert (out / partnership.result.html_path.name).is_file()
    assert (out / partnership.result.pdf_path.name).is_file()


def test_dag_parameters_fall_back_to_the_environment_at_run_time():
    from masip.casepack.tasks import CasePackConfigError, resolve_casepack_config

    assert resolve_casepack_config({}, {}) == (Path("warehouse/masip.duckdb"), Path("output/casepacks"), None)
    env = {"MASIP_WAREHOUSE": "/w/m.duckdb", "MASIP_OUTPUT_DIR": "/out"}
    warehouse, out_dir, as_of = resolve_casepack_config({"warehouse": " ", "as_of": "2026-11-09"}, env)
    assert (str(warehouse), str(out_dir), as_of.isoformat()) == ("/w/m.duckdb", "/out/casepacks", "2026-11-09")
    assert resolve_casepack_config({"out_dir": "/out/packs"}, env)[1] == Path("/out/packs")
    with pytest.raises(CasePackConfigError, match="outside /out"):  # anywhere the trigger likes (outside check)
        resolve_casepack_config({"out_dir": "/out/../packs"}, env)
    with pytest.raises(CasePackConfigError, match="YYYY-MM-DD"):
        resolve_casepack_config({"as_of": "09/11/2026"}, env)


def test_a_flag_title_says_the_window_its_rule_allows():
    """"No Stalking Protection Order applied for" stood over cases whose SPO was applied for, a few days after the
    28-day window (outside check, 2026-12-06): a title that contradicts the case."""
    from masip.casepack.wording import flag_title

    thresholds = {("NO_SPO_CONSIDERED", "spo_application_window"): 28, ("NO_ADVOCACY_REFERRAL", "referral_window"): 14,
                  ("SPO_REQUEST_NOT_ACTED_ON", "spo_application_window"): 28}
    assert flag_title("NO_SPO_CONSIDERED", thresholds).endswith("applied for within 28 days")
    assert flag_title("NO_ADVOCACY_REFERRAL", thresholds).endswith("within 14 days")
    assert flag_title("SPO_REQUEST_NOT_ACTED_ON", thresholds).endswith("within 28 days")
