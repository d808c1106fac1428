from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    """12345.6 -> "12,345.60 CNY" (Decimal, half-up to the cent; never through float)."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return str(value)
    text = f"{amount:,.2f}"
    return f"{text} {currency}".strip()


@register.filter
def percent(value) -> str:
    """Decimal("18.00") (already in percent) -> "18.00%"."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)):.2f}%"
