"""Why a drop is rejected (:class:`DropRejected`), and one rejection naming every failing file of a drop.

A drop is loaded whole or not at all, so one failing file rejects it; a
reason that named only the first failing file sent the drop back once per
file. A drop's files are checked one after another (:class:`FileFailures`),
and its rejection names each file that fails with its own reason: the first
whole, so that the reason starts as the README's table of reasons lists it,
then the others, at most :data:`MAX_FILES_NAMED` files in all. Each reason
names its file only by a table's file name (the manifest's file names are
checked to be those before any file is read), so naming several shows no
more of the input than naming one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

#: The most files a rejection names; the others are counted.
MAX_FILES_NAMED = 10


class DropRejected(Exception):
    """The drop cannot be loaded; ``reason`` says why and what to do."""

    def __init__(self, reason: str, problem: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problem = problem or reason  # what is wrong, without what to do


class FileFailures:
    """The rejections of a drop's files, each file checked in a :meth:`checking` block; :meth:`raise_if_any`
    rejects the drop naming every file that failed."""

    def __init__(self) -> None:
        self._rejections: list[DropRejected] = []

    @contextmanager
    def checking(self) -> Iterator[None]:
        """A check of one file: the rejection it raises is kept, and the next file is checked."""
        try:
            yield
        except DropRejected as rejection:
            self._rejections.append(rejection)

    def raise_if_any(self) -> None:
        """Reject the drop for the files that failed so far, if any (:func:`one_rejection`)."""
        if self._rejections:
            raise one_rejection(self._rejections)


def _sentence(text: str) -> str:
    return text.rstrip(". ") + "."


def _listed(texts: Sequence[str]) -> str:
    """The first file's text whole, then the others' numbered, then how many are not named."""
    first, *others = texts
    named = [f"({number}) {_sentence(text)}" for number, text in enumerate(others[: MAX_FILES_NAMED - 1], start=2)]
    unnamed = len(others) - len(named)
    more = [f"And {unnamed} more file(s) fail, not named here."] if unnamed else []
    return " ".join([_sentence(first), f"{len(others)} other file(s) of the drop fail too:", *named, *more])


def one_rejection(rejections: Sequence[DropRejected]) -> DropRejected:
    """One rejection for the failing files of a drop (their rejections, in the order the files were checked)."""
    if len(rejections) == 1:
        return rejections[0]
    return DropRejected(_listed([r.reason for r in rejections]), _listed([r.problem for r in rejections]))
