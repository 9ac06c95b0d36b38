"""Side effects of branch status changes, run by Celery after commit: e-mails to recent payers and cash
coverage alerts. Each is recorded once (unique rows), so a task that runs twice sends nothing twice."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from billing import roles
from billing.audit import record_audit
from branches import selectors
from branches.choices import BranchStatus
from branches.models import BranchStatusChange, CoverageAlert, LowFloatAlert, OutletNotice, PlannedClosure
from payers import tasks as payer_tasks
from payers.accounts import normalize_mobile


def notify_recent_payers(*, status_change_id: int | None = None, closure_id: int | None = None) -> int:
    """Tell the citizens who paid at the outlet recently that it closes: by e-mail those found through the
    portal (`selectors.recent_payers_at`), each in the language on their profile, and by text message the
    mobile numbers left at its counter with consent (in the site's language: they have no profile), a
    number that belongs to a citizen told by e-mail excepted. One notice row per change and recipient:
    nobody is told twice, however often the task runs."""
    change = closure = None
    if status_change_id is not None:
        change = BranchStatusChange.objects.select_related("branch").get(pk=status_change_id)
        branch = change.branch
        facts = {
            "to_status": change.to_status,
            "starts_on": change.effective_on,
            "until": change.until,
            "reason": change.reason,
            "planned": False,
        }
    else:
        closure = PlannedClosure.objects.select_related("branch").get(pk=closure_id)
        branch = closure.branch
        facts = {
            "to_status": closure.to_status,
            "starts_on": closure.starts_on,
            "until": closure.ends_on,
            "reason": closure.reason,
            "planned": True,
        }
    facts["branch"] = branch
    facts["alternatives"] = selectors.nearest_open_alternatives(branch, limit=3)
    facts["site_url"] = settings.SITE_URL
    days = settings.BRANCH_NOTICE_RECENT_DAYS
    sent = 0
    told_phones = set()
    for payer in selectors.recent_payers_at(branch, days=days):
        if payer.mobile:
            told_phones.add(normalize_mobile(payer.mobile))
        email = payer.email or payer.user.email
        if not _record(change, closure, payer=payer, email=email, language=payer.language):
            continue  # told already, by an earlier run of this task
        subject, body = _render(facts, payer.language)
        payer_tasks.send_email.delay(subject, body, [email], settings.DEFAULT_FROM_EMAIL)
        sent += 1
    for phone in selectors.consenting_counter_phones(branch, days=days):
        if phone in told_phones or not _record(change, closure, phone=phone, language=settings.LANGUAGE_CODE):
            continue
        subject, _body = _render(facts, settings.LANGUAGE_CODE)
        payer_tasks.send_text_message.delay(phone, f"{subject}. {settings.SITE_URL}/outlets/")
        sent += 1
    return sent


def _record(change, closure, *, language: str, payer=None, email: str = "", phone: str = "") -> bool:
    """The notice's row, written before it is sent; False when this recipient was told already."""
    try:
        with transaction.atomic():
            OutletNotice.objects.create(
                status_change=change,
                closure=closure,
                payer=payer,
                email=email,
                phone=phone,
                language=language,
            )
    except IntegrityError:
        return False
    return True


def _render(facts: dict, language: str) -> tuple[str, str]:
    """The notice's subject and body, wholly in `language` (the outlet's status named in it too)."""
    with translation.override(language):
        context = {**facts, "status": str(BranchStatus(facts["to_status"]).label)}
        subject = render_to_string("branches/emails/outlet_notice-subject.txt", context).strip()
        body = render_to_string("branches/emails/outlet_notice-body.txt", context)
    return subject, body


def platform_admin_emails() -> list[str]:
    User = get_user_model()
    return sorted(
        set(
            User.objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(groups__name=roles.PLATFORM_ADMIN))
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def check_cash_coverage(*, district: str) -> int:
    """Open an alert for each cash biller whose open outlets in the district are below the threshold,
    resolve alerts that no longer hold, and e-mail platform admins about the new ones."""
    billers, rows = selectors.cash_coverage(district)
    if not rows:
        return 0
    row = rows[0]
    raised = []
    now = timezone.now()
    for biller in billers:
        count = row.by_biller.get(biller.pk, 0)
        current = CoverageAlert.objects.filter(
            district=district, biller=biller, resolved_at__isnull=True
        ).first()
        below = row.threshold is not None and count < row.threshold
        if below and current is None:
            try:
                with transaction.atomic():
                    alert = CoverageAlert.objects.create(
                        district=district, biller=biller, open_outlets=count, threshold=row.threshold
                    )
                    record_audit(
                        actor=None,
                        action="coverage.alert_raised",
                        target=alert,
                        district=district,
                        biller=biller.code,
                        open_outlets=count,
                        threshold=row.threshold,
                    )
            except IntegrityError:
                continue
            raised.append(alert)
        elif not below and current is not None:
            current.resolved_at = now
            current.save(update_fields=["resolved_at"])
            record_audit(actor=None, action="coverage.alert_resolved", target=current, open_outlets=count)
    if raised:
        with translation.override(settings.LANGUAGE_CODE):
            context = {"district": district, "alerts": raised, "site_url": settings.SITE_URL}
            subject = render_to_string("branches/emails/coverage_alert-subject.txt", context).strip()
            body = render_to_string("branches/emails/coverage_alert-body.txt", context)
        recipients = platform_admin_emails()
        if recipients:
            payer_tasks.send_email.delay(subject, body, recipients, settings.DEFAULT_FROM_EMAIL)
            CoverageAlert.objects.filter(pk__in=[a.pk for a in raised]).update(emailed_at=timezone.now())
    return len(raised)


def notify_low_float(*, alert_id: int) -> bool:
    """E-mail an agent's staff and the supervisors of its operator's branches that its float is low; once
    per alert (`notified_at`), so the task may run twice."""
    alert = LowFloatAlert.objects.select_related("agent", "agent__operator").filter(pk=alert_id).first()
    if alert is None or alert.notified_at is not None or alert.resolved_at is not None:
        return False
    agent = alert.agent
    User = get_user_model()
    recipients = sorted(
        set(
            User.objects.filter(is_active=True)
            .filter(
                Q(agent_roles__agent=agent)
                | Q(branch_roles__branch__operator=agent.operator, groups__name=roles.BRANCH_SUPERVISOR)
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    claimed = LowFloatAlert.objects.filter(pk=alert.pk, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not claimed or not recipients:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        context = {"alert": alert, "agent": agent, "site_url": settings.SITE_URL}
        subject = render_to_string("branches/emails/low_float-subject.txt", context).strip()
        body = render_to_string("branches/emails/low_float-body.txt", context)
    payer_tasks.send_email.delay(subject, body, recipients, settings.DEFAULT_FROM_EMAIL)
    return True
