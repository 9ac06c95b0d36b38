from django.urls import path

from branches import agent_views, views

counter_patterns = (
    [
        path("", views.counter_home, name="home"),
        path("lookup/", views.counter_lookup, name="lookup"),
        path("pay/", views.counter_pay, name="pay"),
        path("receipt/<str:receipt_no>/", views.counter_receipt, name="receipt"),
        path("receipt/<str:receipt_no>/void/", views.counter_void, name="void"),
        path("receipt/<str:receipt_no>/card/", views.counter_card_write, name="card_write"),
        path("receipt/<str:receipt_no>/fiscal.pdf", views.counter_fiscal_pdf, name="fiscal_pdf"),
        path("till/close/", views.counter_close, name="close"),
        path("report/", views.counter_day_report, name="day_report"),
        path("report/till/<int:till_id>/", views.counter_day_report, name="day_report_till"),
        path("reports/", views.reports, name="reports"),
        path("coverage/", views.coverage, name="coverage"),
    ],
    "counter",
)

outlet_patterns = (
    [
        path("", views.outlet_finder, name="finder"),
        path("<str:code>/", views.outlet_detail, name="detail"),
    ],
    "outlets",
)

slip_patterns = (
    [path("<str:token>/<str:layout>.pdf", views.payment_slip, name="pdf")],
    "slips",
)

agent_patterns = (
    [
        path("", agent_views.agent_home, name="home"),
        path("lookup/", agent_views.agent_lookup, name="lookup"),
        path("pay/", agent_views.agent_pay, name="pay"),
        path("receipt/<str:receipt_no>/", agent_views.agent_receipt, name="receipt"),
        path("history/", agent_views.agent_history, name="history"),
    ],
    "agent",
)
