"""The gallery: users, assets, their formats and the files behind each format."""

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .formats import choices as format_choices
from .media import asset_folder, file_url, validate_resource_contenttype, validate_resource_file


def new_asset_url():
    return secrets.token_urlsafe(8)[:11]


def bare_filename(name):
    """The last path segment of a stored name or URL, without a query string."""
    return name.rsplit("/", 1)[-1].split("?", 1)[0]


def resource_upload_to(instance, filename):
    """Files live under the asset's id and its unguessable folder (icosa.media.asset_folder)."""
    return f"assets/{asset_folder(instance.asset_id)}/{filename}"


class User(AbstractUser):
    email = models.EmailField(_("email address"), unique=True, blank=True, null=True)
    displayname = models.CharField(_("display name"), max_length=255, blank=True)
    token_version = models.PositiveIntegerField(
        _("token version"),
        default=0,
        editable=False,
        help_text=_("Raised by a password change or deactivation: older API tokens stop working."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.displayname or self.username

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._loaded_is_active = user.__dict__.get("is_active")
        return user

    def set_password(self, raw_password):
        super().set_password(raw_password)
        self.token_version += 1

    def save(self, *args, **kwargs):
        # Email is unique but optional: a blank one is stored as NULL (many NULLs may exist).
        if not self.email:
            self.email = None
        if getattr(self, "_loaded_is_active", None) and not self.is_active:
            self.token_version += 1
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"password", "is_active"} & set(update_fields):
            kwargs["update_fields"] = set(update_fields) | {"token_version"}
        super().save(*args, **kwargs)
        self._loaded_is_active = self.is_active

    def generate_jwt_token(self, *, minutes=None, purpose="api"):
        """A signed HS256 access token for the thumbnail API."""
        from .jwt_auth import mint_token

        return mint_token(user=self, minutes=minutes, purpose=purpose)


#: The one permission the thumbnail API, the generator page and its actions require.
THUMBNAIL_PERMISSION_CODENAME = "change_asset_thumbnail"
THUMBNAIL_PERMISSION = f"icosa.{THUMBNAIL_PERMISSION_CODENAME}"


class ThumbnailPriority(models.IntegerChoices):
    """Which missing thumbnails a claim hands out first (admin_tools.runs.CLAIM_ORDER)."""

    WANTED = 1, _("wanted (viewed without a thumbnail, or rendered now)")
    RECENT = 2, _("recently completed (new upload or import)")
    BACKLOG = 3, _("backlog")


class Asset(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "PUBLIC", _("Public")
        PRIVATE = "PRIVATE", _("Private")
        UNLISTED = "UNLISTED", _("Unlisted")
        ARCHIVED = "ARCHIVED", _("Archived")

    class State(models.TextChoices):
        BARE = "BARE", _("Bare")
        UPLOADING = "UPLOADING", _("Uploading")
        COMPLETE = "COMPLETE", _("Complete")
        FAILED = "FAILED", _("Failed")

    id = models.BigAutoField(primary_key=True)
    url = models.CharField(_("url token"), max_length=32, unique=True, default=new_asset_url)
    name = models.CharField(_("name"), max_length=255, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assets",
    )
    visibility = models.CharField(_("visibility"), max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.BARE, db_index=True)
    is_viewer_compatible = models.BooleanField(
        _("viewer compatible"),
        default=False,
        help_text=_("Derived on save: true when a format the 3D viewer can draw is present."),
    )
    thumbnail = models.ImageField(_("thumbnail"), max_length=512, blank=True)
    preview_image = models.ImageField(_("preview image"), max_length=512, blank=True)
    thumbnail_contenttype = models.CharField(_("thumbnail content type"), max_length=64, blank=True)
    thumbnail_width = models.PositiveIntegerField(_("thumbnail width"), null=True, blank=True)
    thumbnail_height = models.PositiveIntegerField(_("thumbnail height"), null=True, blank=True)
    thumbnail_bytes = models.PositiveIntegerField(_("thumbnail bytes"), null=True, blank=True)
    thumbnail_needs_review = models.BooleanField(
        _("thumbnail needs review"),
        default=False,
        db_default=False,  # bulk loaders (bench/common.py) insert rows without it
        db_index=True,
        help_text=_("The current thumbnail's quality record carries a flag (dark, low contrast...)."),
    )
    thumbnail_generated_at = models.DateTimeField(_("thumbnail generated at"), null=True, blank=True)
    thumbnail_generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("thumbnail generated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    thumbnail_priority = models.PositiveSmallIntegerField(
        _("thumbnail priority"),
        choices=ThumbnailPriority.choices,
        default=ThumbnailPriority.BACKLOG,
        db_default=ThumbnailPriority.BACKLOG,
    )
    thumbnail_queued_at = models.DateTimeField(
        _("thumbnail queued at"),
        null=True,
        blank=True,
        help_text=_("When the asset was wanted or became complete; orders a priority's queue."),
    )
    presentation_params = models.JSONField(
        _("presentation parameters"),
        default=dict,
        blank=True,
        help_text=_('Viewer hints, e.g. {"backgroundColor": "#202020", "camera": {...}}.'),
    )
    create_time = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    update_time = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-create_time", "-id"]
        permissions = [(THUMBNAIL_PERMISSION_CODENAME, _("Can change asset thumbnails"))]
        indexes = [
            # Backs missing_thumbnails(): filter on thumbnail/state, order by id.
            models.Index(
                fields=["is_viewer_compatible", "id"],
                condition=Q(thumbnail="", state="COMPLETE"),
                name="asset_missing_thumb_idx",
            ),
            # Backs the claim's priority order (admin_tools.runs.CLAIM_ORDER) over the same rows.
            models.Index(
                fields=["is_viewer_compatible", "thumbnail_priority", "thumbnail_queued_at", "id"],
                condition=Q(thumbnail="", state="COMPLETE"),
                name="asset_thumb_queue_idx",
            ),
        ]

    def __str__(self):
        return self.name or self.url

    def save(self, *args, **kwargs):
        """An asset that becomes COMPLETE without a thumbnail is queued at RECENT priority
        (every writer: uploads, import_assets, the admin), unless it is already WANTED."""
        if (
            self.state == self.State.COMPLETE
            and getattr(self, "_loaded_state", None) != self.State.COMPLETE
            and not self.thumbnail
            and self.thumbnail_priority != ThumbnailPriority.WANTED
        ):
            self.thumbnail_priority = ThumbnailPriority.RECENT
            self.thumbnail_queued_at = timezone.now()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = set(update_fields) | {"thumbnail_priority", "thumbnail_queued_at"}
        super().save(*args, **kwargs)
        self._loaded_state = self.state

    def get_absolute_url(self):
        return reverse("icosa:asset", args=[self.url])

    @classmethod
    def from_db(cls, db, field_names, values):
        """Remember the loaded state, so save() sees an asset becoming COMPLETE."""
        asset = super().from_db(db, field_names, values)
        asset._loaded_state = asset.__dict__.get("state")
        return asset

    def preview_url(self):
        """The preview image's link, signed unless the asset is public."""
        return file_url(self.preview_image.name, visibility=self.visibility) if self.preview_image else ""


class Format(models.Model):
    # Members, values and labels come from the one format table (icosa/formats.py).
    FormatType = models.TextChoices("FormatType", format_choices())

    asset = models.ForeignKey(Asset, verbose_name=_("asset"), on_delete=models.CASCADE, related_name="formats")
    format_type = models.CharField(_("format type"), max_length=16, choices=FormatType.choices)
    root_resource = models.ForeignKey(
        "Resource",
        verbose_name=_("root resource"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The file a loader opens first (the .gltf, .glb or .obj)."),
    )
    is_preferred_for_gallery_viewer = models.BooleanField(_("preferred for viewer"), default=False)

    class Meta:
        ordering = ["-is_preferred_for_gallery_viewer", "id"]

    def __str__(self):
        return f"{self.format_type} of {self.asset_id}"


class Resource(models.Model):
    asset = models.ForeignKey(Asset, verbose_name=_("asset"), on_delete=models.CASCADE, related_name="resources")
    format = models.ForeignKey(
        Format,
        verbose_name=_("format"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="resources",
    )
    file = models.FileField(
        _("file"),
        max_length=512,
        upload_to=resource_upload_to,
        blank=True,
        validators=[validate_resource_file],
    )
    external_url = models.URLField(
        _("external url"),
        max_length=1024,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("http or https only."),
    )
    contenttype = models.CharField(
        _("content type"), max_length=128, blank=True, validators=[validate_resource_contenttype]
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.file.name or self.external_url

    def save(self, *args, **kwargs):
        """The allow-lists hold for every writer (admin, import_assets, scripts), not only forms."""
        if self.file:
            validate_resource_file(self.file)
        if self.external_url:
            for validator in self._meta.get_field("external_url").validators:
                validator(self.external_url)
        validate_resource_contenttype(self.contenttype)
        super().save(*args, **kwargs)

    @property
    def filename(self):
        """The name a loader asks for (relative URIs inside a .gltf or .mtl)."""
        return bare_filename(self.file.name or self.external_url)

    @property
    def url(self):
        if self.file:
            return file_url(self.file.name, visibility=self.asset.visibility)
        return self.external_url
