"""Template filters of the owner's pages: stored values phrased for people (loans.owner.presentation)."""

from django import template

from loans.owner.presentation import readable, sector_label

register = template.Library()


@register.filter
def sector(value) -> str:
    """"home_goods" -> "Home goods"."""
    return sector_label(value)


@register.filter
def words(value) -> str:
    """A stored slug as words: "south" -> "South", "supplier_payment" -> "Supplier payment"."""
    return readable(value)
