"""``segctl data check``: run a dataset's verification pass alone and print its report."""
from __future__ import annotations

from collections import Counter

from rich.table import Table

from .session import Session


def check(data: str, session: Session, splits=("train", "val", "test"), strict: bool = False,
          max_list: int = 50) -> dict:
    """Verify every split named in the dataset config; print a summary table and every issue.

    Returns ``{split: VerifyReport}``. Nothing is written to the dataset except its label cache.
    """
    from .cli.render import console

    cfg, fmt = session.resolve_data(data)
    out = console()
    reports = {}
    summary = Table(title=f"dataset check: {cfg.get('yaml_file', data)} ({cfg.get('format')})")
    for col in ("split", "images", "missing labels", "empty", "corrupt/skipped", "instances", "issues"):
        summary.add_column(col)
    for split in splits:
        if not cfg.get(split):
            continue
        index = fmt.load(cfg, split, task="segment", strict=strict)
        r = index.report
        reports[split] = r
        summary.add_row(split, str(r.found), str(r.missing), str(r.empty), str(r.corrupt), str(r.instances),
                        str(len(r.issues)))
    out.print(summary)
    for split, r in reports.items():
        if not r.issues:
            continue
        reasons = Counter(i.reason.split(":")[0] for i in r.issues)
        t = Table(title=f"{split}: issues by reason")
        t.add_column("reason")
        t.add_column("count", justify="right")
        for reason, n in reasons.most_common():
            t.add_row(reason, str(n))
        out.print(t)
        for issue in r.issues[:max_list]:
            out.print(f"  [yellow]{issue.action}[/] {issue}", markup=True, highlight=False)
        if len(r.issues) > max_list:
            out.print(f"  ... and {len(r.issues) - max_list} more")
    return reports
