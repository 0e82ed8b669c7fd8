"""The drop threshold: refuse to train when too many images were unusable.

Why: a dataset where a third of the images fail to decode or lose all their labels trains a model
that looks fine and is quietly wrong. The trainer calls :func:`check_drop_ratio` before the first
epoch; the error carries a table of reasons and the first offending files so the fix is obvious.
"""
from __future__ import annotations

from collections import Counter

from segctl.data import VerifyReport
from segctl.errors import DataError


def drop_table(report: VerifyReport, first_n: int = 10) -> str:
    """Plain-text table: skipped images counted by reason category, then the first files."""
    skipped = report.skipped
    counts = Counter(i.reason.split(":")[0] for i in skipped)
    width = max([len(r) for r in counts] + [6])
    lines = [f"{'reason':<{width}}  count"]
    lines += [f"{r:<{width}}  {n}" for r, n in counts.most_common()]
    lines.append(f"first {min(first_n, len(skipped))} of {len(skipped)} skipped file(s):")
    lines += [f"  {i.path}: {i.reason}" for i in skipped[:first_n]]
    return "\n".join(lines)


def check_drop_ratio(report: VerifyReport, max_drop_ratio: float = 0.2, first_n: int = 10) -> float:
    """Return the fraction of images skipped; raise :class:`DataError` when it exceeds
    ``max_drop_ratio`` (or when nothing usable is left). Background images do not count as dropped."""
    total = max(report.found, 1)
    n = len(report.skipped)
    ratio = n / total
    if ratio > max_drop_ratio or (report.found and n >= report.found):
        raise DataError(f"{n} of {report.found} images ({ratio:.0%}) are unusable, more than the allowed "
                        f"{max_drop_ratio:.0%}\n{drop_table(report, first_n)}",
                        hint="fix or remove the listed files, or raise max_drop_ratio to accept the loss")
    return ratio
