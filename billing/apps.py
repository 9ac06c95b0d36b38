from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billers, bills and payments")

    def ready(self):
        # Declare who may see and change this app's models (billing.access holds only the mechanism).
        from billing.admin_access import declare_access

        declare_access()
        # Its panels on the staff home (billing.dashboard holds only the mechanism).
        from billing.dashboard import declare_panels

        declare_panels()

        from allauth.account.signals import password_reset
        from allauth.mfa.signals import authenticator_added
        from django.contrib.auth.signals import user_logged_in

        from billing import staff_auth

        staff_auth.check_mfa_required_roles()

        user_logged_in.connect(staff_auth.record_staff_password_login, dispatch_uid="staff-password-login")
        authenticator_added.connect(staff_auth.record_totp_activation, dispatch_uid="staff-totp-activation")
        password_reset.connect(staff_auth.clear_lockout_on_password_reset, dispatch_uid="lockout-reset")

        # Tasks that exhausted their retries become FailedTask rows (billing.failed_tasks).
        from celery.signals import task_failure

        from billing import failed_tasks

        task_failure.connect(failed_tasks.on_task_failure, dispatch_uid="billing-failed-tasks", weak=False)

        from billing import presentment

        # Rows the hot paths keep in each process's memory (config.local_cache): forgotten when they change.
        from billing.models import Biller, BillerCategory
        from billing.presentment_models import BillerLink
        from config import local_cache

        local_cache.watch(Biller, BillerCategory, BillerLink)

        failed_tasks.register_retry_handler(presentment.CONFIRM_TASK, presentment.retry_failed_confirmation)

        # Fiscal e-receipts (billing.fiscal): requested from the outbox's payment events, sent again from the
        # failed-tasks list.
        from billing import fiscal, outbox

        outbox.register_consumer("fiscal-receipts", fiscal.receipts_for_events)
        failed_tasks.register_retry_handler(fiscal.WORK_TASK, fiscal.retry_failed_receipt)
