from django.urls import path

from billing.sandbox_fiscal import views

app_name = "sandbox_fiscal"

urlpatterns = [
    path("<str:agency_code>/issue", views.issue, name="issue"),
    path("<str:agency_code>/query", views.query, name="query"),
    path("<str:agency_code>/reverse", views.reverse, name="reverse"),
]
