import pytest

from billing import locks, posting


@pytest.fixture(params=["plain_sql", "orm"])
def writer(request, monkeypatch):
    """Run a test through PostgreSQL's plain-SQL posting path and through the ORM path the SQLite demo
    uses, so both write the same rows."""
    if request.param == "orm":
        monkeypatch.setattr(posting, "SINGLE_STATEMENT_VENDORS", set())
        monkeypatch.setattr(locks, "PLAIN_SQL_VENDORS", set())
    return request.param
