"""`{% staff_header %}`: the counter's header — branch, clerk, till status and sign-out — instead of the
citizen portal's."""

from django import template

from branches import selectors

register = template.Library()


@register.inclusion_tag("branches/counter/_staff_header.html", takes_context=True)
def staff_header(context):
    request = context["request"]
    till = context.get("till")
    if till is None and request.user.is_authenticated:
        till = selectors.open_till_of(request.user)
    branches = [till.branch] if till is not None else getattr(request, "counter_branches", [])
    return {"request": request, "user": request.user, "till": till, "branches": branches}
