"""Template helpers of the audit console and the risk dashboard (issue 6)."""

from django import template

from loans.reviews.selectors import review_queue_count as count

register = template.Library()


@register.filter
def percent(value, digits=1):
    """0.0123 -> "1.23%" (with digits=2); empty for None."""
    if value is None or value == "":
        return ""
    return f"{100 * float(value):.{int(digits)}f}%"


@register.filter
def sci(value):
    if value is None or value == "":
        return ""
    return f"{float(value):.2e}"


@register.filter
def ms(value):
    if value is None:
        return "n/a"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


@register.simple_tag
def review_queue_count():
    """The queue's size as shown: "1000+" past the cap."""

    n, capped = count()
    return f"{n}+" if capped else str(n)


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
