"""Build ``masip/synth/data/gb_names.csv.gz``: the generator's forenames (by sex)
and surnames with England-and-Wales frequency weights.

    .venv/bin/python scripts/build_name_frequencies.py

Source: ``names-dataset==3.3.1`` (a dev dependency; the product never imports
it). It lists, per country, every name with its *rank* (no counts) and the
share of its holders who are female or male. This script keeps the names
ranked in GB, cleans them, excludes the unsafe ones, and gives each a weight
from a Zipf–Mandelbrot law ``w(r) = (r + q) ** -s`` over its rank ``r`` among
the kept names, with ``s`` and ``q`` fitted so the head of the distribution has
the published England-and-Wales shape (see ``ANCHORS``). Coincidences (two
people sharing a name) are dominated by the head, so that is what is matched;
the tail follows the law down to names of a few in a million.

Anchors (shares of the population named so):
- surnames: the most common 1.33 %, the 20th 0.29 % — Smith and Hughes in the
  1984–97 National Insurance sample of England and Wales (surnamestudies.org.uk,
  "Comparative Tables 1856–1996"); Jones 0.99 %, Williams 0.68 %.
- male forenames: the most common 4.87 % of men (John, Experian 2013, adults
  living in Britain); the top 100 hold 57.7 % (ONS, boys registered in England
  and Wales in 2008 — the nearest published top-100 share).
- female forenames: the male anchors times the ONS 2008 girls/boys ratios
  (top name 1.54 % against 2.21 %: 3.39 %; top 100 47.4 %) — female names are
  more diverse than male ones at every age.

Cleaning (counted and printed): Latin letters only (accents kept), one word or a
hyphenated pair; ``O Brien``/``Obrien``/``Mc Donald`` become ``O’Brien``/``McDonald``;
other multi-word names (``De Souza``, ``Ann Summers``) are left out, since a
two-letter particle would be a leak-check word. A forename joins the pool of
each sex holding at least a fifth of its bearers (Jordan, Nicola: the dataset's
shares are worldwide). Spellings that differ only by accents are one name, with
the rank of the better-ranked spelling; the accented spelling is canonical when
it ranks within three times the other (records fold accents as noise: many
people type Małgorzata as Malgorzata, while Dávid is a Hungarian David).
Nickname forms the generator writes as noise (``Chris``,
``Tom``: values of ``NICKNAMES``) are not canonical forenames.

Exclusions (counted and printed): every name that fails ``is_name_safe`` (a
word of ``FORBIDDEN_WORDS``: product vocabulary and ordinary English words such
as Smith, Brown, Will, Hope) or that equals a word the product itself can write:
the string constants of its Python code (docstrings left out) and every word of
its SQL, YAML, seeds, templates and styles (words of two letters or more, as
the leak checks match them; accents folded too). The leak checks search outputs for
input names as whole words, so such a name would be a false alarm. The weights
are fitted after the exclusions, so the kept head still has the published shape
(Jones then takes Smith's share: coincidences stay as common as in reality).
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import math
import pickle
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from masip.synth.names import NICKNAMES, is_name_safe, strip_accents

OUT = ROOT / "masip" / "synth" / "data" / "gb_names.csv.gz"
COUNTRY = "GB"
# (share of rank 1, (rank k, share of rank k) or None, share of the top 100 or None)
ANCHORS: dict[str, tuple[float, tuple[int, float] | None, float | None]] = {
    "S": (0.0133, (20, 0.0029), None),
    "M": (0.0487, None, 0.577),
    "F": (0.0487 * 1.54 / 2.21, None, 0.474),
}
# names-dataset stores a country's rank only for the ten countries holding most of a name's bearers, so names
# common in England and Wales but commoner elsewhere (Mohammed, Samuel, Ahmed, Silva) have no GB rank. Those the
# former hand-written pools held get one by analogy: the median GB rank of the pool's names that had the same
# hand-set weight (e.g. weight 4 of 5: median rank 28 over 8 names).
SUPPLEMENT: dict[str, dict[str, int]] = {
    "F": {"Fatima": 135, "Mariam": 552, "Leila": 552, "Anaïs": 1886, "Aylin": 1886},
    "M": {"Samuel": 28, "Mohammed": 28, "Hamza": 184, "Jorge": 1012, "José": 1012, "Bilal": 1012},
    "S": {"Ahmed": 60, "D’Souza": 193, "Silva": 193, "Santos": 193, "Hassan": 193, "Öztürk": 1328, "Gomez": 1328,
          "Fernández": 1328, "García": 1328, "Yılmaz": 1328, "Çelik": 1328, "Müller": 1328, "Demir": 1328,
          "Aydın": 1328, "Pereira": 1328, "Ferreira": 1328},
}
ACCENTED_RANK_RATIO = 3  # Małgorzata (ranked within 3x of Malgorzata) is canonical; Dávid (far behind David) is not
UNISEX_SHARE = 0.2  # a forename joins the pool of each sex holding at least this share of its bearers
PRODUCT_DIRS = ("masip", "connectors", "pseudonymisation", "dbt_project", "dags")
NOT_PRODUCT_VOCABULARY = ("masip/synth/", "pseudonymisation/data/")  # name lists, never written out
TEXT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".j2", ".css", ".html", ".json", ".md", ".txt")
_WORD = re.compile(r"[^\W\d_]+")
_LATIN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ]+")
_NAME = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ]+(-[A-Za-zÀ-ÖØ-öø-ɏ]+)?")


def product_vocabulary() -> set[str]:
    """Upper-case words the product can write: Python string constants (not docstrings) and every word of its
    other text files."""
    words: set[str] = set()
    for top in PRODUCT_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if not path.is_file() or rel.startswith(NOT_PRODUCT_VOCABULARY) or "/target/" in rel:
                continue
            if path.suffix == ".py":
                tree = ast.parse(path.read_text(encoding="utf-8"))
                docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                              if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                              and node.body and isinstance(node.body[0], ast.Expr)
                              and isinstance(node.body[0].value, ast.Constant)}
                for node in ast.walk(tree):
                    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                        words |= {w.upper() for w in _WORD.findall(node.value)}
            elif path.suffix in TEXT_SUFFIXES:
                words |= {w.upper() for w in _WORD.findall(path.read_text(encoding="utf-8", errors="replace"))}
    return words


def canonical(raw: str, o_stems: frozenset[str] = frozenset()) -> str | None:
    """names-dataset's title-cased key in the spelling records use, or None if it is not a usable name.
    ``o_stems``: the X of every ``O X`` in the dataset, so ``Obrien`` (typed without the apostrophe) is ``O’Brien``."""
    if re.fullmatch(r"[A-Z]’[A-Z][a-z]+", raw):  # a supplemented O’Brien / D’Souza
        return raw
    parts = raw.split()
    if len(parts) == 2 and parts[0] == "O" and _LATIN.fullmatch(parts[1]):
        return f"O’{parts[1]}"
    if len(parts) == 2 and parts[0] == "Mc" and _LATIN.fullmatch(parts[1]):
        return f"Mc{parts[1]}"
    if len(parts) != 1 or not _NAME.fullmatch(raw):
        return None
    if raw[0] == "O" and raw[1:].title() in o_stems:
        return f"O’{raw[1:].title()}"
    if raw.startswith("Mc") and len(raw) > 3 and raw[2].islower():
        return "Mc" + raw[2].upper() + raw[3:]
    return raw


def _fold(name: str) -> str:
    """The key two spellings of one name share (accents and apostrophes ignored)."""
    return strip_accents(name).upper().replace("’", "")


def fit(anchor: tuple[float, tuple[int, float] | None, float | None], n: int) -> tuple[float, float]:
    """(s, q) of w(r) = (r + q) ** -s, normalised over ranks 1..n, meeting the anchor shares."""
    top, at_rank, top100 = anchor

    ranks = np.arange(1, n + 1, dtype=float)

    def shares(s: float, q: float) -> tuple[float, float]:
        weights = (ranks + q) ** -s
        total = weights.sum()
        second = weights[at_rank[0] - 1] / total if at_rank else weights[:100].sum() / total
        return weights[0] / total, second

    target = at_rank[1] if at_rank else top100
    best = (math.inf, 1.0, 0.0)
    for s_step in range(40, 161):  # s in 0.40 .. 1.60, q in 0 .. 30: a grid fine enough for two anchors
        s = s_step / 100
        lo, hi = 0.0, 60.0  # the rank-1 share falls as q grows: bisect q on it
        for _ in range(40):
            q = (lo + hi) / 2
            if shares(s, q)[0] > top:
                lo = q
            else:
                hi = q
        q = (lo + hi) / 2
        first, second = shares(s, q)
        err = abs(first - top) / top + abs(second - target) / target
        if err < best[0]:
            best = (err, s, q)
    return best[1], best[2]


def main() -> None:
    import names_dataset

    data = Path(names_dataset.__file__).parent / "v3"
    with gzip.open(data / "first_names.pkl.gz", "rb") as fh:
        first = pickle.load(fh)
    with gzip.open(data / "last_names.pkl.gz", "rb") as fh:
        last = pickle.load(fh)
    vocabulary = product_vocabulary()
    nickname_forms = {n for forms in NICKNAMES.values() for n in forms} - set(NICKNAMES)
    report: dict[str, dict[str, int]] = {}
    pools: dict[str, list[tuple[int, str]]] = {"F": [], "M": [], "S": []}
    sources = (("forenames", first), ("surnames", last))
    for label, table in sources:
        counts = report.setdefault(label, {"ranked in GB": 0, "supplemented": 0, "not a usable name": 0, "nickname form": 0,
                                           "forbidden word (is_name_safe)": 0, "product vocabulary": 0,
                                           "duplicate spelling": 0, "kept": 0})
        seen: dict[tuple[str, str], int] = {}  # (kind, folded name) -> index in pools[kind]
        ranked = [(info["rank"][COUNTRY], raw, info["gender"]) for raw, info in table.items() if COUNTRY in info["rank"]]
        kinds = ("F", "M") if label == "forenames" else ("S",)
        supplement = [(rank, name, {"F": 1.0} if kind == "F" else {"M": 1.0})
                      for kind in kinds for name, rank in SUPPLEMENT[kind].items()]
        counts["ranked in GB"] = len(ranked)
        counts["supplemented"] = len(supplement)
        o_stems = frozenset(raw[2:] for raw in table if raw.startswith("O ") and len(raw) > 4)
        for rank, raw, gender in sorted(ranked + supplement):
            name = canonical(raw, o_stems)
            if name is None:
                counts["not a usable name"] += 1
                continue
            if label == "forenames":
                if name in nickname_forms:
                    counts["nickname form"] += 1
                    continue
                sexes = [k for k in ("F", "M") if gender.get(k, 0) >= UNISEX_SHARE] or ["F", "M"]
            else:
                sexes = ["S"]
            if not is_name_safe(name) or any(len(w) < 3 for w in name.split("-")):
                counts["forbidden word (is_name_safe)"] += 1
                continue
            if any(len(w) >= 2 and w.upper() in vocabulary for w in _WORD.findall(f"{name} {strip_accents(name)}")):
                counts["product vocabulary"] += 1
                continue
            fresh = [k for k in sexes if (k, _fold(name)) not in seen]
            for kind in set(sexes) - set(fresh):  # Malgorzata ranked before Małgorzata: she keeps the rank
                at = seen[(kind, _fold(name))]
                kept_rank, kept_name = pools[kind][at]
                if kept_name.isascii() and not name.isascii() and rank <= ACCENTED_RANK_RATIO * kept_rank:
                    pools[kind][at] = (pools[kind][at][0], name)
            if not fresh:
                counts["duplicate spelling"] += 1
                continue
            counts["kept"] += 1
            for kind in fresh:
                seen[(kind, _fold(name))] = len(pools[kind])
                pools[kind].append((rank, name))

    rows: list[tuple[str, str, float]] = []
    for kind, pool in pools.items():
        pool.sort()
        s, q = fit(ANCHORS[kind], len(pool))
        weights = [(r + q) ** -s for r in range(1, len(pool) + 1)]
        total = sum(weights)
        shares = [w / total for w in weights]
        print(f"{kind}: {len(pool)} names, s={s:.2f} q={q:.2f}; top {pool[0][1]} {shares[0]:.2%}, "
              f"rank 20 {shares[19]:.2%}, top 100 {sum(shares[:100]):.1%}, "
              f"P(two people share it) {sum(p * p for p in shares):.5f}, smallest {shares[-1]:.1e}")
        rows += [(kind, name, share) for (_, name), share in zip(pool, shares, strict=True)]
    for label, counts in report.items():
        print(label + ": " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("kind", "name", "share"))
    writer.writerows((kind, name, f"{share:.4e}") for kind, name, share in rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT, "wb", mtime=0) as fh:  # mtime 0: the same input gives the same bytes
        fh.write(buffer.getvalue().encode("utf-8"))
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KiB, {len(rows)} rows)")


if __name__ == "__main__":
    main()
