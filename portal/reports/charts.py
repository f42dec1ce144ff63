"""Bar charts drawn on the server as inline SVG: no script, a <title> and a <desc> for
screen readers, and every bar labelled with its name and value in text."""

from markupsafe import Markup, escape

WIDTH = 640
LABEL_WIDTH = 210
VALUE_WIDTH = 110
ROW = 26
BAR = 16
TOP = 8
#: room for the title written above a chart
CAPTION = 24
MAX_LABEL = 30


def _label(text):
    """A label short enough for its column (the full text stays in the table)."""
    text = str(text)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _number(value):
    """A count with thousands separators, or "—" when unknown."""
    return "—" if value is None else f"{value:,}"


def _svg(chart_id, title, description, height, body):
    """The <svg> element around a chart's body, its title written above the bars."""
    return Markup(  # noqa: S704 (every text and attribute value above is escaped)
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}"'
        f' viewBox="0 0 {WIDTH} {height + CAPTION}" width="100%" role="img"'
        f' aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
        f'<text class="chart-title" x="0" y="16" aria-hidden="true">{escape(title)}</text>'
        f'<g transform="translate(0 {CAPTION})">{body}</g></svg>'
    )


def bar_chart(chart_id, title, bars, *, unit=""):
    """Horizontal bars, one per (label, value); a value of None is drawn as no bar, "—"."""
    bars = list(bars)
    if not bars:
        return _svg(chart_id, title, "No data yet.", 30, _empty())
    top = max((value or 0) for _, value in bars) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = []
    for n, (label, value) in enumerate(bars):
        y = TOP + n * ROW
        length = round(span * (value or 0) / top)
        parts.append(
            f'<g class="chart-row"><text class="chart-label" x="{LABEL_WIDTH - 8}" y="{y + 12}"'
            f' text-anchor="end">{escape(_label(label))}</text>'
            f'<rect class="chart-bar" x="{LABEL_WIDTH}" y="{y}" width="{length}"'
            f' height="{BAR}"><title>{escape(label)}: {_number(value)}{escape(unit)}</title></rect>'
            f'<text class="chart-value" x="{LABEL_WIDTH + length + 6}" y="{y + 12}">'
            f"{_number(value)}{escape(unit)}</text></g>"
        )
    summary = "; ".join(f"{label}: {_number(value)}{unit}" for label, value in bars)
    return _svg(chart_id, title, summary, TOP * 2 + ROW * len(bars), "".join(parts))


def paired_chart(chart_id, title, rows, names):
    """Two bars per row, (label, first, second), named by `names` in a legend; for
    delivered against contracted."""
    rows = list(rows)
    if not rows:
        return _svg(chart_id, title, "No data yet.", 30, _empty())
    top = max(max(a or 0, b or 0) for _, a, b in rows) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    half = BAR // 2 + 1
    pair_row = ROW + half
    legend = (
        f'<g class="chart-legend"><rect class="chart-bar" x="{LABEL_WIDTH}" y="4" width="12"'
        f' height="10"/><text x="{LABEL_WIDTH + 16}" y="13">{escape(names[0])}</text>'
        f'<rect class="chart-bar chart-bar-second" x="{LABEL_WIDTH + 150}" y="4" width="12"'
        f' height="10"/><text x="{LABEL_WIDTH + 166}" y="13">{escape(names[1])}</text></g>'
    )
    parts = [legend]
    for n, (label, first, second) in enumerate(rows):
        y = 24 + n * pair_row
        parts.append(
            f'<g class="chart-row"><text class="chart-label" x="{LABEL_WIDTH - 8}"'
            f' y="{y + half + 4}" text-anchor="end">{escape(_label(label))}</text>'
        )
        for k, (name, value) in enumerate(zip(names, (first, second), strict=True)):
            length = round(span * (value or 0) / top)
            extra = " chart-bar-second" if k else ""
            parts.append(
                f'<rect class="chart-bar{extra}" x="{LABEL_WIDTH}" y="{y + k * half}"'
                f' width="{length}" height="{half - 1}"><title>{escape(label)}, {escape(name)}:'
                f" {_number(value)}</title></rect>"
                f'<text class="chart-value" x="{LABEL_WIDTH + length + 6}"'
                f' y="{y + k * half + half - 2}">{_number(value)}</text>'
            )
        parts.append("</g>")
    summary = "; ".join(
        f"{label}: {names[0]} {_number(a)}, {names[1]} {_number(b)}" for label, a, b in rows
    )
    return _svg(chart_id, title, summary, 24 + pair_row * len(rows) + TOP, "".join(parts))


def _empty():
    """The body of a chart without data."""
    return '<text class="chart-empty" x="8" y="20">No data yet.</text>'
