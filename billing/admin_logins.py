"""Locked-out logins in the admin: django-axes' failed-login records, seen by platform admins (superusers
included) and auditors (billing.access); only platform admins lift a lock-out, with the "Unlock" action
(billing.staff_auth.unlock_login, audited). Nobody edits, adds or deletes the records by hand."""

from axes.models import AccessAttempt
from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing import access, staff_auth
from billing.admin_scoping import ScopedAdminMixin

# django-axes names its app "Axes" and ships no Chinese: the admin lists it by what it holds.
apps.get_app_config("axes").verbose_name = _("Login lock-outs")


@admin.register(AccessAttempt)
class LoginLockoutAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["username", "ip_address", "failures_since_start", "attempt_time", "locked", "path_info"]
    list_filter = ["attempt_time"]
    search_fields = ["username", "ip_address"]
    ordering = ["-attempt_time"]
    readonly_fields = [
        "username",
        "ip_address",
        "user_agent",
        "path_info",
        "failures_since_start",
        "attempt_time",
        "get_data",
        "post_data",
        "http_accept",
    ]
    actions = ["unlock"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # an unlock is the "Unlock" action: audited, never a bare delete

    @admin.display(boolean=True, description=_("locked"))
    def locked(self, obj):
        from django.conf import settings

        return obj.failures_since_start >= settings.AXES_FAILURE_LIMIT

    def has_unlock_permission(self, request):
        return access.is_platform_admin(request.user)

    @admin.action(description=_("Unlock the selected logins"), permissions=["unlock"])
    def unlock(self, request, queryset):
        if not self.has_unlock_permission(request):
            raise PermissionDenied
        keys = sorted(set(queryset.values_list("username", flat=True)) - {None})
        for key in keys:
            staff_auth.unlock_login(key=key, acting_user=request.user, reason="admin action")
        self.message_user(
            request,
            ngettext("%(count)d login unlocked.", "%(count)d logins unlocked.", len(keys))
            % {"count": len(keys)},
            messages.SUCCESS,
        )
