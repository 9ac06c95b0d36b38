"""Reading back the PDFs the platform prints (slips, receipts), with pypdf."""

import io

from pypdf import PdfReader


def embedded_fonts(pdf: bytes) -> dict[str, bool]:
    """Each font the PDF's pages use → whether its glyphs are embedded."""
    fonts = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if font["/BaseFont"] in ("/Courier", "/Helvetica"):  # the barcode's digits: PDF's standard 14
                continue
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            fonts[font["/BaseFont"]] = descriptor is not None and "/FontFile2" in descriptor.get_object()
    return fonts
