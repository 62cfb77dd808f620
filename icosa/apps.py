from django.apps import AppConfig


class IcosaConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "icosa"
    verbose_name = "Icosa gallery"

    def ready(self):
        from . import (
            security,  # noqa: F401 (registers the key check)
            services,
        )

        services.connect()
