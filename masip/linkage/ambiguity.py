"""Links the model cannot vouch for: held back from the clustering, and queued for clerical review.

Two kinds of scored link are held back, however strong:

* **Twins.** Two siblings born on one day share a surname, a date of birth,
  a sex and an address: only the forename tells them apart, and the other
  agreements outweigh its disagreement. A pair whose forenames are both
  recorded and unalike at every level of the model while the surnames agree
  (:func:`masip.linkage.fuzzy.forenames_differ_sql`, flagged as the pair is
  scored and kept with it in the linkage state) is not linked. A nickname
  the list does not know (Mikey for Michael) looks the same in the
  encodings: the reviewer, who can look both records up, decides.
* **A record without a date of birth between namesakes.** Such a record (an
  advocacy client recorded by name and postcode, a name on a health contact)
  can score as a sure match against two dated records whose dates of birth
  cannot be one person's: a father and his son at one address, two women of
  one name in one street. The union-find took the stronger of the two links
  and refused the other (the date guard of :mod:`masip.linkage.cluster`),
  which pinned the record on one of them by a difference in score the model
  cannot vouch for: in a case pack, another person's incidents. Such a
  record keeps neither of those links (:func:`undated_between_namesakes`).

Either way the pairs go to the clerical review queue
(:func:`masip.linkage.review.banded_pairs`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from masip.linkage.cluster import dobs_compatible

_DATE_PARTS = ("dob", "unordered", "year_month", "year_day")


def undated_between_namesakes(edges: pd.DataFrame, dob: np.ndarray, rank: int) -> np.ndarray:
    """Whether each of ``edges`` is a link of ``rank`` (the probabilistic one) of a record that has no date of
    birth and whose links of that rank reach two records whose dates of birth cannot be one person's.

    ``dob``: each record's date-of-birth codes (:attr:`masip.linkage.cluster.Attributes.dob`; -1 unknown).
    """
    i, j = edges["i"].to_numpy(dtype=np.int64), edges["j"].to_numpy(dtype=np.int64)
    scored = edges["rank"].to_numpy(dtype=np.int64) == rank
    undated = dob[:, 0] < 0
    left, right = scored & undated[i] & ~undated[j], scored & undated[j] & ~undated[i]
    record, dated = np.concatenate([i[left], j[right]]), np.concatenate([j[left], i[right]])
    held = np.zeros(len(edges), dtype=bool)
    if not len(record):
        return held
    # one row per undated record and distinct date of birth it reaches: a handful each (a name and a postcode)
    reached = pd.DataFrame({"record": record, **dict(zip(_DATE_PARTS, dob[dated].T))}).drop_duplicates()
    reached = reached[reached.duplicated("record", keep=False)]
    pairs = reached.merge(reached, on="record", suffixes=("_a", "_b"))
    pairs = pairs[pairs["dob_a"] < pairs["dob_b"]]
    clash = ~dobs_compatible(
        pairs[[f"{part}_a" for part in _DATE_PARTS]].to_numpy(), pairs[[f"{part}_b" for part in _DATE_PARTS]].to_numpy()
    )
    ambiguous = np.zeros(len(dob), dtype=bool)
    ambiguous[pairs["record"].to_numpy(dtype=np.int64)[clash]] = True
    return scored & (ambiguous[i] | ambiguous[j])
