import datetime as dt

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def cell(value, none_text=None):
    """A table cell as people read it: thousands separated, dates as days, a gap said in words."""
    if value is None:
        return none_text or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"  # en-GB grouping; humanize's intcomma costs 0.2 ms a cell through the locale machinery
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, dt.date):
        return value.strftime("%-d %b %Y")
    return value


@register.filter
def index(sequence, i):
    try:
        return sequence[i]
    except (IndexError, TypeError, KeyError):
        return ""


@register.simple_tag
def chart_table_body(chart):
    """The rows of a chart's table, built in one pass: a two-year view has a thousand cells, and
    the template language spends several times longer on them than the queries take.

    A "stacked" chart's table becomes one card per row on a phone (dashboard.css): each cell then
    carries its column's name, and explicit roles keep the table's semantics, which some browsers
    drop from table elements displayed as blocks."""
    none_text = conditional_escape(chart.get("none_text") or "—")
    links = chart.get("links") or []
    stacked = bool(chart.get("stacked"))
    row_open = '<tr role="row"><th scope="row" role="rowheader">' if stacked else '<tr><th scope="row">'
    extras = [f' role="cell" data-label="{conditional_escape(c)}"' for c in chart["columns"][1:]] if stacked else None
    out = []
    for i, row in enumerate(chart["rows"]):
        label = conditional_escape(cell(row[0]))
        if i < len(links) and links[i]:
            label = f'<a href="{conditional_escape(links[i])}">{label}</a>'
        cells = [f"{row_open}{label}</th>"]
        for j, value in enumerate(row[1:]):
            extra = extras[j] if extras else ""
            if value is None:
                cells.append(f'<td data-value="" class="none"{extra}>{none_text}</td>')
            elif isinstance(value, int) and not isinstance(value, bool):
                cells.append(f'<td data-value="{value}" class="num"{extra}>{value:,}</td>')
            elif isinstance(value, str):  # a name: left-aligned and free to wrap, unlike a number
                cells.append(f'<td data-value="{conditional_escape(value)}"{extra}>{conditional_escape(value)}</td>')
            else:
                raw = value.isoformat() if isinstance(value, dt.date) else value
                cells.append(f'<td data-value="{conditional_escape(raw)}" class="num"{extra}>{conditional_escape(cell(value))}</td>')
        cells.append("</tr>")
        out.append("".join(cells))
    return mark_safe("".join(out))  # every value above went through conditional_escape
