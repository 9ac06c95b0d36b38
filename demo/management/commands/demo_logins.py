"""`manage.py demo_logins`: where the demo runs and who can log in, printed right before runserver.
Refuses to run with DEBUG off."""

from django.contrib.auth import get_user_model
from django.urls import reverse

from billing import staff_auth
from demo import agents as agents_demo
from demo import data, plan
from demo.management.base import DemoCommand


class Command(DemoCommand):
    help = "Print the demo's address, admin address, and the demo users with their roles and password."

    def handle(self, *args, **options):
        existing = set(
            get_user_model()
            .objects.filter(username__in=[u.username for u in data.DEMO_USERS])
            .values_list("username", flat=True)
        )
        lines = [
            "",
            "开放式缴费平台 demo",
            f"  Site:  {data.SITE_URL}/",
            f"  Admin: {data.SITE_URL}{reverse('admin:index')}",
            f"  Password of every demo user: {data.DEMO_PASSWORD}",
            "",
            f"  {'username':<24}{'role':<24}{'2FA':<6}where",
        ]
        totp_roles = staff_auth.mfa_required_roles()
        for user in data.DEMO_USERS:
            missing = "" if user.username in existing else "  (missing: run `manage.py seed_demo`)"
            totp = "TOTP" if user.role in totp_roles else "-"
            lines.append(f"  {user.username:<24}{user.role:<24}{totp:<6}{user.where}{missing}".rstrip())
        if totp_roles:
            # Said before the first staff login rather than discovered at it (README, "Demo logins").
            lines += [
                "  TOTP: the first admin or counter login of these users sets up two-step verification",
                "  in an authenticator app (scan the QR code, type its code); keep the recovery codes.",
                "  Without a phone: STAFF_MFA_REQUIRED_ROLES= make run (no role needs it; demo only).",
            ]
        lines += ["", f"  Agents with a float (sign in at {data.SITE_URL}/agent/, no role, no 2FA):"]
        for agent in agents_demo.AGENTS:
            lines.append(f"  {agent.username:<24}{agent.code:<24}{'-':<6}{agent.name}")
        lines += ["", "  Accounts to try (户号):"]
        for biller, account_no, note in plan.sample_accounts():
            lines.append(f"  {account_no:<24}{biller}：{note}")
        lines.append("")
        self.stdout.write("\n".join(lines))
