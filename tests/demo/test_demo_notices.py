"""The demo shows notices reaching people: its suspended convenience store told the two portal users whose
accounts were paid there, each in their own language, and the consenting counter phone, once each."""

import re

import pytest
from django.core import mail

from branches.choices import BranchStatus
from branches.models import Branch, OutletNotice
from demo import notices, seed
from payers import sms

pytestmark = pytest.mark.django_db


def test_the_demo_outlet_suspension_reaches_its_payers_in_their_languages(
    settings, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = "payers.sms.LocmemSMSBackend"
    sms.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        seed.seed_demo(accounts=60)
    with django_capture_on_commit_callbacks(execute=True):
        seed.seed_demo(accounts=60)  # a second run tells nobody again

    assert Branch.objects.get(code=notices.OUTLET).status == BranchStatus.SUSPENDED
    told = sorted(OutletNotice.objects.values_list("email", "phone", "language"))
    assert told == [
        ("", "+8613957101888", "zh-hans"),
        ("emily@example.com", "", "en"),
        ("zhao_li@example.com", "", "zh-hans"),
    ]
    by_address = {message.to[0]: message for message in mail.outbox}
    assert "is now Temporarily suspended" in by_address["emily@example.com"].subject
    assert not re.search(
        "[\u4e00-\u9fff]", by_address["emily@example.com"].body.split("\n", 1)[1].split("Reason")[0]
    )
    assert "现已暂停服务" in by_address["zhao_li@example.com"].subject
    # The outlet's notice, once; the demo's disputed debit (demo/disputes.py) texts its own payer.
    outlet_texts = [message.to for message in sms.outbox if "DSP" not in message.body]
    assert outlet_texts == ["+8613957101888"]
