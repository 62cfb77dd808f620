from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.html import format_html

from .models import Asset, Format, Resource, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Gallery", {"fields": ("displayname",)}),)
    list_display = ("username", "email", "displayname", "is_staff", "is_active")
    search_fields = ("username", "email", "displayname")


class FormatInline(admin.TabularInline):
    model = Format
    extra = 0
    fields = ("format_type", "root_resource", "is_preferred_for_gallery_viewer")
    raw_id_fields = ("root_resource",)


class ResourceInline(admin.TabularInline):
    model = Resource
    extra = 0
    fields = ("format", "file", "external_url", "contenttype")


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("thumbnail_tag", "name", "url", "owner", "state", "is_viewer_compatible", "create_time")
    list_display_links = ("thumbnail_tag", "name")
    list_filter = (
        ("thumbnail", admin.EmptyFieldListFilter),
        "thumbnail_needs_review",
        "is_viewer_compatible",
        "state",
        "visibility",
        "formats__format_type",
    )
    search_fields = ("name", "url", "owner__username", "owner__displayname", "owner__email")
    list_select_related = ("owner",)
    # Thumbnails change only through admin_tools.services.store_thumbnail (checked,
    # re-encoded, versioned): never by a file field on this form.
    readonly_fields = (
        "is_viewer_compatible",
        "thumbnail",
        "preview_image",
        "thumbnail_contenttype",
        "thumbnail_width",
        "thumbnail_height",
        "thumbnail_bytes",
        "thumbnail_needs_review",
        "thumbnail_generated_at",
        "thumbnail_generated_by",
        "create_time",
        "update_time",
    )
    raw_id_fields = ("owner",)
    inlines = [FormatInline, ResourceInline]

    @admin.display(description="Thumbnail")
    def thumbnail_tag(self, obj):
        if not obj.thumbnail:
            return format_html('<span class="no-thumbnail">{}</span>', "—")
        return format_html('<img src="{}" alt="" width="96" height="60" style="object-fit:cover">', obj.thumbnail.url)


admin.site.register(Format)
admin.site.register(Resource)
