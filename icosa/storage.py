"""S3/B2 storage that uploads each file with the content type and disposition icosa.media
serves it with, and can sign a URL for a file of a private asset."""

from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from .media import upload_parameters


class GalleryS3Storage(S3Storage):
    def get_object_parameters(self, name):
        return {**super().get_object_parameters(name), **upload_parameters(name)}

    def signed_url(self, name, *, expire):
        """A presigned GET for one object, whatever ``querystring_auth`` says for the rest."""
        key = self._normalize_name(clean_name(name))
        return self.bucket.meta.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket.name, "Key": key}, ExpiresIn=expire
        )
