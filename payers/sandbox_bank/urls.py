from django.urls import path

from payers.sandbox_bank import views

app_name = "sandbox_bank"

urlpatterns = [
    path("gateway/", views.gateway, name="gateway"),
    path("pay/<str:trade_no>/", views.cashier, name="cashier"),
    path("pay/<str:trade_no>/finish/", views.finish, name="finish"),
    path("agreements/", views.agreement_gateway, name="agreement_gateway"),
    path("agreements/<str:agreement_no>/", views.agreement, name="agreement"),
    path("agreements/<str:agreement_no>/finish/", views.agreement_finish, name="agreement_finish"),
]
