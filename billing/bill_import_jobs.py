"""Background bill imports started from the admin: the job row carries progress, the summary and the
error report. The work is `billing.bill_import` (or its COPY path for CSV on PostgreSQL)."""

from __future__ import annotations

import io

from django.utils import timezone

from billing.bill_import import (
    ERROR_REPORT_HEADER,
    BillImportError,
    RowError,
    error_report_csv,
    import_bills,
    is_xlsx,
    read_table,
)
from billing.bill_import.sql_path import import_bills_copy
from billing.models import BillImportJob

Status = BillImportJob.Status


def _update(job_id: int, **fields) -> None:
    BillImportJob.objects.filter(pk=job_id).update(**fields)


def run_import_job(job_id: int) -> dict:
    claimed = BillImportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(status=Status.RUNNING)
    if not claimed:
        return {"skipped": True}
    job = BillImportJob.objects.select_related("biller", "created_by").get(pk=job_id)
    data = bytes(job.data)

    def progress(phase: str, rows: int, _size: int) -> None:
        _update(job_id, phase=phase, rows_done=rows)

    try:
        if not is_xlsx(data):
            out = io.StringIO()
            out.write(",".join(ERROR_REPORT_HEADER) + "\r\n")
            report = import_bills_copy(
                job.biller,
                io.BytesIO(data),
                actor=job.created_by,
                encoding=job.encoding or None,
                partial=job.partial,
                source="admin",
                progress=progress,
                chunk_rows=max(1000, job.rows_total // 20 or 1000),
                error_report=out,
            )
            error_csv = out.getvalue()
        else:
            progress("reading", 0, 0)
            table = read_table(data, encoding=job.encoding or None, filename=job.file_name)
            report = import_bills(
                job.biller, table, actor=job.created_by, partial=job.partial, source="admin"
            )
            error_csv = error_report_csv(report.errors)
    except BillImportError as refused:
        _update(
            job_id,
            status=Status.REFUSED,
            message=refused.message[:500],
            finished_at=timezone.now(),
            error_count=1,
            error_report=error_report_csv([RowError.make(0, "", refused.code, **refused.params)]),
        )
        return {"refused": refused.code}
    except Exception as exc:
        _update(job_id, status=Status.FAILED, message=str(exc)[:500], finished_at=timezone.now())
        raise
    summary = report.summary()
    _update(
        job_id,
        status=Status.DONE if report.imported else Status.REFUSED,
        phase="done",
        rows_done=report.rows,
        rows_total=max(job.rows_total, report.rows),
        summary=summary,
        error_count=report.error_count,
        error_report=error_csv,
        finished_at=timezone.now(),
        data=b"",  # the file is not kept once imported
    )
    return summary
