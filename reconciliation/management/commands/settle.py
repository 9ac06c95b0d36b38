import datetime

from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from reconciliation import selectors, services
from reconciliation.models import SettlementBatch


class Command(BaseCommand):
    help = (
        "Settle each biller's settleable money up to a business day (T+1 in working days), late money "
        "carried; refuses a day not closed yet; idempotent and restartable."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, type=datetime.date.fromisoformat, help="YYYY-MM-DD")

    def handle(self, *args, date, **options):
        try:
            run = services.settle_day(day=date)
        except BillingError as refused:
            raise CommandError(refused.message) from refused
        self.stdout.write(f"{date}: {run.get_status_display()}, {run.batches_built} batches")
        carried = selectors.carried_summaries(date)
        batches = SettlementBatch.objects.filter(business_date=date).select_related("biller")
        for batch in batches.defer("remittance_csv", "remittance_xml", "confirmation_content"):
            self.stdout.write(
                f"  {batch.reference} {batch.biller.code} "
                f"gross {batch.gross} fees {batch.fees} net {batch.net} value date {batch.value_date}"
            )
            for day, count, net in carried.get(batch.pk, []):
                self.stdout.write(f"    carried from {day}: {count} items, net {net}")
