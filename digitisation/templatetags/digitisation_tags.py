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
    the template language spends several times longer on them than the queries take."""
    none_text = conditional_escape(chart.get("none_text") or "—")
    links = chart.get("links") or []
    out = []
    for i, row in enumerate(chart["rows"]):
        label = conditional_escape(cell(row[0]))
        if i < len(links) and links[i]:
            label = f'<a href="{conditional_escape(links[i])}">{label}</a>'
        cells = [f'<tr><th scope="row">{label}</th>']
        for value in row[1:]:
            if value is None:
                cells.append(f'<td data-value="" class="none">{none_text}</td>')
            elif isinstance(value, int) and not isinstance(value, bool):
                cells.append(f'<td data-value="{value}" class="num">{value:,}</td>')
            else:
                raw = value.isoformat() if isinstance(value, dt.date) else value
                cells.append(f'<td data-value="{conditional_escape(raw)}" class="num">{conditional_escape(cell(value))}</td>')
        cells.append("</tr>")
        out.append("".join(cells))
    return mark_safe("".join(out))  # every value above went through conditional_escape
