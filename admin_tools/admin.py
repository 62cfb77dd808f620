"""Admin integration: the generator page, its token endpoint, actions and thumbnail history."""

import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from icosa.admin import AssetAdmin as BaseAssetAdmin
from icosa.models import THUMBNAIL_PERMISSION, Asset

from . import fleet, priority, services
from .importmap import three_import_map
from .models import ThumbnailFailure, ThumbnailRunner, ThumbnailSelection, ThumbnailVersion
from .pageconfig import page_config


class ThumbnailVersionInline(admin.TabularInline):
    model = ThumbnailVersion
    fk_name = "asset"
    extra = 0
    can_delete = False
    fields = ("preview", "is_current", "created_at", "created_by", "runner_id", "renderer", "size", "quality", "revert")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name_plural = "Thumbnail versions"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Preview")
    def preview(self, obj):
        return format_html(
            '<a href="{}"><img src="{}" alt="" width="128" height="80" style="object-fit:cover"></a>',
            obj.preview_image.url,
            obj.thumbnail.url,
        )

    @admin.display(description="Size")
    def size(self, obj):
        return f"{obj.width}×{obj.height}, {obj.bytes} bytes"

    @admin.display(description="Quality")
    def quality(self, obj):
        """The page's quality record: flags first (what a reviewer looks for), then numbers."""
        numbers = ", ".join(
            f"{label} {value:.2f}"
            for label, value in (
                ("coverage", obj.coverage),
                ("margin", obj.margin),
                ("luminance", obj.luminance),
                ("contrast", obj.contrast),
            )
            if value is not None
        )
        if not obj.quality_flags:
            return numbers or "—"
        return format_html('<strong class="needs-review">{}</strong><br>{}', ", ".join(obj.quality_flags), numbers)

    @admin.display(description="")
    def revert(self, obj):
        if obj.is_current:
            return "current"
        url = reverse("admin:icosa_asset_revert_thumbnail", args=[obj.asset_id, obj.pk])
        return format_html(
            '<button type="submit" form="revert-form" formaction="{}" class="button">{}</button>',
            url,
            "Revert to this version",
        )


class AssetAdmin(BaseAssetAdmin):
    change_form_template = "admin/icosa/asset/change_form.html"
    actions = ["generate_thumbnails", "regenerate_thumbnails", "render_now"]
    inlines = [*BaseAssetAdmin.inlines, ThumbnailVersionInline]

    def get_urls(self):
        opts = self.model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        custom = [
            path(
                "batch-thumbnail-generator/",
                self.admin_site.admin_view(self.batch_thumbnails_view),
                name=f"{prefix}_batch_thumbnails",
            ),
            path(
                "batch-thumbnail-generator/token/",
                self.admin_site.admin_view(self.page_token_view),
                name=f"{prefix}_batch_thumbnails_token",
            ),
            path(
                "<path:object_id>/thumbnail-versions/<int:version_id>/revert/",
                self.admin_site.admin_view(self.revert_thumbnail_view),
                name=f"{prefix}_revert_thumbnail",
            ),
        ]
        return custom + super().get_urls()

    def has_thumbnail_permission(self, request):
        return request.user.is_active and request.user.is_staff and request.user.has_perm(THUMBNAIL_PERMISSION)

    def batch_thumbnails_view(self, request):
        if not self.has_thumbnail_permission(request):
            raise PermissionDenied("Admin access required")
        request.current_app = self.admin_site.name
        selection = None
        selection_id = request.GET.get("selection")
        if selection_id:
            try:
                selection = ThumbnailSelection.objects.get(pk=uuid.UUID(selection_id))
            except (ValueError, ThumbnailSelection.DoesNotExist):
                messages.error(request, "That selection no longer exists; showing all assets missing a thumbnail.")
        config = page_config(
            tokenUrl=reverse("admin:icosa_asset_batch_thumbnails_token"),
            assetListUrl=reverse("admin:icosa_asset_changelist"),
            runnerId=f"admin-{request.user.pk}-{uuid.uuid4().hex[:8]}",
            selection=(
                {"id": str(selection.pk), "count": len(selection.asset_ids), "force": selection.force}
                if selection
                else None
            ),
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Batch Thumbnail Generator",
            "config": config,
            "import_map": three_import_map(),
            "selection": selection,
        }
        return TemplateResponse(request, "admin/icosa/asset/batch_thumbnail_generator.html", context)

    def page_token_view(self, request):
        """A short-lived JWT for the page, minted per request and never written into HTML."""
        if request.method != "POST":
            return JsonResponse({"detail": "Method not allowed"}, status=405)
        if not self.has_thumbnail_permission(request):
            return JsonResponse({"detail": "Admin access required"}, status=403)
        minutes = settings.JWT_PAGE_TOKEN_MINUTES
        token = request.user.generate_jwt_token(minutes=minutes, purpose="page")
        return JsonResponse({"access_token": token, "token_type": "bearer", "expires_in": minutes * 60})

    def revert_thumbnail_view(self, request, object_id, version_id):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:icosa_asset_change", args=[object_id]))
        if not self.has_thumbnail_permission(request):
            raise PermissionDenied("Admin access required")
        if not (object_id.isascii() and object_id.isdigit()) or max(int(object_id), version_id) > 2**63 - 1:
            raise Http404("No such asset")
        version = get_object_or_404(ThumbnailVersion, pk=version_id, asset_id=int(object_id))
        try:
            services.revert_thumbnail(version=version, user=request.user)
        except ThumbnailVersion.DoesNotExist:
            raise Http404("That thumbnail version no longer exists") from None
        self.message_user(request, f"Reverted the thumbnail to version {version.pk}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:icosa_asset_change", args=[object_id]))

    def _open_generator(self, request, queryset, *, force):
        ids = list(queryset.order_by("id").values_list("pk", flat=True))
        selection = services.save_selection(asset_ids=ids, user=request.user, force=force)
        url = reverse("admin:icosa_asset_batch_thumbnails")
        return HttpResponseRedirect(f"{url}?selection={selection.pk}")

    @admin.action(description="Generate thumbnails (opens batch generator)", permissions=["thumbnail"])
    def generate_thumbnails(self, request, queryset):
        return self._open_generator(request, queryset, force=True)

    @admin.action(description="Regenerate thumbnails", permissions=["thumbnail"])
    def regenerate_thumbnails(self, request, queryset):
        return self._open_generator(request, queryset, force=True)

    @admin.action(description="Render now (front of the runners' queue)", permissions=["thumbnail"])
    def render_now(self, request, queryset):
        """Queue the selection at WANTED priority for whatever runners are watching."""
        ids = list(queryset.values_list("pk", flat=True))
        queued = priority.render_now(ids)
        skipped = len(ids) - queued
        note = (
            f" {skipped} skipped (a thumbnail already, not complete, or queued already; use Regenerate to redo one)."
            if skipped
            else ""
        )
        self.message_user(
            request, f"Queued {queued} asset{'s' if queued != 1 else ''} first for the runners.{note}", messages.SUCCESS
        )


admin.site.unregister(Asset)
admin.site.register(Asset, AssetAdmin)


@admin.register(ThumbnailFailure)
class ThumbnailFailureAdmin(admin.ModelAdmin):
    list_display = ("asset", "reason", "attempts", "last_failed_at", "runner_id")
    list_filter = ("reason",)
    search_fields = ("asset__name", "asset__url", "reason", "detail")
    raw_id_fields = ("asset",)
    readonly_fields = ("first_failed_at",)


@admin.register(ThumbnailRunner)
class ThumbnailRunnerAdmin(admin.ModelAdmin):
    """The fleet page: every runner that heartbeats, alive, stale or gone (admin_tools.fleet)."""

    list_display = ("runner_id", "fleet_state", "user", "host", "version", "renderer", "started_at",
                    "last_seen_at", "done", "failed", "rate_per_minute")  # fmt: skip
    search_fields = ("runner_id", "host", "renderer")
    readonly_fields = [f.name for f in ThumbnailRunner._meta.fields]

    @admin.display(description="State")
    def fleet_state(self, obj):
        return fleet.state(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
