"""Row locks live in one module per app: a `select_for_update` anywhere else in the platform's code fails
here, so the lock order documented at the top of billing/locks.py is the whole story."""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = ("billing", "payers", "branches", "disputes", "reconciliation", "api", "demo", "config")


def lock_calls_outside_lock_modules(root: Path = ROOT, apps: tuple[str, ...] = APPS) -> list[str]:
    found = []
    for app in apps:
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative == f"{app}/locks.py" or "/migrations/" in relative:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "select_for_update":
                    found.append(f"{relative}:{node.lineno}")
    return found


def test_every_row_lock_is_taken_in_its_apps_lock_module():
    assert lock_calls_outside_lock_modules() == []


def test_the_check_sees_a_lock_written_outside_a_lock_module(tmp_path):
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "services.py").write_text("Bill.objects.select_for_update().get(pk=1)\n")
    (tmp_path / "billing" / "locks.py").write_text("Bill.objects.select_for_update().get(pk=1)\n")
    assert lock_calls_outside_lock_modules(tmp_path, ("billing",)) == ["billing/services.py:1"]
