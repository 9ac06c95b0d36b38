from django.urls import path

from api.hosted import views

app_name = "hosted"

urlpatterns = [
    path("", views.start, name="start"),
    path("<str:token>/", views.page, name="page"),
    path("<str:token>/status/", views.status, name="status"),
    path("<str:token>/pay/", views.pay, name="pay"),
    path("<str:token>/back/", views.back, name="back"),
]
