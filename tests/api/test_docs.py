"""The OpenAPI schema and its documentation pages, served with local assets (no CDN at run time)."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_the_schema_lists_both_apis(client):
    response = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/partner/payments" in paths
    assert "/api/v1/biller/bills" in paths
    assert "BillPaySignature" in response.json()["components"]["securitySchemes"]


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_documentation_pages_use_only_local_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/" in html


def test_the_sidecar_assets_are_there_to_serve():
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_the_partner_api_in_chromium(live_server, page, screenshot):
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector('.opblock-summary-path[data-path="/api/v1/partner/payments"]', timeout=20_000)
    assert page.locator(".opblock").count() >= 11
    screenshot("api-docs")


def test_the_schema_says_webhooks_are_delivered_at_least_once_and_how_to_de_duplicate(client):
    description = client.get("/api/schema/", headers={"Accept": "application/json"}).json()["info"][
        "description"
    ]
    assert "at least once" in description and "X-BillPay-Event-Id" in description
