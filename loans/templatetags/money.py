from decimal import Decimal, InvalidOperation

from django import template

from underwriting.money import money_text, to_cents

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    """12345.6 -> "12,345.60 CNY" (Decimal, half-up to the cent; never through float)."""
    if value is None or value == "":
        return "—"
    try:
        amount = to_cents(value)
    except InvalidOperation:
        return str(value)
    return money_text(amount, currency)


@register.filter
def percent(value) -> str:
    """Decimal("18.00") (already in percent) -> "18.00%"."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)):.2f}%"
