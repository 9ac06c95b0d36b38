"""Who is asking (config/client_ip.py): REMOTE_ADDR unless the peer is a trusted proxy, then the right-most
X-Forwarded-For hop that is not one. What a client writes into X-Forwarded-For itself is never believed."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import RequestFactory

from config.client_ip import client_ip

PROXIES = ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]


def ask(remote_addr, forwarded=None):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


@pytest.fixture
def behind_proxies(settings):
    settings.TRUSTED_PROXIES = PROXIES
    settings.TRUSTED_PROXY_COUNT = 0


class TestWithoutTrustedProxies:
    def test_the_client_is_the_peer(self, settings):
        settings.TRUSTED_PROXIES = []
        assert ask("198.51.100.7") == "198.51.100.7"

    def test_a_forwarded_header_is_ignored_without_trusted_proxies(self, settings):
        settings.TRUSTED_PROXIES = []
        assert ask("198.51.100.7", "203.0.113.9") == "198.51.100.7"
        assert ask("127.0.0.1", "203.0.113.9") == "127.0.0.1"

    def test_a_missing_or_garbage_peer_address_is_unknown(self, settings):
        settings.TRUSTED_PROXIES = []
        assert ask("") == "unknown"
        assert ask("not-an-ip") == "unknown"


@pytest.mark.usefixtures("behind_proxies")
class TestBehindTrustedProxies:
    def test_the_client_is_the_hop_the_proxy_appended(self):
        assert ask("127.0.0.1", "203.0.113.9") == "203.0.113.9"

    def test_a_forged_left_most_entry_is_never_believed(self):
        # The client wrote "1.2.3.4" itself; nginx appended the address it really saw.
        assert ask("127.0.0.1", "1.2.3.4, 203.0.113.9") == "203.0.113.9"
        assert ask("127.0.0.1", "10.0.0.1, 203.0.113.9") == "203.0.113.9"

    def test_a_chain_through_several_trusted_proxies_finds_the_right_most_untrusted_hop(self):
        # client -> load balancer 10.1.2.3 -> nginx 10.0.0.5 -> gunicorn
        assert ask("10.0.0.5", "8.8.8.8, 203.0.113.9, 10.1.2.3") == "203.0.113.9"

    def test_an_untrusted_peer_cannot_spoof_its_address_with_the_header(self):
        assert ask("198.51.100.7", "10.0.0.1") == "198.51.100.7"
        assert ask("198.51.100.7", "203.0.113.9, 127.0.0.1") == "198.51.100.7"

    def test_a_request_from_the_proxy_itself_without_the_header_is_the_proxy(self):
        assert ask("127.0.0.1") == "127.0.0.1"
        assert ask("127.0.0.1", "") == "127.0.0.1"

    def test_only_trusted_hops_give_the_left_most_of_them(self):
        assert ask("127.0.0.1", "10.9.9.9, 10.0.0.2") == "10.9.9.9"

    @pytest.mark.parametrize(
        "forwarded",
        ["garbage", "203.0.113.9, garbage", "203.0.113.9, ', 999.1.1.1", "\x00", "unknown", ";;;,,,"],
    )
    def test_a_garbage_hop_stops_the_walk_at_the_last_trusted_proxy(self, forwarded):
        # Nothing a client can write makes the address anything but a real IP it cannot choose freely.
        assert ask("127.0.0.1", forwarded) == "127.0.0.1"

    def test_garbage_left_of_the_real_client_changes_nothing(self):
        assert ask("127.0.0.1", "<script>, 1.2.3.4:80, 203.0.113.9") == "203.0.113.9"

    def test_ports_and_brackets_are_stripped(self):
        assert ask("127.0.0.1", "203.0.113.9:51234") == "203.0.113.9"
        assert ask("::1", "[2001:db8::7]:443") == "2001:db8::7"

    def test_ipv6_proxies_and_ipv4_mapped_peers(self):
        assert ask("::1", "2001:db8::7") == "2001:db8::7"
        assert ask("::ffff:127.0.0.1", "203.0.113.9") == "203.0.113.9"
        assert ask("fd00::5", "203.0.113.9, fd00::6") == "203.0.113.9"

    def test_a_very_long_chain_is_walked_only_so_far(self):
        hops = ", ".join(["10.0.0.9"] * 500)
        assert ask("127.0.0.1", "203.0.113.9, " + hops) == "10.0.0.9"


class TestByCount:
    def test_one_proxy_means_the_last_hop(self, settings):
        settings.TRUSTED_PROXIES = []
        settings.TRUSTED_PROXY_COUNT = 1
        assert ask("127.0.0.1", "1.2.3.4, 203.0.113.9") == "203.0.113.9"

    def test_two_proxies_mean_the_second_hop_from_the_right(self, settings):
        settings.TRUSTED_PROXIES = []
        settings.TRUSTED_PROXY_COUNT = 2
        assert ask("10.0.0.5", "1.2.3.4, 203.0.113.9, 10.1.2.3") == "203.0.113.9"

    def test_fewer_hops_than_proxies_and_garbage_stop_at_what_is_known(self, settings):
        settings.TRUSTED_PROXIES = []
        settings.TRUSTED_PROXY_COUNT = 3
        assert ask("10.0.0.5", "203.0.113.9") == "203.0.113.9"
        assert ask("10.0.0.5", "garbage") == "10.0.0.5"


def test_a_trusted_proxy_that_is_not_a_network_stops_every_command(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/33"]
    with pytest.raises(SystemCheckError, match=r"billpay\.E007.*10\.0\.0\.0/33"):
        call_command("check")


@pytest.mark.usefixtures("behind_proxies")
def test_the_portal_login_limits_count_the_same_client():
    from allauth.account.adapter import get_adapter

    request = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"
    )
    assert get_adapter(request).get_client_ip(request) == "203.0.113.9"
