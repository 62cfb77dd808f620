"""Work records for thumbnail generation: versions, claims, failures and saved selections."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from icosa.media import asset_folder

#: The storage folder of every thumbnail file (``clean_orphan_thumbnails`` walks it).
THUMBNAIL_ROOT = "thumbnails"


def thumbnail_name(asset_id, filename: str) -> str:
    """Where a thumbnail file of ``asset_id`` is stored: the one file-naming rule (under the
    asset's unguessable folder, icosa.media.asset_folder)."""
    return f"{THUMBNAIL_ROOT}/{asset_folder(asset_id)}/{filename}"


def thumbnail_upload_to(instance, filename):
    return thumbnail_name(instance.asset_id, filename)


class ThumbnailVersion(models.Model):
    """One accepted thumbnail: its files, who made it and how. Earlier versions are kept."""

    asset = models.ForeignKey(
        "icosa.Asset",
        verbose_name=_("asset"),
        on_delete=models.CASCADE,
        related_name="thumbnail_versions",
    )
    thumbnail = models.ImageField(_("thumbnail"), max_length=512, upload_to=thumbnail_upload_to)
    preview_image = models.ImageField(_("preview image"), max_length=512, upload_to=thumbnail_upload_to)
    width = models.PositiveIntegerField(_("thumbnail width"))
    height = models.PositiveIntegerField(_("thumbnail height"))
    bytes = models.PositiveIntegerField(_("thumbnail bytes"))
    preview_width = models.PositiveIntegerField(_("preview width"))
    preview_height = models.PositiveIntegerField(_("preview height"))
    preview_bytes = models.PositiveIntegerField(_("preview bytes"), null=True, blank=True)
    content_hash = models.CharField(_("content hash"), max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    runner_id = models.CharField(_("runner"), max_length=128, blank=True)
    renderer = models.CharField(_("renderer"), max_length=255, blank=True, help_text=_("WebGL renderer string."))
    render_settings = models.JSONField(_("render settings"), default=dict, blank=True)
    # The page's quality record (render_settings.quality, checked by admin_tools.quality).
    coverage = models.FloatField(
        _("subject coverage"), null=True, blank=True, help_text=_("Share of the frame the subject covers, 0 to 1.")
    )
    margin = models.FloatField(
        _("subject margin"), null=True, blank=True, help_text=_("Subject's distance from the nearest edge, 0 to 1.")
    )
    luminance = models.FloatField(_("subject luminance"), null=True, blank=True)
    contrast = models.FloatField(
        _("subject contrast"), null=True, blank=True, help_text=_("Mean colour difference from the background, 0 to 1.")
    )
    quality_flags = models.JSONField(_("quality flags"), default=list, blank=True)
    needs_review = models.BooleanField(
        _("needs review"), default=False, db_index=True, help_text=_("The page flagged this capture.")
    )
    is_current = models.BooleanField(_("current"), default=False)
    reverted_from = models.ForeignKey(
        "self",
        verbose_name=_("reverted from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Set when this version was made by reverting to an earlier one."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["asset"], condition=Q(is_current=True), name="one_current_thumbnail"),
        ]

    def __str__(self):
        return f"Thumbnail {self.pk} of asset {self.asset_id}"


class ThumbnailDerivative(models.Model):
    """One more stored size or format of a version, beyond its own ``thumbnail`` and
    ``preview_image`` JPEGs: card crops at other widths, WebP, transparent PNG/WebP.

    Made after the upload's commit; a row is written only once its file exists, so every
    listed derivative can be fetched (``selectors.thumbnail_derivatives``).
    """

    class Kind(models.TextChoices):
        THUMBNAIL = "thumbnail", _("thumbnail (card crop)")
        PREVIEW = "preview", _("preview (whole capture)")
        TURNTABLE = "turntable", _("turntable (animated orbit, admin_tools.turntable)")

    class ImageFormat(models.TextChoices):
        JPEG = "JPEG", "JPEG"
        WEBP = "WEBP", "WebP"
        PNG = "PNG", "PNG"

    version = models.ForeignKey(
        ThumbnailVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="derivatives"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    format = models.CharField(_("format"), max_length=8, choices=ImageFormat.choices)
    file = models.FileField(_("file"), max_length=512, upload_to=thumbnail_upload_to)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    bytes = models.PositiveIntegerField(_("bytes"))
    has_alpha = models.BooleanField(_("transparent background"), default=False)

    class Meta:
        ordering = ["version", "kind", "width", "format"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "kind", "width", "format"], name="one_derivative_per_size_and_format"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.width}x{self.height} {self.format} of version {self.version_id}"


class ThumbnailClaim(models.Model):
    """A lease on one asset, so two runners never render the same asset."""

    asset = models.OneToOneField(
        "icosa.Asset",
        verbose_name=_("asset"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="thumbnail_claim",
    )
    runner_id = models.CharField(_("runner"), max_length=128, db_index=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("claimed by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    claimed_at = models.DateTimeField(_("claimed at"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        ordering = ["expires_at"]

    def __str__(self):
        return f"{self.asset_id} leased to {self.runner_id}"


class ThumbnailRun(models.Model):
    """One run of a client (an admin page's Start, one ``render_thumbnails``): what it claimed.

    The server keeps the run's memory so its clients need none: a claim never hands a run an
    asset it already had, and a forced run regenerates only what existed when it started.
    """

    id = models.CharField(_("run"), max_length=128, primary_key=True)
    started_at = models.DateTimeField(_("started"), db_index=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Run {self.id}"


class ThumbnailRunAsset(models.Model):
    """An asset a run has claimed once; it is never offered to that run again."""

    run = models.ForeignKey(ThumbnailRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="assets")
    asset = models.ForeignKey("icosa.Asset", verbose_name=_("asset"), on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "asset"], name="one_claim_per_run_and_asset"),
        ]

    def __str__(self):
        return f"{self.asset_id} in run {self.run_id}"


class ThumbnailFailure(models.Model):
    """Why an asset could not be rendered, and how often; keeps broken assets out of the way."""

    asset = models.OneToOneField(
        "icosa.Asset",
        verbose_name=_("asset"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="thumbnail_failure",
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    reason = models.CharField(_("reason"), max_length=64)
    detail = models.TextField(_("detail"), blank=True)
    runner_id = models.CharField(_("runner"), max_length=128, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reported by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    first_failed_at = models.DateTimeField(_("first failed"), auto_now_add=True)
    last_failed_at = models.DateTimeField(_("last failed"), db_index=True)

    class Meta:
        ordering = ["-last_failed_at"]

    def __str__(self):
        return f"{self.asset_id}: {self.reason} ({self.attempts}x)"


class ThumbnailSelection(models.Model):
    """Assets picked in the admin, saved server-side so a reload or 10,000 ids still work."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    asset_ids = models.JSONField(_("asset ids"), default=list)
    force = models.BooleanField(
        _("regenerate existing"),
        default=True,
        help_text=_("Render selected assets even if they already have a thumbnail."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Selection of {len(self.asset_ids)} assets"


class ThumbnailRunner(models.Model):
    """One runner of the fleet as its last heartbeat described it (admin_tools.fleet)."""

    runner_id = models.CharField(_("runner"), max_length=128, primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    host = models.CharField(_("host"), max_length=255, blank=True)
    version = models.CharField(_("version"), max_length=64, blank=True)
    renderer = models.CharField(_("renderer"), max_length=255, blank=True)
    started_at = models.DateTimeField(_("started"))
    last_seen_at = models.DateTimeField(_("last heartbeat"), db_index=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    done = models.PositiveIntegerField(_("done"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    rate_per_minute = models.FloatField(_("assets per minute"), default=0.0)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return self.runner_id
