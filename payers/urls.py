from django.urls import path

from payers import views

app_name = "payers"

urlpatterns = [
    path("", views.home, name="home"),
    path("billers/", views.biller_list, name="billers"),
    path("billers/<str:code>/", views.biller_page, name="biller"),
    path("pay/<str:token>/", views.pay_link, name="pay_link"),
    path("pay/<str:token>/qr/", views.pay_link_qr, name="pay_link_qr"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/<str:token>/", views.order_page, name="order"),
    path("orders/<str:token>/status/", views.order_status, name="order_status"),
    path("orders/<str:token>/wechat/", views.wechat_pay, name="wechat_pay"),
    path("orders/<str:token>/pay/", views.order_pay, name="order_pay"),
    path("orders/<str:token>/handoff/", views.order_handoff, name="order_handoff"),
    path("handoff/<str:token>/", views.handoff_open, name="handoff"),
    path("orders/<str:token>/wechat/h5/", views.wechat_h5, name="wechat_h5"),
    path("payments/notify/<str:gateway_code>/", views.notify, name="notify"),
    path("payments/return/<str:gateway_code>/", views.bank_return, name="bank_return"),
    path("receipts/<str:token>/", views.receipt_page, name="receipt"),
    path("receipts/<str:token>/pdf/", views.receipt_pdf, name="receipt_pdf"),
    path("receipts/<str:token>/card/", views.receipt_card_write, name="receipt_card_write"),
    path("receipts/<str:token>/fiscal.pdf", views.receipt_fiscal_pdf, name="receipt_fiscal_pdf"),
    path("receipts/<str:token>/fiscal/", views.receipt_fiscal_status, name="receipt_fiscal_status"),
    path("verify/", views.verify, name="verify_form"),
    path("verify/<str:receipt_no>/<str:code>/", views.verify, name="verify"),
    path("me/history/", views.history, name="history"),
    path("me/history.csv", views.history_csv, name="history_csv"),
    path("me/accounts/", views.my_accounts, name="my_accounts"),
    path("me/accounts/bind/", views.bind_account, name="bind_account"),
    path("me/accounts/<int:bound_id>/", views.bound_account_action, name="bound_account"),
    path("me/autopay/", views.autopay, name="autopay"),
    path("me/autopay/return/<str:gateway_code>/", views.autopay_return, name="autopay_return"),
    path("payments/agreement-notify/<str:gateway_code>/", views.autopay_notify, name="autopay_notify"),
    path("me/autopay/<uuid:public_id>/", views.mandate_page, name="mandate"),
    path("me/autopay/debits/<int:debit_id>/skip/", views.skip_debit, name="skip_debit"),
    path("me/family/", views.family, name="family"),
    path("me/family/invite/<str:token>/", views.family_invite, name="family_invite"),
    path("me/family/<uuid:public_id>/", views.family_pay, name="family_pay"),
    path("me/family/<uuid:public_id>/end/", views.family_end, name="family_end"),
    path("me/proxy/", views.proxy_upload, name="proxy_upload"),
    path("me/proxy/<uuid:public_id>/", views.proxy_batch, name="proxy_batch"),
    path("orders/<str:token>/receipts.pdf", views.order_receipts_pdf, name="order_receipts_pdf"),
    path("orders/<str:token>/receipts/", views.order_receipts, name="order_receipts"),
    path("orders/<str:token>/receipts/status/", views.order_receipts_status, name="order_receipts_status"),
    path(
        "orders/<str:token>/receipts/download/", views.order_receipts_download, name="order_receipts_download"
    ),
    path("elderly-mode/", views.elderly_mode, name="elderly_mode"),
]
