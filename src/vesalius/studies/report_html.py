"""Management reports as HTML: server-rendered SVG bar charts and a standalone page.

The charts are plain SVG strings built here (no JavaScript, no third-party library);
every text is escaped. The dashboard page of the web UI embeds the same charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from vesalius.studies.reports import COLUMNS, Report, SiteReport

BAR = 18
GAP = 10
LABEL = 110
WIDTH = 460
COLOURS = ("#3465a4", "#9fb8d8", "#c0392b", "#e67e22")


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    series: tuple[tuple[str, str], ...]  # (SiteReport attribute, legend)
    percent: bool = False


CHARTS = (
    Chart(
        "received",
        "Visits received versus expected",
        (("visits_received", "received"), ("visits_expected", "expected")),
    ),
    Chart("adherence", "Adherence rate", (("adherence_rate", "conforming studies"),), True),
    Chart("qc", "QC failures (series)", (("qc_failures", "failed series"),)),
    Chart(
        "overdue",
        "Overdue and missed visits",
        (("visits_overdue", "overdue"), ("visits_missed", "missed")),
    ),
)


def _fmt(value: float | int | None, percent: bool) -> str:
    if value is None:
        return "–"
    if percent:
        return f"{value * 100:.0f}%"
    return str(value)


def bar_chart(chart: Chart, rows: list[SiteReport]) -> str:
    """A horizontal bar chart, one group of bars per site."""
    values = [[getattr(r, attr) for attr, _ in chart.series] for r in rows]
    top = 1.0 if chart.percent else max([v or 0 for vs in values for v in vs] + [1])
    group = BAR * len(chart.series) + GAP
    height = 24 + group * len(rows) + 20
    plot = WIDTH - LABEL - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'data-chart="{chart.key}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
    ]
    y = 24
    for r, vs in zip(rows, values, strict=True):
        parts.append(
            f'<text x="{LABEL - 6}" y="{y + group / 2 - GAP / 2 + 4}" text-anchor="end" '
            f'font-size="12">{escape(r.site)}</text>'
        )
        for index, ((attr, legend), value) in enumerate(zip(chart.series, vs, strict=True)):
            length = 0 if value is None else plot * (value / top)
            colour = COLOURS[index % len(COLOURS)]
            text = _fmt(value, chart.percent)
            parts.append(
                f'<rect x="{LABEL}" y="{y}" width="{length:.1f}" height="{BAR - 3}" '
                f'fill="{colour}" data-site="{escape(r.site)}" data-series="{attr}" '
                f'data-value="{text}"><title>{escape(r.site)} {legend}: {text}</title></rect>'
            )
            parts.append(
                f'<text x="{LABEL + length + 4:.1f}" y="{y + BAR - 6}" font-size="11">{text}</text>'
            )
            y += BAR
        y += GAP
    x = LABEL
    for index, (_, legend) in enumerate(chart.series):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="13" font-size="11">{escape(legend)}</text>')
        x += 20 + 7 * len(legend)
    parts.append("</svg>")
    return "".join(parts)


def charts(report: Report) -> list[tuple[Chart, str]]:
    return [(c, bar_chart(c, report.sites)) for c in CHARTS]


def cell(report_row: SiteReport, column: str) -> str:
    value = getattr(report_row, column)
    if value is None:
        return ""
    if column == "adherence_rate":
        return f"{value:.4f}"
    return str(value)


def table(report: Report) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = []
    for r in report.rows():
        cells = "".join(f'<td data-column="{c}">{escape(cell(r, c))}</td>' for c in COLUMNS)
        body.append(f'<tr data-site="{escape(r.site)}">{cells}</tr>')
    return (
        f'<table class="list report" id="report"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def to_html(report: Report) -> str:
    """A standalone page: the table and the charts, inline CSS, no script."""
    scope = "all sites" if report.scope is None else ", ".join(report.scope)
    figures = "".join(
        f"<figure><figcaption>{escape(c.title)}</figcaption>{svg}</figure>"
        for c, svg in charts(report)
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Report {escape(report.project)}</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}"
        "figure{display:inline-block;margin:1em}</style></head><body>"
        f"<h1>Management report: {escape(report.project)}</h1>"
        f"<p>Protocol version {report.protocol_version or '–'}; as of {report.today}; "
        f"generated {escape(report.generated_at)}; sites: {escape(scope)}.</p>"
        f"{table(report)}{figures}</body></html>\n"
    )
