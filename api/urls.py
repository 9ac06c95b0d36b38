from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from api.biller import disputes as biller_disputes
from api.biller import views as biller
from api.partner import disputes as partner_disputes
from api.partner import mandates as partner_mandates
from api.partner import views as partner

app_name = "api"

partner_urls = [
    path("categories", partner.CategoryListView.as_view(), name="partner-categories"),
    path("billers", partner.BillerListView.as_view(), name="partner-billers"),
    path("billers/<str:biller_code>", partner.BillerDetailView.as_view(), name="partner-biller"),
    path(
        "billers/<str:biller_code>/accounts/<str:account_no>",
        partner.BillEnquiryView.as_view(),
        name="partner-enquiry",
    ),
    path("payments", partner.PaymentCreateView.as_view(), name="partner-payments"),
    path("payment-batches", partner.PaymentBatchCreateView.as_view(), name="partner-payment-batches"),
    path("agent-payments", partner.AgentPaymentCreateView.as_view(), name="partner-agent-payments"),
    path("payments/<str:receipt_no>", partner.PaymentDetailView.as_view(), name="partner-payment"),
    path(
        "payments/<str:receipt_no>/reversal", partner.PaymentReversalView.as_view(), name="partner-reversal"
    ),
    path("statements/<str:day>", partner.StatementView.as_view(), name="partner-statement"),
    path("dispute-reasons", partner_disputes.DisputeReasonsView.as_view(), name="partner-dispute-reasons"),
    path("disputes", partner_disputes.DisputeRaiseView.as_view(), name="partner-disputes"),
    path("disputes/<str:ref>", partner_disputes.DisputeDetailView.as_view(), name="partner-dispute"),
    path(
        "disputes/<str:ref>/close", partner_disputes.DisputeCloseView.as_view(), name="partner-dispute-close"
    ),
    path("mandates", partner_mandates.MandateListCreateView.as_view(), name="partner-mandates"),
    path("mandates/<str:mandate_id>", partner_mandates.MandateDetailView.as_view(), name="partner-mandate"),
    path(
        "mandates/<str:mandate_id>/pause",
        partner_mandates.MandatePauseView.as_view(),
        name="partner-mandate-pause",
    ),
    path(
        "mandates/<str:mandate_id>/resume",
        partner_mandates.MandateResumeView.as_view(),
        name="partner-mandate-resume",
    ),
    path(
        "mandates/<str:mandate_id>/cancel",
        partner_mandates.MandateCancelView.as_view(),
        name="partner-mandate-cancel",
    ),
    path(
        "mandates/<str:mandate_id>/debits",
        partner_mandates.MandateDebitListView.as_view(),
        name="partner-mandate-debits",
    ),
    path(
        "mandates/<str:mandate_id>/debits/<str:debit_id>/skip",
        partner_mandates.MandateDebitSkipView.as_view(),
        name="partner-mandate-debit-skip",
    ),
]

biller_urls = [
    path("bills", biller.PushBillsView.as_view(), name="biller-bills"),
    path(
        "bills/<str:account_no>/<str:period>/cancellation",
        biller.CancelBillView.as_view(),
        name="biller-cancel-bill",
    ),
    path(
        "bills/<str:account_no>/<str:period>/instalments",
        biller.OfferInstalmentsView.as_view(),
        name="biller-offer-instalments",
    ),
    path("payments", biller.PaymentListView.as_view(), name="biller-payments"),
    path("receipts/<str:receipt_no>", biller.ReceiptView.as_view(), name="biller-receipt"),
    path("disputes", biller_disputes.BillerDisputeListView.as_view(), name="biller-disputes"),
    path(
        "disputes/<str:ref>/answer",
        biller_disputes.BillerDisputeAnswerView.as_view(),
        name="biller-dispute-answer",
    ),
    path("topups/<str:receipt_no>/card-write", biller.CardWriteView.as_view(), name="biller-card-write"),
]

# The schema and its documentation pages are public: partners read them before they have a key.
PUBLIC = {"permission_classes": [AllowAny], "authentication_classes": []}

# Redoc's bundle injects two <style> elements before it can be given the page's nonce: an empty one that
# its styled-components then fill through the CSSOM, and perfect-scrollbar's fixed rules. The policy allows
# exactly those by hash, on this page only (templates/drf_spectacular/redoc.html; the test
# tests/api/test_docs_csp_browser.py fails if a new drf-spectacular-sidecar changes them).
REDOC_STYLES = csp_update(
    {
        "style-src": [
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # the empty <style>
            "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar
        ],
        "worker-src": ["'self'", "blob:"],  # its search index runs in a worker it builds from a blob
    }
)

urlpatterns = [
    path("v1/partner/", include(partner_urls)),  # the busiest first (patterns are tried in order)
    path("v1/biller/", include(biller_urls)),
    path("schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script): the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", **PUBLIC), name="docs"),
    path("redoc/", REDOC_STYLES(SpectacularRedocView.as_view(url_name="api:schema", **PUBLIC)), name="redoc"),
]
