"""Files from outside read within bounds (billing/untrusted_files.py), and bill files through both import
paths: every hostile file is refused with its code, within bounded memory, and nothing is stored."""

import gzip
import io
import tracemalloc
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from billing import untrusted_files
from billing.bill_import import BillImportError, import_bills, read_table
from billing.bill_import.sql_path import import_bills_copy
from billing.models import Bill, CustomerAccount
from billing.untrusted_files import FileRefused
from tests.factories import BillerFactory

MIB = 1024 * 1024
HEADER = "account_no,customer_name,period,amount_due,due_date,late_fee,reference\n"
GOOD_ROW = "10000001,张三,2026-01,128.50,2026-02-15,,INV-1\n"


def gzip_bomb(unpacked_mib: int) -> bytes:
    """`unpacked_mib` MiB of zeros, gzipped a MiB at a time (the test never holds the unpacked bytes)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    out = [packer.compress(zeros) for _ in range(unpacked_mib)]
    out.append(packer.flush())
    return b"".join(out)


def zip_of(members: dict[str, int | bytes]) -> bytes:
    """A zip whose members are given bytes, or that many MiB of zeros written a MiB at a time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in members.items():
            if isinstance(content, bytes):
                archive.writestr(name, content)
                continue
            with archive.open(name, "w", force_zip64=True) as member:
                for _ in range(content):
                    member.write(bytes(MIB))
    return buffer.getvalue()


def peak_while(action) -> tuple[BaseException | None, int]:
    """Run `action`, returning what it raised and the peak of memory Python allocated meanwhile."""
    tracemalloc.start()
    raised = None
    try:
        action()
    except Exception as exc:  # the refusal under test
        raised = exc
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


# Archives --------------------------------------------------------------------------------------------


def test_a_gzip_bomb_of_a_few_hundred_kilobytes_is_refused_by_its_ratio_within_bounded_memory():
    bomb = gzip_bomb(200)
    assert len(bomb) < 400 * 1024  # 200 MiB packed into a few hundred KB
    raised, peak = peak_while(lambda: untrusted_files.unpack(bomb))
    assert isinstance(raised, FileRefused) and raised.code == "archive_ratio_too_high"
    # stopped at 100 × its packed size (~20 MiB), never near the 200 MiB it would inflate to
    assert peak < untrusted_files.max_ratio() * len(bomb) + 2 * MIB
    assert peak < 32 * MIB


def test_a_gzip_bomb_is_refused_at_the_unpacked_cap_when_the_ratio_would_let_it_through(settings):
    settings.UNTRUSTED_MAX_COMPRESSION_RATIO = 100_000
    settings.UNTRUSTED_UNPACKED_MAX_BYTES = 16 * MIB
    bomb = gzip_bomb(200)
    raised, peak = peak_while(lambda: untrusted_files.unpack(bomb))
    assert isinstance(raised, FileRefused) and raised.code == "archive_too_large"
    assert peak < 16 * MIB + MIB  # the cap and one piece: the rest is never inflated


def test_an_honest_gzip_and_a_two_member_gzip_unpack_whole():
    text = "".join(
        f"D,PAYMENT,WX{n * 7919 % 1_000_003:010d},,,,{n % 997}.{n % 100:02d}\n" for n in range(50_000)
    )
    text = text.encode()
    assert untrusted_files.unpack(gzip.compress(text)) == text
    assert untrusted_files.unpack(gzip.compress(text[:1000]) + gzip.compress(text[1000:])) == text


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        (lambda packed: packed[: len(packed) // 2], "archive_corrupt"),  # cut short
        (lambda packed: packed[:10] + b"\xff" * 40 + packed[50:], "archive_corrupt"),  # bytes mangled
        (lambda packed: packed + b"trailing junk", "archive_corrupt"),
    ],
    ids=["truncated", "mangled", "trailing-junk"],
)
def test_a_damaged_gzip_is_refused_as_corrupt(damage, code):
    packed = gzip.compress(("x,y,z\n" * 20_000).encode())
    with pytest.raises(FileRefused) as caught:
        untrusted_files.unpack(damage(packed))
    assert caught.value.code == code
    assert "gzip" in caught.value.message


def test_a_zip_with_too_many_members_is_refused_before_any_is_read():
    many = zip_of({f"part-{n}.csv": b"a,b\n" for n in range(100)})
    with pytest.raises(FileRefused) as caught:
        untrusted_files.unpack(many)
    assert caught.value.code == "archive_too_many_members"
    assert caught.value.params == {"count": 100, "limit": 64}


def test_a_zip_bomb_is_refused_by_its_ratio_from_the_declared_sizes():
    bomb = zip_of({"statement.csv": 64})
    raised, peak = peak_while(lambda: untrusted_files.unpack(bomb))
    assert isinstance(raised, FileRefused) and raised.code == "archive_ratio_too_high"
    assert peak < 4 * MIB  # refused on the central directory: nothing inflated


@pytest.mark.parametrize(
    "broken",
    [b"PK\x03\x04" + b"\x00" * 200, None],
    ids=["no-central-directory", "truncated-real-zip"],
)
def test_a_corrupt_zip_is_refused_as_corrupt(broken):
    if broken is None:
        whole = zip_of({"a.csv": ("row\n" * 10_000).encode()})
        broken = whole[: len(whole) - 30]
    with pytest.raises(FileRefused) as caught:
        untrusted_files.unpack(broken)
    assert caught.value.code == "archive_corrupt"


# Sizes -----------------------------------------------------------------------------------------------


def test_an_upload_over_its_kinds_limit_is_refused_before_it_is_read(settings):
    settings.UNTRUSTED_FILE_MAX_BYTES = {**settings.UNTRUSTED_FILE_MAX_BYTES, "proxy_batch": 1000}
    upload = SimpleUploadedFile("big.csv", b"x" * 1001)
    with pytest.raises(FileRefused) as caught:
        untrusted_files.read_upload(upload, "proxy_batch")
    assert caught.value.code == "file_too_large"
    assert upload.tell() == 0  # not a byte read
    assert (
        untrusted_files.read_upload(SimpleUploadedFile("ok.csv", b"x" * 1000), "proxy_batch") == b"x" * 1000
    )


def test_a_refusal_reads_in_chinese_and_in_english():
    from django.utils import translation

    refused = FileRefused("line_too_long", line=3, limit=65536)
    with translation.override("en"):
        assert refused.message == "Line 3 is longer than 65536 characters: it is refused."
    with translation.override("zh-hans"):
        assert "第 3 行" in refused.message


# XML -------------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Document>&lol9;</Document>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document>&secret;</Document>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">
<Document/>
"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_xml_with_a_doctype_or_entities_is_refused_whatever_the_expat(xml):
    with pytest.raises(FileRefused) as caught:
        untrusted_files.XmlTree(xml)
    assert caught.value.code == "xml_forbidden"


def test_plain_xml_is_read_with_the_line_of_each_element():
    tree = untrusted_files.XmlTree(b'<?xml version="1.0"?>\n<a xmlns="urn:x">\n  <b>1</b>\n</a>\n')
    assert tree.root.tag == "{urn:x}a"
    assert tree.line(tree.root[0]) == 3 and tree.root[0].text == "1"


# Bill files through both paths -----------------------------------------------------------------------


def ten_mb_field_csv() -> bytes:
    """A row whose reference is a quoted 10 MB field of short lines: no line is long, the field is."""
    field = ("R" * 999 + "\n") * 10_000
    return (HEADER + GOOD_ROW + f'10000002,李四,2026-01,66.00,2026-02-15,,"{field}"\n').encode()


def ten_mb_line_csv() -> bytes:
    return (HEADER + GOOD_ROW + "10000002,李四,2026-01,66.00,2026-02-15,," + "R" * 10 * MIB + "\n").encode()


@pytest.fixture
def water(db):
    return BillerFactory(code="WATER", account_pattern=r"^\d{8}$")


def nothing_stored():
    return not Bill.objects.exists() and not CustomerAccount.objects.exists()


@pytest.mark.parametrize(
    ("data", "code", "line"),
    [(ten_mb_field_csv(), "field_too_long", None), (ten_mb_line_csv(), "line_too_long", 3)],
    ids=["field", "line"],
)
def test_a_bill_file_with_a_10_mb_field_or_line_is_refused_on_the_python_path(water, data, code, line):
    with pytest.raises(BillImportError) as caught:
        import_bills(water, read_table(data), actor=None)
    assert caught.value.code == code
    if line:
        assert caught.value.params["line"] == line
    assert nothing_stored()


@pytest.mark.parametrize(
    ("data", "code"),
    [(ten_mb_field_csv(), "field_too_long"), (ten_mb_line_csv(), "line_too_long")],
    ids=["field", "line"],
)
def test_a_bill_file_with_a_10_mb_field_or_line_is_refused_on_the_copy_path(water, data, code):
    raised, peak = peak_while(lambda: import_bills_copy(water, io.BytesIO(data), actor=None, chunk_rows=1))
    assert isinstance(raised, BillImportError) and raised.code == code
    assert peak < 5 * MIB  # the 10 MB never held whole
    assert nothing_stored()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_temp.billpay_import_stage')")
        assert cursor.fetchone()[0] is None  # no staging table left behind


def test_an_xlsx_bill_file_that_is_a_zip_bomb_is_refused_before_openpyxl_opens_it(water):
    bomb = zip_of({"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": 64})
    with pytest.raises(BillImportError) as caught:
        read_table(bomb, filename="bills.xlsx")
    assert caught.value.code == "archive_ratio_too_high"
    assert nothing_stored()


def test_a_bill_file_over_the_size_limit_is_refused_on_both_paths(water, settings):
    settings.UNTRUSTED_FILE_MAX_BYTES = {**settings.UNTRUSTED_FILE_MAX_BYTES, "bill_file": 100}
    data = (HEADER + GOOD_ROW * 3).encode()
    with pytest.raises(BillImportError) as caught:
        read_table(data)
    assert caught.value.code == "file_too_large"
    with pytest.raises(BillImportError) as caught:
        import_bills_copy(water, io.BytesIO(data), actor=None)
    assert caught.value.code == "file_too_large"
    assert nothing_stored()


def test_an_honest_bill_file_still_imports_on_both_paths(water):
    data = (HEADER + GOOD_ROW).encode()
    assert import_bills(water, read_table(data), actor=None).imported
    Bill.objects.all().delete()
    assert import_bills_copy(water, io.BytesIO(data), actor=None).imported
