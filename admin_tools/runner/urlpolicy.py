"""Which model URLs a runner lets its page fetch.

A resource's ``external_url`` is user data. Fetched from a runner inside a private network it
could reach cloud metadata (169.254.169.254), the LAN or the runner's own services. So a URL
whose host resolves to a private, loopback, link-local or otherwise non-global address is
refused, unless it is the gallery itself (same address and port: a gallery on 127.0.0.1
serves its own files from there, but the runner's other local ports stay out of reach).
Relative URLs are the gallery's own.
"""

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

ALLOWED_SCHEMES = ("http", "https")


def _addresses(host):
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return set()
    return {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}


def _port(parts):
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _internal(address):
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


class UrlPolicy:
    """``refused(url)`` says why a URL may not be fetched, or returns None."""

    def __init__(self, gallery_url):
        self.gallery_url = gallery_url.rstrip("/") + "/"
        gallery = urlsplit(self.gallery_url)
        self.gallery_origin = (gallery.scheme, gallery.hostname, _port(gallery))
        self.gallery = (set(_addresses(gallery.hostname or "")), _port(gallery))
        self._seen = {}

    def refused(self, url):
        parts = urlsplit(urljoin(self.gallery_url, url))
        if parts.scheme not in ALLOWED_SCHEMES:
            return f"{url}: only http and https URLs are fetched"
        if (parts.scheme, parts.hostname, _port(parts)) == self.gallery_origin:
            return None
        key = (parts.hostname or "", _port(parts))
        if key not in self._seen:
            addresses = _addresses(key[0])
            gallery_addresses, gallery_port = self.gallery
            if not addresses:
                self._seen[key] = f"{url}: the host {key[0]!r} does not resolve"
            elif any(_internal(a) and not (a in gallery_addresses and key[1] == gallery_port) for a in addresses):
                self._seen[key] = f"{url}: refused, {key[0]} is a private, loopback or link-local address"
            else:
                self._seen[key] = None
        return self._seen[key]

    def refused_in(self, asset):
        """The first refusal among an asset's format roots and resources, or None."""
        for fmt in asset.get("formats") or []:
            urls = [fmt.get("root_url")] + [r.get("url") for r in fmt.get("resources") or []]
            for url in urls:
                if url:
                    reason = self.refused(url)
                    if reason:
                        return reason
        return None
