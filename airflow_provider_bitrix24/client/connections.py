"""Opening connections to the portal ahead of a wave of concurrent requests.

A parallel export sends dozens of batch requests the moment its probe request returns. Each
needs its own connection, and opening one (TCP, TLS handshake) costs a round trip or two and
about a millisecond of CPU under the GIL, so the last request of the wave leaves noticeably
later than the first. While the probe is in flight the client has nothing else to do:
:class:`ConnectionWarmer` opens connections then, one after another, and stops as soon as
the probe returns, so a small export wastes at most what fitted into its probe's round trip.

This is best effort: any failure only means the requests open their own connections as before.
It uses urllib3's pool methods ``_get_conn``/``_put_conn`` (stable across urllib3 1.26 and 2.x);
requests offers no public way to pre-open pooled connections.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

import requests
from requests.utils import select_proxy

log = logging.getLogger(__name__)


# How long :meth:`ConnectionWarmer.finish` waits for a connect still in progress: about a TLS
# handshake on a slow link. After that the requests go ahead and open their own connections.
_FINISH_WAIT = 0.5
# A caller that never calls finish() (it should, in a finally) does not keep connections out of
# the pool for longer than this.
_HOLD_AT_MOST = 120.0


class ConnectionWarmer:
    """Opens up to ``count`` connections for ``url`` in a background thread until :meth:`finish`."""

    def __init__(self, session: requests.Session, url: str, count: int) -> None:
        self._stop = threading.Event()
        self._pool = _pool_for(session, url) if count > 0 else None
        self.opened = 0
        self._thread: threading.Thread | None = None
        if self._pool is not None:
            self._thread = threading.Thread(
                target=self._run, args=(count,), name="bitrix24-warmup", daemon=True
            )
            self._thread.start()

    def _run(self, count: int) -> None:
        pool, held = self._pool, []
        # The request in flight holds one of the pool's connections; more would not be kept.
        count = min(count, getattr(pool.pool, "maxsize", count + 1) - 1)
        try:
            for _ in range(count):
                if self._stop.is_set():
                    break
                conn = pool._get_conn()  # an idle pooled connection, or a new unopened one
                if getattr(conn, "sock", None) is not None and not held:
                    pool._put_conn(conn)  # the pool already has idle connections: no warm-up
                    return
                held.append(conn)
                if getattr(conn, "sock", None) is None:
                    conn.connect()
            # Held until the wave starts: handed back earlier, a connection's TLS session tickets
            # could still arrive before its first request (see _settle).
            self._stop.wait(_HOLD_AT_MOST)
        except Exception as exc:  # noqa: BLE001 - warming up is optional; requests connect on their own
            log.debug("connection warm-up stopped: %s", type(exc).__name__)
        finally:
            for conn in held:
                self.opened += _settle(conn)
                pool._put_conn(conn)

    def finish(self) -> None:
        """Stop opening connections and hand the opened ones to the pool."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_FINISH_WAIT)


def _pool_for(session: requests.Session, url: str) -> Any | None:
    """The urllib3 pool ``session`` would use for ``url`` (same TLS settings); None through a
    proxy, whose tunnel urllib3 sets up only for connections it opens for a request itself."""
    try:
        adapter = session.get_adapter(url)
        settings = session.merge_environment_settings(url, {}, None, None, None)
        if select_proxy(url, settings["proxies"]):
            return None
        request = requests.Request("POST", url).prepare()
        if hasattr(adapter, "get_connection_with_tls_context"):  # requests >= 2.32.2
            return adapter.get_connection_with_tls_context(
                request, settings["verify"], settings["proxies"], settings["cert"]
            )
        return adapter.get_connection(url, settings["proxies"])
    except Exception as exc:  # noqa: BLE001 - a custom adapter may not expose a pool
        log.debug("no pool to warm up: %s", type(exc).__name__)
        return None


def _settle(conn: Any) -> bool:
    """Whether ``conn`` is open and ready for a request.

    A TLS 1.3 server sends session tickets right after the handshake. Left unread, they make
    the socket readable, which urllib3 takes for a connection the server closed, so it would
    reconnect. Reading them here (without waiting) keeps the connection usable."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    timeout = sock.gettimeout()
    try:
        sock.setblocking(False)
        sock.recv(1)  # returns only if the server closed the connection or sent unasked data
        conn.close()
        return False
    except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
        return True  # nothing (more) to read: the normal case
    except (OSError, ValueError):
        conn.close()
        return False
    finally:
        if getattr(conn, "sock", None) is not None:
            sock.settimeout(timeout)
