"""The CSRF secret and its per-page mask, each from one read of the OS's random source.

Django makes both with `get_random_string`: 32 `secrets.choice`, each its own `os.urandom` call, so a
visitor without the CSRF cookie (a first visit, and every request of the lookup benchmark) cost 64 of them
per page, a tenth of what the bill-lookup page adds to the framework's floor (docs/benchmarks.md). The
strings are the same: 32 characters of `CSRF_ALLOWED_CHARS`, each uniform and independent (a random byte
is kept only below the largest multiple of 62 and taken modulo 62), from `os.urandom` as `secrets` reads it.

The mask is added to the secret character by character (Django's cipher: the sum of the two characters'
places in the alphabet, modulo 62) by one table lookup each instead of two `str.index` and three generators.

Django has no setting for either, so `install()` (at the config app's ready) puts these functions in place of
`django.middleware.csrf._get_new_csrf_string`, the one function through which Django's CSRF code makes both
strings, and of `_mask_cipher_secret`. `tests/test_csrf_tokens.py` fails if a Django upgrade stops calling
them there or masks differently (a token is checked by Django's own unmasking, on every POST).
"""

import os

from django.middleware import csrf

_CHARS = csrf.CSRF_ALLOWED_CHARS
_ALPHABET = _CHARS.encode("ascii")
_LENGTH = csrf.CSRF_SECRET_LENGTH
_LIMIT = 256 - 256 % len(_ALPHABET)  # 248: the bytes below it fall on each character equally often
_TO_CHARACTER = bytes(_ALPHABET[byte % len(_ALPHABET)] if byte < _LIMIT else 0 for byte in range(256))
_OVER_LIMIT = bytes(range(_LIMIT, 256))
# 8 spare bytes: a read falls short (9 or more of 40 bytes over the limit) about once in a million.
_READ = _LENGTH + 8


def new_csrf_string() -> str:
    """32 random characters of Django's CSRF alphabet, as `get_random_string(32, CSRF_ALLOWED_CHARS)`."""
    text = b""
    while len(text) < _LENGTH:
        text += os.urandom(_READ).translate(_TO_CHARACTER, _OVER_LIMIT)
    return text[:_LENGTH].decode("ascii")


# (secret's character, mask's character) → the token's character.
_CIPHER = {
    (secret, mask): _CHARS[(i + j) % len(_CHARS)]
    for i, secret in enumerate(_CHARS)
    for j, mask in enumerate(_CHARS)
}


def mask_cipher_secret(secret: str) -> str:
    """A new mask and the secret masked with it, as Django's `_mask_cipher_secret`."""
    mask = new_csrf_string()
    return mask + "".join(map(_CIPHER.__getitem__, zip(secret, mask, strict=True)))


def install() -> None:
    csrf._get_new_csrf_string = new_csrf_string
    csrf._mask_cipher_secret = mask_cipher_secret
