"""`{% load money %}` … `¥{{ amount|money }}`: the platform's one money format in templates."""

from decimal import Decimal, InvalidOperation

from django import template

from billing.money import format_money

register = template.Library()


@register.filter(name="money")
def money(value) -> str:
    """format_money for a template: thousands separated, two places; an empty value prints as is."""
    if value is None or value == "":
        return ""
    try:
        return format_money(Decimal(value))
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
