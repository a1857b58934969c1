"""Upstream calls that end when the client who asked for them hangs up.

Why: a synchronous facade call (`/v1/moderations`, a non-streamed chat completion, a
transcription) holds a server thread while the upstream works. A client that gives up on a slow
upstream must not leave that thread, and the upstream's work, running until the upstream
timeout: one slow upstream would then tie up the server's threads one abandoned call at a time.

How, without moving the call off its thread: the request thread keeps making the call as before.
While it does (`watching(client_socket)`), the client's socket is in the epoll set of one watcher
thread per process, registered for `EPOLLRDHUP` only (the peer closed its side; the bytes of a
pipelined next request do not wake it). When that fires, the watcher cancels the request's
token: the upstream socket the request thread is reading or writing right now is shut down, so
its blocking `recv` returns at once and the upstream sees the connection closed (and stops
working on the request); any later read or write of the same request is refused. The retry
layer (`retry.py`) turns the resulting connection error into `Cancelled`: no retry, and no
failure counted against the upstream's circuit breaker.

Where the socket comes from: the upstream clients `make_client` builds use this module's network
backend (`_Backend`), whose streams report each read and write to the calling thread's token.
Only the socket in use by the cancelled request's own thread is ever shut down: a pooled
connection between two calls belongs to no token.

Limits: calls through an HTTP proxy (`HTTPS_PROXY`) use httpx's proxy transport, not this backend,
and run to their timeout; so do calls on threads that did not carry the token (`carry`), and
calls of a client whose socket cannot be peeked at (TLS terminated by the API server itself).
"""
from __future__ import annotations

import logging
import os
import select
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpcore2

log = logging.getLogger("mmservice.upstream")
T = TypeVar("T")
_local = threading.local()


class Cancelled(Exception):
    """The client hung up: this call was given up."""


class Token:
    """One request's upstream calls: cancelled once, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = False
        self._active: Any = None  # the stream this request is reading or writing now

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            stream, self._active = self._active, None
        if stream is not None:
            try:
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing is waiting on it

    def enter(self, stream: Any, error: type[Exception]) -> None:
        with self._lock:
            if self.cancelled:
                raise error("the client hung up: the upstream call was cancelled")
            self._active = stream

    def leave(self) -> None:
        with self._lock:
            self._active = None


def current() -> Token | None:
    return getattr(_local, "token", None)


def cancelled() -> bool:
    """Whether the calling thread's request was given up (the retry layer asks)."""
    token = current()
    return token is not None and token.cancelled


@contextmanager
def bound(token: Token | None) -> Iterator[None]:
    previous, _local.token = current(), token
    try:
        yield
    finally:
        _local.token = previous


def carry(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn`, run on another thread (a pool's) under the calling thread's token."""
    token = current()

    def run(*args: Any, **kwargs: Any) -> T:
        with bound(token):
            return fn(*args, **kwargs)
    return run


class _Stream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream):
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._watched(httpcore2.ReadError, self.inner.read, max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return self._watched(httpcore2.WriteError, self.inner.write, buffer, timeout)

    def _watched(self, error: type[Exception], call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` with this stream in the calling thread's token, if it has one: a
        hang-up then shuts the socket and the call raises `error`."""
        token = current()
        if token is None:
            return call(*args)
        token.enter(self, error)
        try:
            return call(*args)
        finally:
            token.leave()

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore2.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore2.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        token = current()
        if token is not None and token.cancelled:
            raise httpcore2.ConnectError("the client hung up: the upstream call was cancelled")
        return _Stream(self.inner.connect_tcp(host, port, timeout, local_address,
                                              socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore2.NetworkStream:
        return _Stream(self.inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def http_client() -> Any:
    """The openai client's HTTP client (its own defaults) on the cancellable backend. httpx has
    no public setting for the backend: it is set on the transport's pool, and a pool without
    that attribute (another httpx) keeps its own backend: calls are then not cancellable."""
    import httpx2
    import openai

    transport = httpx2.HTTPTransport(limits=openai.DEFAULT_CONNECTION_LIMITS)
    pool = getattr(transport, "_pool", None)
    if isinstance(getattr(pool, "_network_backend", None), httpcore2.SyncBackend):
        pool._network_backend = _Backend()  # type: ignore[union-attr]
    else:
        log.warning("upstream calls cannot be cancelled: unknown httpx transport")
    return openai.DefaultHttpxClient(transport=transport)


# -- the watcher ---------------------------------------------------------------------------------
_ARMED = select.EPOLLRDHUP | select.EPOLLONESHOT


def _at_eof(sock: socket.socket) -> bool | None:
    """True: the peer closed; False: it is there (nothing to read); None: cannot tell (bytes
    are waiting, or a socket that does not peek, e.g. TLS)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ValueError:
        return None
    except OSError:  # reset
        return True


class _Watcher:
    """One thread per process blocked in `epoll.poll`, cancelling the tokens of the client
    sockets that closed.

    Why each event is checked on the socket (a peek) before anything is cancelled: an event
    names a file descriptor, and the request that registered it may have ended and its number
    gone to a new connection between `poll` returning and the lock being taken. A socket with
    nothing to read is still there: it is re-armed (one-shot registration, so a socket whose
    state cannot be told never makes the thread spin)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.epoll = select.epoll()
        self.watched: dict[int, tuple[socket.socket, Token]] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._run, name="client-hangups", daemon=True).start()

    def _run(self) -> None:
        while True:
            for fd, _ in self.epoll.poll():
                with self.lock:
                    sock, token = self.watched.get(fd, (None, None))
                    if sock is None or token is None:
                        continue
                    eof = _at_eof(sock)
                    if eof:
                        del self.watched[fd]
                        self.epoll.unregister(fd)
                    elif eof is False:
                        self.epoll.modify(fd, _ARMED)
                if eof:
                    token.cancel()

    def add(self, sock: socket.socket, token: Token) -> int:
        """-> the registered file descriptor, or -1 (closed, or watched already)."""
        with self.lock:
            try:
                fd = sock.fileno()
                self.epoll.register(fd, _ARMED)
            except (OSError, ValueError):
                return -1
            self.watched[fd] = (sock, token)
            return fd

    def remove(self, fd: int) -> None:
        with self.lock:
            if self.watched.pop(fd, None) is not None:
                self.epoll.unregister(fd)


_watcher: _Watcher | None = None
_made = threading.Lock()


def _the_watcher() -> _Watcher:
    """This process's watcher (a forked child starts its own: threads do not survive fork)."""
    global _watcher
    if _watcher is None or _watcher.pid != os.getpid():
        with _made:
            if _watcher is None or _watcher.pid != os.getpid():
                _watcher = _Watcher()
    return _watcher


@contextmanager
def watching(sock: socket.socket | None) -> Iterator[Token]:
    """The upstream calls made on this thread inside the block are cancelled when `sock` (the
    client's connection) is closed by the client. No socket (a test client): a token nobody
    cancels."""
    token = Token()
    watcher, fd = None, -1
    if sock is not None:
        watcher = _the_watcher()
        fd = watcher.add(sock, token)
    try:
        with bound(token):
            yield token
    finally:
        if watcher is not None and fd >= 0:
            watcher.remove(fd)
