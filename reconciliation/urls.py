from django.urls import path

from reconciliation import views

urlpatterns = [
    path("complaints/new/", views.complaint_new, name="complaint_new"),
    path("complaints/<str:token>/", views.complaint_status, name="complaint_status"),
]
