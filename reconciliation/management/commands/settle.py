import datetime

from django.core.management.base import BaseCommand

from reconciliation import services
from reconciliation.models import SettlementBatch


class Command(BaseCommand):
    help = "Settle each biller's reconciled money of a business day (T+1); idempotent and restartable."

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, type=datetime.date.fromisoformat, help="YYYY-MM-DD")

    def handle(self, *args, date, **options):
        run = services.settle_day(day=date)
        self.stdout.write(f"{date}: {run.get_status_display()}, {run.batches_built} batches")
        for batch in SettlementBatch.objects.filter(business_date=date).select_related("biller"):
            self.stdout.write(
                f"  {batch.reference} {batch.biller.code} "
                f"gross {batch.gross} fees {batch.fees} net {batch.net}"
            )
