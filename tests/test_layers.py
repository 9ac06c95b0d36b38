"""The apps form layers, lowest first: a module imports from its own app or from a lower layer, never from
a higher one, nor from another app of its own layer. Read from the source (ast), imports inside functions
included, so a lazy import cannot hide an upward dependency."""

import ast
from pathlib import Path

from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)

# Lowest first. A name is an app (a top-level package) or a module of one placed in another layer; a
# module belongs to the longest name it starts with.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config",),  # settings, environment helpers, the client's address: read by every app, imports none
    ("billing",),  # the core: billers, bills, posting, ledger, fees, audit, and the access mechanism
    ("payers",),  # the online channel: the citizens' portal, gateways, receipts
    ("branches",),  # the cash channel: outlets, counters, tills (it mails the portal's payers)
    ("disputes",),  # disputes from every channel: reconciliation settles them, the APIs raise and answer them
    ("reconciliation", "api"),  # statements and settlement; the open APIs: neither knows the other
    ("demo",),  # the demo region of `make run`: reads every app, read by none
    ("config.urls",),  # the root URLconf: mounts every app's pages
)


def unit_of(module: str) -> str | None:
    """The layer name a dotted module belongs to, or None outside the layered apps (Django, tests…)."""
    names = [name for layer in LAYERS for name in layer]
    matches = [name for name in names if module == name or module.startswith(name + ".")]
    return max(matches, key=len, default=None)


def rank_of(unit: str) -> int:
    return next(rank for rank, layer in enumerate(LAYERS) if unit in layer)


def app_of(unit: str) -> str:
    return unit.split(".")[0]


def module_of(path: str) -> tuple[str, str]:
    """The dotted module of a file under the project root, and the package its relative imports start from."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def imported_modules(source: str, package: str):
    """(line, dotted module) of every import in the source, relative ones resolved against `package`;
    `from billing import demo` gives both billing and billing.demo, which may be a module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = node.module if not node.level else ".".join(filter(None, (base, node.module)))
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def offences_in(path: str, source: str) -> list[str]:
    """What the file at `path` (relative to the project root) imports against the layers, one line each."""
    module, package = module_of(path)
    here = unit_of(module)
    if here is None:
        return []
    found: dict[tuple[int, str], str] = {}
    for line, target in imported_modules(source, package):
        there = unit_of(target)
        if there is None or there == here or rank_of(there) < rank_of(here):
            continue
        if (line, there) not in found or len(target) < len(found[line, there]):
            found[line, there] = target
    return [
        f"{path}:{line} imports {target} ({there} is "
        f"{'in the same layer as' if rank_of(there) == rank_of(here) else 'above'} {here})"
        for (line, there), target in sorted(found.items())
    ]


def layered_files() -> list[Path]:
    apps_here = sorted({app_of(name) for layer in LAYERS for name in layer})
    return [path for app in apps_here for path in sorted((ROOT / app).rglob("*.py"))]


def test_every_app_of_the_project_has_its_place_in_the_layers():
    layered = {app_of(name) for layer in LAYERS for name in layer}
    ours = {
        config.name.split(".")[0]
        for config in apps.get_app_configs()
        if Path(config.path).resolve().parent == ROOT.resolve()  # not the apps installed in a .venv here
    }
    assert ours | {"config"} == layered, "place every app of the project in LAYERS"
    assert settings.INSTALLED_APPS[-1] == "demo", "the demo app comes last: it sits above every app"


def test_no_module_imports_from_a_higher_app_or_a_peer():
    offences = []
    for path in layered_files():
        offences += offences_in(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
    assert not offences, "imports against the layers (tests/test_layers.py):\n" + "\n".join(offences)


def test_the_check_reports_an_upward_import_even_inside_a_function_and_a_peer_import():
    source = (
        "from billing.models import Bill\n"
        "from . import roles\n"
        "from branches.models import Branch\n"
        "def seed():\n"
        "    from demo import data\n"
        "    import api.models\n"
    )
    assert offences_in("billing/example.py", source) == [
        "billing/example.py:3 imports branches.models (branches is above billing)",
        "billing/example.py:5 imports demo (demo is above billing)",
        "billing/example.py:6 imports api.models (api is above billing)",
    ]
    assert offences_in("reconciliation/services.py", "from api import credentials\n") == [
        "reconciliation/services.py:1 imports api (api is in the same layer as reconciliation)",
    ]


def test_the_check_lets_an_app_import_its_own_modules_and_lower_apps():
    assert (
        offences_in("api/services.py", "from billing.services import post_payment\nfrom api import models\n")
        == []
    )
    assert (
        offences_in(
            "demo/seed.py", "from branches.models import Branch\nfrom reconciliation import services\n"
        )
        == []
    )
    assert offences_in("config/urls.py", "from branches import urls\n") == []
    assert offences_in("billing/tasks.py", "from config.celery import app\n") == []


def test_no_app_imports_the_demo():
    importers = []
    for path in layered_files():
        module, package = module_of(str(path.relative_to(ROOT)))
        if unit_of(module) == "demo":
            continue
        importers += [
            f"{module}:{line} imports {target}"
            for line, target in imported_modules(path.read_text(encoding="utf-8"), package)
            if unit_of(target) == "demo"
        ]
    assert importers == []


# Within an app, reads sit below writes: services may read through selectors, selectors never call a
# service (a read that needs a rule finds it in selectors or a rules module).


def is_selectors(module: str) -> bool:
    return "selectors" in module.split(".")


def services_imported_by(module: str, package: str, source: str) -> list[str]:
    """`line imports target` for each import of a services module (any app's) in the source."""
    found = {
        (line, ".".join(target.split(".")[: target.split(".").index("services") + 1]))
        for line, target in imported_modules(source, package)
        if "services" in target.split(".")
    }
    return [f"{module}:{line} imports {target}" for line, target in sorted(found)]


def test_no_selectors_module_imports_a_services_module():
    importers = []
    for path in layered_files():
        module, package = module_of(str(path.relative_to(ROOT)))
        if is_selectors(module):
            importers += services_imported_by(module, package, path.read_text(encoding="utf-8"))
    assert importers == [], "selectors import services (reads sit below writes):\n" + "\n".join(importers)


def test_the_selectors_check_sees_a_lazy_relative_or_other_apps_services_import():
    source = (
        "from billing.selectors import ledger_balance\n"
        "from . import models\n"
        "def lookup():\n"
        "    from branches.services import check\n"
        "    from . import services\n"
        "    import billing.services\n"
    )
    assert services_imported_by("branches.selectors", "branches", source) == [
        "branches.selectors:4 imports branches.services",
        "branches.selectors:5 imports branches.services",
        "branches.selectors:6 imports billing.services",
    ]
    assert services_imported_by("branches.selectors", "branches", "from billing import selectors\n") == []
