"""Citizen-facing pages of the billing app. The full portal arrives with the citizen-portal issue."""

from django.shortcuts import render

from billing.selectors import categories_with_active_billers


def home(request):
    return render(request, "billing/home.html", {"categories": categories_with_active_billers()})
