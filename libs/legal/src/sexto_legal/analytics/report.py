"""`sexto report`: the figures of `sexto stats` as one self-contained HTML page.

The page is rendered from the `Statistics` that `sexto stats` prints (`compute_stats`),
never recomputed: its charts are inline SVG drawn here, and the figures themselves are
embedded as JSON (`<script type="application/json" id="sexto-figures">`), the same
document `sexto stats --json` prints. Nothing is fetched when the page is viewed: no
script, font, style sheet or image from anywhere.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from html import escape

from sexto_legal.stats import QUALIFIED, Statistics

FIGURES_ID = "sexto-figures"
_WIDTH, _LABEL, _ROW = 720, 260, 22


def _bars(title: str, rows: Sequence[tuple[str, float, str]], unit: str) -> str:
    """A horizontal bar chart: (label, value, text shown beside the bar) per bar."""
    if not rows:
        return f"<h2>{escape(title)}</h2><p class='none'>nothing recorded yet</p>"
    top = max(value for _, value, _ in rows) or 1.0
    span = _WIDTH - _LABEL - 90
    height = _ROW * len(rows) + 10
    parts = [
        f"<h2>{escape(title)}</h2>",
        f"<svg role='img' aria-label='{escape(title)}' width='{_WIDTH}' height='{height}' "
        f"viewBox='0 0 {_WIDTH} {height}' xmlns='http://www.w3.org/2000/svg'>",
    ]
    for i, (label, value, text) in enumerate(rows):
        y = 5 + i * _ROW
        width = max(span * value / top, 1.0)
        parts.append(
            f"<g data-label='{escape(label)}' data-value='{value}'>"
            f"<text x='{_LABEL - 6}' y='{y + 15}' text-anchor='end'>{escape(label)}</text>"
            f"<rect x='{_LABEL}' y='{y + 3}' width='{width:.1f}' height='{_ROW - 6}'/>"
            f"<text x='{_LABEL + width + 6:.1f}' y='{y + 15}'>{escape(text)}</text></g>"
        )
    parts.append(f"</svg><p class='unit'>{escape(unit)}</p>")
    return "".join(parts)


def charts(figures: Statistics) -> list[str]:
    """The page's charts, in order."""
    months: Counter[tuple[str, str]] = Counter()
    for (month, territory, _protocol), n in figures.per_month.items():
        months[(month, territory)] += n
    per_month = [(f"{m} {t}", float(n), str(n)) for (m, t), n in sorted(months.items())]
    times = []
    for name, f in figures.milestones.items():
        for which, value in (("median", f.median_hours), ("p90", f.p90_hours)):
            if value is not None:
                times.append((f"{name} ({which})", value, f"{value:.1f} h ({f.cases} cases)"))
    shares = [
        (decision, share, f"{share:.1%} ({figures.decisions.get(decision, 0)} student(s))")
        for decision in QUALIFIED
        if (share := figures.share(decision)) is not None
    ]
    apart = figures.decisions.get("no_further_action", 0)
    overdue = [(step, float(n), str(n)) for step, n in sorted(figures.overdue.items())]
    uk = [(outcome, float(n), str(n)) for outcome, n in sorted(figures.uk_outcomes.items())]
    return [
        _bars("Cases per month (of discovery, UTC) and territory", per_month, "cases"),
        _bars("Hours from discovery to each milestone", times, "hours: median and 90th percentile"),
        _bars(
            "Prosecutor's decisions: impulsive and malicious shares",
            shares,
            f"share of impulsive + malicious latest decisions; no further action, counted "
            f"apart: {apart} student(s)",
        ),
        _bars("Overdue steps", overdue, "deadline breaches recorded, per step"),
        _bars("UK path: outcomes", uk, "uk-dsl cases referred to each agency, or to none"),
    ]


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}"
    "rect{fill:#3b6ea5}svg text{font-size:12px;fill:#222}.unit,.none{color:#666;font-size:90%}"
)


def render_report(figures: Statistics, *, generated_at: str, scope: str) -> str:
    """The HTML page of these figures."""
    data = json.dumps(figures.to_json(), sort_keys=True).replace("</", "<\\/")
    unreadable = (
        f"<p>{figures.unreadable} stored event(s) could not be read and are left out.</p>"
        if figures.unreadable
        else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>SEXTO figures</title><style>{_STYLE}</style></head><body>"
        f"<h1>SEXTO figures: {figures.cases} case(s)</h1>"
        f"<p>{escape(scope)}; generated {escape(generated_at)} from the log, by the same "
        "computation as <code>sexto stats</code>. Aggregates only.</p>"
        f"{unreadable}{''.join(charts(figures))}"
        f"<script type='application/json' id='{FIGURES_ID}'>{data}</script>"
        "</body></html>\n"
    )
