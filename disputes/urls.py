from django.urls import path

from disputes import views

app_name = "disputes"

urlpatterns = [
    path("disputes/", views.my_disputes, name="portal_list"),
    path("disputes/new/", views.portal_new, name="portal_new"),
    path("disputes/<str:ref>/", views.portal_detail, name="portal_detail"),
    path("disputes/<str:ref>/close/", views.portal_close, name="portal_close"),
    path("counter/disputes/new/", views.counter_new, name="counter_new"),
]
