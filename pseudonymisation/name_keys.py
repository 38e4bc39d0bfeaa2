"""Public name knowledge the encodings key: nickname groups and phonetic codes.

Both are public (a published nickname list, the Soundex algorithm); they only
ever reach the vault inside keyed, salted encodings
(:mod:`pseudonymisation.encodings`), never as stand-alone tokens (SPEC §3.8).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources

# -- nickname groups ---------------------------------------------------------------


class NicknameTable:
    """Forename -> nickname group names, from the public list in ``data/nicknames.csv``.

    A name's groups are the name itself plus every formal name that lists it
    as a nickname; two forenames are nickname-compatible when their groups
    intersect (``BOB``: {BOB, ROBERT, BERT, BOBBY}; ``ROBERT``: {ROBERT,
    BOB, BILL, BILLY}). Entries are folded with ``normalise`` (the ingest
    name normaliser) so they compare with normalised forenames.
    """

    def __init__(self, rows: Iterable[Sequence[str]], normalise) -> None:
        heads: dict[str, set[str]] = {}
        for row in rows:
            names = [n for n in (normalise(cell) for cell in row if cell and cell.strip()) if n]
            if not names:
                continue
            formal, nicks = names[0], names[1:]
            for nick in nicks:
                if nick != formal:
                    heads.setdefault(nick, set()).add(formal)
        self._heads = {name: frozenset(group) for name, group in heads.items()}
        #: The most groups any name has: every name's group tokens are padded to this many.
        self.widest = 1 + max((len(group) for group in self._heads.values()), default=0)

    def groups(self, name: str) -> frozenset[str]:
        return self._heads.get(name, frozenset()) | {name}


    def __len__(self) -> int:
        return len(self._heads)


def nickname_rows() -> list[list[str]]:
    """The public nickname list's rows as written (a formal name, then its nicknames)."""
    text = resources.files("pseudonymisation").joinpath("data/nicknames.csv").read_text(encoding="utf-8")
    return list(csv.reader(text.splitlines()))


@lru_cache(maxsize=1)
def nickname_table() -> NicknameTable:
    from connectors.normalise import normalise_name

    return NicknameTable(nickname_rows(), normalise_name)


# -- phonetic code -----------------------------------------------------------------

_SOUNDEX_CODES = {
    **dict.fromkeys("BFPV", "1"), **dict.fromkeys("CGJKQSXZ", "2"), **dict.fromkeys("DT", "3"),
    "L": "4", **dict.fromkeys("MN", "5"), "R": "6",
}


def soundex(name: str) -> str:
    """American Soundex of an upper-case ASCII name (``ROBERT`` -> ``R163``).

    The standard algorithm (US National Archives): keep the first letter;
    code the rest; letters with the same code separated only by H or W
    count once; vowels (and Y) separate equal codes; pad or cut to four.
    ``jellyfish.soundex`` (a maintained library, installed with
    recordlinkage) implements the same algorithm and is used when available;
    the tests check both give the same codes, so encodings never depend on
    which one ran.
    """
    if not name:
        return ""
    first = name[0]
    out = [first]
    last = _SOUNDEX_CODES.get(first, "")
    for ch in name[1:]:
        code = _SOUNDEX_CODES.get(ch)
        if code is None:
            if ch not in "HW":
                last = ""  # a vowel separates equal codes; H and W do not
            continue
        if code != last:
            out.append(code)
            if len(out) == 4:
                break
        last = code
    return "".join(out).ljust(4, "0")


try:  # pragma: no cover - depends on the environment
    import jellyfish as _jellyfish

    def phonetic_code(name: str) -> str:
        return _jellyfish.soundex(name)

except ImportError:  # pragma: no cover
    phonetic_code = soundex
