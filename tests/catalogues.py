"""The project's zh_Hans catalogues read as entries, for the i18n tests (no polib: a .po is simple)."""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
OVERRIDES = ROOT / "locale_overrides" / "zh_Hans" / "LC_MESSAGES" / "django.po"
FIELD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$')


@dataclass(frozen=True)
class Entry:
    context: str | None
    msgid: str
    plural: str | None
    translations: tuple[str, ...]
    fuzzy: bool

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.context, self.msgid, self.plural)


def project_catalogues(root: Path = ROOT) -> list[Path]:
    """locale/ and every app's locale/, which `make messages` regenerates (not locale_overrides/)."""
    found = [root / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"]
    found += sorted(root.glob("*/locale/zh_Hans/LC_MESSAGES/django.po"))
    return found


def entries(po: Path) -> list[Entry]:
    """The active entries of a catalogue: not the header, not the obsolete (#~) ones."""
    found = []
    for block in re.split(r"\n\s*\n", po.read_text(encoding="utf-8")):
        fields: dict[str, str] = {}
        field, fuzzy = None, False
        for line in block.strip().splitlines():
            if line.startswith("#~"):
                break
            if line.startswith("#"):
                fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)
                continue
            if match := FIELD.match(line):
                if match[1] in fields:
                    raise ValueError(f"{po}: two entries without a blank line between them: {block!r}")
                field = match[1]
                fields[field] = ast.literal_eval(match[2])
            else:
                fields[field] += ast.literal_eval(line)
        if fields.get("msgid"):
            translations = tuple(value for name, value in sorted(fields.items()) if name.startswith("msgstr"))
            found.append(
                Entry(fields.get("msgctxt"), fields["msgid"], fields.get("msgid_plural"), translations, fuzzy)
            )
    return found
