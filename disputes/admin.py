"""Disputes in the back-office: read-only rows, scoped to who may see them; staff answer the selected
open disputes with the action bar's text (disputes.services.answer_dispute, which checks the role)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin
from billing.exceptions import BillingError
from disputes import services
from disputes.choices import OPEN_STATUSES
from disputes.models import Dispute


class AnswerForm(helpers.ActionForm):
    answer = forms.CharField(label=_("Answer"), required=False, max_length=4000)


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = [
        "ref",
        "reason",
        "category",
        "answerer",
        "channel",
        "source",
        "biller",
        "status",
        "due_at",
        "late",
    ]
    list_filter = ["status", "refund_state", "category", "answerer", "channel", "reason"]
    list_select_related = ["biller"]
    search_fields = ["ref", "payment__receipt_no", "channel_ref", "account_no", "debit_ref", "refund_ref"]
    raw_id_fields = ["payment", "resolution_payment", "payer_user", "raised_by"]
    action_form = AnswerForm
    actions = ["answer_selected"]

    @admin.display(description=_("overdue"), boolean=True)
    def late(self, obj):
        return obj.status in OPEN_STATUSES and obj.due_at < timezone.now()

    @admin.action(description=_("Answer the selected disputes (resolves them)"), permissions=["view"])
    def answer_selected(self, request, queryset):
        answer = request.POST.get("answer", "")
        for dispute in queryset:
            try:
                services.answer_dispute(dispute=dispute, answer=answer, actor=request.user)
            except BillingError as exc:
                self.message_user(request, f"{dispute.ref}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, _("%(ref)s answered.") % {"ref": dispute.ref})
