"""Django's makemessages, run the same way by `make messages` and by tests/test_i18n.py."""

import re
from pathlib import Path

from django.core.management.commands import makemessages

# Not the project's source: the virtualenv, the demo's database and the benchmark scripts.
IGNORED = [".venv", "var", "benchmarks"]
POT_CREATION_DATE = re.compile(r'^"POT-Creation-Date: .*\\n"\n', re.MULTILINE)


class Command(makemessages.Command):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options["ignore_patterns"], *IGNORED]
        return super().handle(*args, **options)

    def write_po_file(self, potfile, locale):
        """Keep a catalogue's POT-Creation-Date unless something else in it changed, so that running
        `make messages` again with no new strings leaves git status clean (and the .mo as it was)."""
        po = Path(potfile).parent / locale / "LC_MESSAGES" / f"{self.domain}.po"
        before = po.read_text(encoding="utf-8") if po.exists() else None
        super().write_po_file(potfile, locale)
        if before is not None:
            after = po.read_text(encoding="utf-8")
            if POT_CREATION_DATE.sub("", after) == POT_CREATION_DATE.sub("", before):
                po.write_text(before, encoding="utf-8")
