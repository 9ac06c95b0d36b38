"""config/csrf_tokens.py: the CSRF secret and mask from one random read each, in Django's place."""

import collections
import importlib.util
import re

import pytest
from django.middleware import csrf
from django.test import Client, RequestFactory

from config import csrf_tokens

TOKEN_IN_PAGE = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"')


def test_a_new_string_is_32_characters_of_the_csrf_alphabet():
    for _ in range(200):
        text = csrf_tokens.new_csrf_string()
        assert len(text) == csrf.CSRF_SECRET_LENGTH == 32
        assert set(text) <= set(csrf.CSRF_ALLOWED_CHARS)


def test_new_strings_differ():
    assert len({csrf_tokens.new_csrf_string() for _ in range(1000)}) == 1000


def test_every_character_is_equally_likely():
    """64,000 characters: each of the 62 about 1,032 times (σ ≈ 32). Taking every byte modulo 62, the bias
    this code avoids, would give the first eight characters about 1,250 each."""
    counts = collections.Counter("".join(csrf_tokens.new_csrf_string() for _ in range(2000)))
    assert set(counts) == set(csrf.CSRF_ALLOWED_CHARS)
    assert all(abs(count - 64_000 / 62) < 200 for count in counts.values()), counts


def test_a_read_with_too_few_usable_bytes_reads_again(monkeypatch):
    reads = iter([bytes([250] * 40), bytes([0, 61, 62, 247] * 10)])
    monkeypatch.setattr(csrf_tokens.os, "urandom", lambda size: next(reads))
    assert csrf_tokens.new_csrf_string() == ("a9a9" * 8)


def _djangos_own_csrf_module():
    """A fresh copy of django.middleware.csrf, untouched by `install()`."""
    spec = importlib.util.spec_from_file_location("djangos_own_csrf", csrf.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_secret_is_masked_as_django_masks_it(monkeypatch):
    own = _djangos_own_csrf_module()
    for _ in range(200):
        secret, mask = csrf_tokens.new_csrf_string(), csrf_tokens.new_csrf_string()
        monkeypatch.setattr(own, "_get_new_csrf_string", lambda mask=mask: mask)
        monkeypatch.setattr(csrf_tokens, "new_csrf_string", lambda mask=mask: mask)
        assert csrf_tokens.mask_cipher_secret(secret) == own._mask_cipher_secret(secret)
        assert own._unmask_cipher_token(csrf_tokens.mask_cipher_secret(secret)) == secret


def test_django_makes_the_secret_and_the_mask_with_them(monkeypatch):
    """Fails when a Django upgrade no longer makes its CSRF strings through `_get_new_csrf_string` and
    `_mask_cipher_secret`: then config/csrf_tokens.py needs a look."""
    assert csrf._get_new_csrf_string is csrf_tokens.new_csrf_string
    assert csrf._mask_cipher_secret is csrf_tokens.mask_cipher_secret
    made, new_csrf_string = [], csrf_tokens.new_csrf_string

    def counted():
        made.append(new_csrf_string())
        return made[-1]

    monkeypatch.setattr(csrf_tokens, "new_csrf_string", counted)
    monkeypatch.setattr(csrf, "_get_new_csrf_string", counted)
    request = RequestFactory().get("/")
    token = csrf.get_token(request)
    secret, mask = made
    assert request.META["CSRF_COOKIE"] == secret
    assert token[:32] == mask
    assert csrf._unmask_cipher_token(token) == secret


@pytest.mark.django_db
def test_the_token_of_a_page_is_accepted_and_a_changed_one_refused():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/")
    token = TOKEN_IN_PAGE.search(page.content.decode()).group(1)
    assert len(token) == 64 and client.cookies["csrftoken"].value == csrf._unmask_cipher_token(token)
    changed = ("b" if token[40] == "a" else "a").join((token[:40], token[41:]))
    assert client.post("/elderly-mode/", {"csrfmiddlewaretoken": changed, "on": "1"}).status_code == 403
    response = client.post("/elderly-mode/", {"csrfmiddlewaretoken": token, "on": "1", "next": "/"})
    assert response.status_code == 302
