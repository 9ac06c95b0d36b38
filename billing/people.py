"""How a person's name is written: Chinese names family name first and without a space (李婷), others
given name first (Ada Lovelace). Django's get_full_name always puts the given name first ("婷 李")."""

import re

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def full_name(first_name: str, last_name: str) -> str:
    first, last = (first_name or "").strip(), (last_name or "").strip()
    if CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def display_name(user) -> str:
    """The user's name as people write it, or the username when no name is recorded."""
    if user is None:
        return ""
    return full_name(user.first_name, user.last_name) or user.get_username()
