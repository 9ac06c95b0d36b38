"""Role scoping for every back-office screen. What a role may do is decided in `billing.access`; this
module only applies it to Django's admin hooks, so no admin can see or change rows outside its scope."""

from django.contrib import admin
from django.http import Http404

from billing import access


class ScopedAdminMixin:
    """Rows, permissions and foreign-key choices scoped by the user's role (see `billing.access`).

    Put it first in the bases. An object outside the user's scope answers 404 on every object view,
    the same as one that does not exist, so the URLs reveal nothing about other billers' data."""

    def get_queryset(self, request):
        return access.scoped_queryset(request.user, self.model, super().get_queryset(request))

    def _allowed(self, request, action, obj=None) -> bool:
        if not access.can(request.user, action, self.model):
            return False
        if obj is None or obj.pk is None or access.scope_filter(request.user, self.model) is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request):
        return access.can_view(request.user, self.model)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, "view", obj)

    def has_add_permission(self, request):
        return self._allowed(request, "add")

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, "delete", obj)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not access.is_platform_admin(request.user):
            raise Http404
        return obj

    def get_field_queryset(self, db, db_field, request):
        """Choices for a foreign key (select, raw-id or autocomplete) are the rows the user may see."""
        queryset = super().get_field_queryset(db, db_field, request)
        related = db_field.remote_field.model
        if queryset is None:
            queryset = related._default_manager.using(db)
        return access.scoped_queryset(request.user, related, queryset)


class ScopedInlineMixin:
    """Inlines follow their parent: visible with it, changed only by those who may change it."""

    def _parent_allows(self, request, action, obj) -> bool:
        parent_admin = self.admin_site._registry.get(self.parent_model)
        if parent_admin is None:
            return False
        if action == "view":
            return parent_admin.has_view_permission(request, obj)
        return parent_admin.has_change_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        return self._parent_allows(request, "view", obj)

    def has_add_permission(self, request, obj=None):
        return self._parent_allows(request, "change", obj)

    def has_change_permission(self, request, obj=None):
        return self._parent_allows(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self._parent_allows(request, "change", obj)

    def get_field_queryset(self, db, db_field, request):
        queryset = super().get_field_queryset(db, db_field, request)
        related = db_field.remote_field.model
        if queryset is None:
            queryset = related._default_manager.using(db)
        return access.scoped_queryset(request.user, related, queryset)


class ScopedBillerListFilter(admin.RelatedOnlyFieldListFilter):
    """A `biller` filter offering only billers the user may see: `visible_billers` for those who may
    view billers, else the billers of the rows on this screen (already scoped)."""

    def field_choices(self, field, request, model_admin):
        if access.can_view(request.user, field.related_model):
            billers = access.visible_billers(request.user).order_by("code")
            return [(biller.pk, str(biller)) for biller in billers]
        return super().field_choices(field, request, model_admin)


class ScopedBranchListFilter(admin.RelatedOnlyFieldListFilter):
    """A `branch` filter offering only branches the user may see (the branches app scopes them)."""

    def field_choices(self, field, request, model_admin):
        if access.can_view(request.user, field.related_model):
            branches = access.scoped_queryset(request.user, field.related_model).order_by("code")
            return [(branch.pk, str(branch)) for branch in branches]
        return super().field_choices(field, request, model_admin)
