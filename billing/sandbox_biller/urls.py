from django.urls import path

from billing.sandbox_biller import views

app_name = "sandbox_biller"

urlpatterns = [
    path("<str:biller_code>/bills", views.bills, name="bills"),
    path("<str:biller_code>/validate", views.validate, name="validate"),
]
