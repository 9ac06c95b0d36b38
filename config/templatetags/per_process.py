"""What every visitor's page repeats, made once per process and kept in its memory.

`{% load per_process %}`
- `{% per_process "site_header" LANGUAGE_CODE user.is_authenticated %}…{% endper_process %}`: the fragment
  rendered on its first use for those values, then copied. Only for markup that depends on nothing but the
  named values and what a process never changes (translations, URLs, the static files' manifest); nothing
  in it is shared between processes or needs invalidating. Django's `{% cache %}` in a LocMem cache did the
  same at several times the cost: a key digest, a lock and a pickle per fragment per request (the bill-lookup
  page, docs/benchmarks.md).
- `kept(("name", language), make)`: the same for markup made in Python (the lookup page's bill rows).
- `{% fixed_url "payers:checkout" %}`: `{% url %}` for a URL without arguments, reversed once per process
  (config.fixed_urls).
- `{% page_settings %}`: partials/page_settings.html (the large-text and language forms of every page's
  header), kept per language and mode with the two things it says about the request put in on each render.
"""

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from config import fixed_urls

register = template.Library()

# (fragment name, vary values) → markup. Bounded: a fragment varied on something per visitor by mistake
# would otherwise grow without end; past the bound the memory starts again.
MAX_FRAGMENTS = 1000
_fragments: dict[tuple, str] = {}


def clear() -> None:
    """Forget every kept fragment and URL (tests that change a URLconf or a translation)."""
    _fragments.clear()
    fixed_urls.clear()


def kept(key: tuple, make) -> str:
    """The markup kept under `key`, made by calling `make()` (escaped, safe to output) on its first use."""
    markup = _fragments.get(key)
    if markup is None:
        if len(_fragments) >= MAX_FRAGMENTS:
            _fragments.clear()
        markup = _fragments[key] = mark_safe(make())
    return markup


class PerProcessNode(template.Node):
    # A kept fragment is one piece: `{% extends %}` walks the parent's nodes for its blocks on every render
    # and need not look inside (a block there could not be overridden anyway: the first rendering is kept).
    child_nodelists = ()

    def __init__(self, nodelist, name: str, vary_on):
        self.nodelist = nodelist
        self.name = name
        self.vary_on = vary_on
        # A value that is a bare name (LANGUAGE_CODE, elderly_mode) is read from the context directly: the
        # variable machinery's lookup, per name and fragment, cost more than the kept fragment's.
        self.names = [
            expression.var.lookups[0] if _is_bare_name(expression) else None for expression in vary_on
        ]

    def render(self, context):
        key = [self.name]
        for name, expression in zip(self.names, self.vary_on, strict=True):
            value = context.get(name) if name is not None else None
            key.append(value if value is not None and not callable(value) else expression.resolve(context))
        return kept(tuple(key), lambda: self.nodelist.render(context))


def _is_bare_name(expression) -> bool:
    var = expression.var
    return (
        not expression.filters
        and isinstance(var, template.Variable)
        and var.literal is None
        and not var.translate
        and len(var.lookups) == 1
    )


@register.tag("per_process")
def per_process(parser, token):
    bits = token.split_contents()
    if len(bits) < 2 or bits[1][0] not in "\"'" or bits[1][0] != bits[1][-1]:
        raise template.TemplateSyntaxError(f"{bits[0]} needs a quoted fragment name first")
    nodelist = parser.parse(("endper_process",))
    parser.delete_first_token()
    return PerProcessNode(nodelist, bits[1][1:-1], [parser.compile_filter(bit) for bit in bits[2:]])


class FixedUrlNode(template.Node):
    """Its own node rather than a `simple_tag`: the tag machinery (resolving the literal argument, the
    output's escaping) cost more than the lookup of the kept URL itself."""

    child_nodelists = ()

    def __init__(self, name: str):
        self.name = name

    def render(self, context):
        return conditional_escape(fixed_urls.fixed_reverse(self.name))


@register.tag("fixed_url")
def fixed_url(parser, token):
    bits = token.split_contents()
    if len(bits) != 2 or bits[1][0] not in "\"'" or bits[1][0] != bits[1][-1]:
        raise template.TemplateSyntaxError(f"{bits[0]} takes one quoted URL name")
    return FixedUrlNode(bits[1][1:-1])


# What the kept page settings hold in place of the request's CSRF token and path: characters no token or
# escaped path contains, and which escaping leaves as they are.
_TOKEN_HOLE = "\x00csrf-token\x00"
_PATH_HOLE = "\x00full-path\x00"
_CSRF_INPUT_HOLE = CsrfTokenNode().render(template.Context({"csrf_token": _TOKEN_HOLE}))


class _PathHole:
    """The request as the kept page settings see it: a path that is a placeholder."""

    def get_full_path(self) -> str:
        return _PATH_HOLE


class PageSettingsNode(template.Node):
    """The partial rendered once per process for a language and mode with placeholders, which each render
    replaces by the CSRF token's input (as `{% csrf_token %}` writes it) and the page's path (escaped, as
    `{{ here }}` writes it): the same markup as `{% include %}`, without rendering its ~15 nodes again
    (the bill-lookup page, docs/benchmarks.md)."""

    child_nodelists = ()
    template_name = "partials/page_settings.html"

    def render(self, context):
        key = ("page_settings", context.get("LANGUAGE_CODE"), context.get("elderly_mode"))
        markup = kept(key, lambda: self._render_with_holes(context))
        request = context.get("request")
        path = request.get_full_path() if request is not None else ""
        return mark_safe(
            markup.replace(_CSRF_INPUT_HOLE, CsrfTokenNode().render(context)).replace(
                _PATH_HOLE, conditional_escape(path) if context.autoescape else path
            )
        )

    def _render_with_holes(self, context) -> str:
        partial = context.template.engine.get_template(self.template_name)
        with context.push(csrf_token=_TOKEN_HOLE, request=_PathHole()):
            return partial.render(context)


@register.tag("page_settings")
def page_settings(parser, token):
    if len(token.split_contents()) != 1:
        raise template.TemplateSyntaxError("page_settings takes no arguments")
    return PageSettingsNode()
