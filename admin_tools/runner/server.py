"""Serve this project in a background thread, so a local run needs no separate web server.

The embedded server answers the headless page, the API, ``/static/`` (from the finders, so
the pinned three.js copy works without ``collectstatic``) and ``/media/`` on
``127.0.0.1:<free port>``. It is the runner's own server: it stops when the run ends.
"""

import posixpath
import socket
import threading
import warnings
from urllib.parse import unquote

from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db import connections
from django.http.request import validate_host

from icosa.media import serve_file


class ServerError(Exception):
    """The embedded server could not start."""


class QuietRequestHandler(WSGIRequestHandler):
    """No access log (a run prints one line per asset), and no Nagle delay.

    wsgiref writes the headers and the body of a response separately; on a kept-alive
    connection Nagle's algorithm then holds the body until the browser's delayed ACK,
    about 40 ms per request, which is a quarter of the time of a small model.
    """

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, *args):
        pass


class MediaFilesHandler(StaticFilesHandler):
    """Serve uploads under ``MEDIA_URL`` from ``MEDIA_ROOT`` (read per request)."""

    def get_base_url(self):
        return settings.MEDIA_URL

    def serve(self, request):
        relative = posixpath.normpath(unquote(self.file_path(request.path)))
        return serve_file(request, relative.lstrip("/"))


class SerializedApplication:
    """Run one request at a time; used when threads must share one database connection."""

    def __init__(self, application):
        self.application = application
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.application(environ, start_response))


class EmbeddedServer:
    """A threaded WSGI server for this project; use as a context manager.

    An in-memory SQLite database (the test database) only exists on the connection that
    created it, so in that case the server threads share that connection and requests are
    served one at a time, as Django's ``LiveServerThread`` does. That connection is the one of
    the thread that makes the server (connections are per thread); ``start()`` may then run
    in another (the runner starts it beside Chromium).
    """

    host = "127.0.0.1"
    server_class = ThreadedWSGIServer
    handler_class = QuietRequestHandler

    def __init__(self, *, host=None, port=0):
        self.host = host or self.host
        self.port = port
        self.httpd = None
        self.thread = None
        self._memory_connections = {
            conn.alias: conn for conn in connections.all() if conn.vendor == "sqlite" and conn.is_in_memory_db()
        }
        self._shared = {}

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        if not validate_host(self.host, settings.ALLOWED_HOSTS):
            raise ServerError(
                f"{self.host} is not in ALLOWED_HOSTS; add it (DJANGO_ALLOWED_HOSTS) "
                "or point --server at a running gallery"
            )
        shared = self._memory_connections
        with warnings.catch_warnings():
            # WhiteNoise warns that STATIC_ROOT is missing; the finders serve /static/ here.
            warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
            django_app = get_wsgi_application()
        application = StaticFilesHandler(MediaFilesHandler(django_app))
        if shared:
            for conn in shared.values():
                conn.inc_thread_sharing()
            application = SerializedApplication(application)
        self._shared = shared
        try:
            self.httpd = self.server_class(
                (self.host, self.port),
                self.handler_class,
                allow_reuse_address=False,
                connections_override=shared or None,
            )
        except OSError as error:
            raise ServerError(f"Cannot listen on {self.host}:{self.port}: {error}") from None
        self.port = self.httpd.server_address[1]
        self.httpd.set_app(application)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            name="render-thumbnails-server",
            daemon=True,
        )
        self.thread.start()
        return self.url

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None
        for conn in self._shared.values():
            conn.dec_thread_sharing()
        self._shared = {}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()
