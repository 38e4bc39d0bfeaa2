"""Evaluation of the partnership: attrition (SPEC §7.3) and reoffending (SPEC §7.4).

* :mod:`masip.evaluation.disclosure` - the disclosure control of published
  counts (pure functions; the dbt model ``attrition_disclosure_cells`` calls it);
* :mod:`masip.evaluation.matching` - propensity-score matching of the comparison group;
* :mod:`masip.evaluation.effects` - rates, pre/post change, difference-in-differences;
* :mod:`masip.evaluation.survival` - Kaplan-Meier time to reoffence;
* :mod:`masip.evaluation.reoffending` - the reoffending analyses and how their figures are published;
* :mod:`masip.evaluation.charts` - the report's charts;
* :mod:`masip.evaluation.html` - the report's HTML page;
* :mod:`masip.evaluation.report` - :func:`build_evaluation_report`: reads the warehouse, writes the report;
* :mod:`masip.evaluation.cli` - the ``masip evaluate`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from masip.evaluation.report import EvaluationResult, build_evaluation_report

__all__ = ["EvaluationResult", "build_evaluation_report"]


def __getattr__(name: str) -> Any:
    # Lazy: the dbt Python model imports masip.evaluation.disclosure and must not
    # pay for matplotlib, lifelines and scikit-learn.
    if name in __all__:
        from masip.evaluation import report

        return getattr(report, name)
    raise AttributeError(name)
