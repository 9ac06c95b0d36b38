"""The portal's look-up limit counts per citizen behind the reverse proxy (config.client_ip), not one bucket
for everyone, and a citizen cannot get a fresh bucket by writing X-Forwarded-For."""

import pytest
from django.test import override_settings

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("water"),
]
LIMITED = {"lookup": (2, 300), "verify": (2, 300)}


def look_up(client, forwarded, remote_addr="127.0.0.1"):
    return client.get(
        "/billers/WATER01/",
        {"account_no": "31005678"},
        REMOTE_ADDR=remote_addr,
        HTTP_X_FORWARDED_FOR=forwarded,
    ).status_code


@override_settings(PORTAL_RATE_LIMITS=LIMITED, TRUSTED_PROXIES=["127.0.0.1"])
def test_two_citizens_behind_the_proxy_have_their_own_limits(client):
    assert [look_up(client, "203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert look_up(client, "203.0.113.2") == 200


@override_settings(PORTAL_RATE_LIMITS=LIMITED, TRUSTED_PROXIES=["127.0.0.1"])
def test_a_citizen_writing_x_forwarded_for_stays_in_its_own_bucket(client):
    # nginx appends the real address after whatever the client sent.
    statuses = [look_up(client, f"198.51.100.{n}, 203.0.113.1") for n in range(3)]
    assert statuses == [200, 200, 429]


@override_settings(PORTAL_RATE_LIMITS=LIMITED, TRUSTED_PROXIES=[])
def test_without_trusted_proxies_the_header_is_ignored(client):
    statuses = [look_up(client, f"203.0.113.{n}", remote_addr="198.51.100.7") for n in range(3)]
    assert statuses == [200, 200, 429]
