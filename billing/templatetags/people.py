from django import template

from billing.people import display_name

register = template.Library()


@register.filter(name="person_name")
def person_name(user) -> str:
    """{{ user|person_name }}: 李婷 for a Chinese name, Ada Lovelace otherwise (billing.people)."""
    return display_name(user)
