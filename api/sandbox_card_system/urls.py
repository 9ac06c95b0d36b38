from django.urls import path

from api.sandbox_card_system import views

app_name = "sandbox_card_system"

urlpatterns = [path("<str:biller_code>/webhook", views.webhook, name="webhook")]
