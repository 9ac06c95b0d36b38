"""`{% load staff_dashboard %}{% staff_dashboard %}`: the staff home's panels on the admin index, read for
the signed-in user (billing/dashboard.py)."""

from django import template

from billing import dashboard

register = template.Library()


@register.inclusion_tag("billing/admin/dashboard.html", takes_context=True)
def staff_dashboard(context):
    return {"panels": dashboard.panels_for(context["request"].user)}
