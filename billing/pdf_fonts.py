"""The CJK font PDFs embed: one TrueType face from the machine, registered once per process.

reportlab's built-in CID fonts (STSong-Light) are not embedded and have no glyph for some characters the
platform prints (the middle dot in "滨江燃气公司 · 账单" came out as �), so documents people keep or hand over
a counter embed a real font subset instead.
"""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

EMBEDDED_FONT = "PlatformCJK"


def embedded_cjk_font() -> str:
    """The registered font's name, or an error naming the setting and the package to install."""
    if EMBEDDED_FONT in pdfmetrics.getRegisteredFontNames():
        return EMBEDDED_FONT
    path = Path(settings.PDF_FONT_PATH)
    if not path.is_file():
        raise ImproperlyConfigured(
            f"PDF_FONT_PATH={str(path)!r} does not exist: install a CJK TrueType font "
            "(Debian: apt-get install fonts-wqy-microhei) or point PDF_FONT_PATH at one"
        )
    try:
        font = TTFont(EMBEDDED_FONT, str(path), subfontIndex=settings.PDF_FONT_INDEX)
    except Exception as error:  # reportlab raises TTFError and plain errors alike for a file it cannot use
        raise ImproperlyConfigured(
            f"PDF_FONT_PATH={str(path)!r} (face {settings.PDF_FONT_INDEX}) is not a TrueType font "
            f"reportlab can embed: {error}"
        ) from error
    pdfmetrics.registerFont(font)
    return EMBEDDED_FONT
