"""The machinery the tests' local peers (`tests/apns_peer.py`, `tests/google_peer.py`) share: a hypercorn server
in a background thread with its own event loop, for the length of a `with` block.

    listener = socket.create_server(("127.0.0.1", 0))   # listening now: an early client waits in the queue
    with serve_in_thread(application, config, listener, name="APNs peer", logger=logger):
        ... clients call 127.0.0.1:listener's port ...

What `serve_in_thread` guarantees:
- the server is accepting connections when the block starts (on the listener given, which hypercorn owns and
  closes from then on); a server that fails to start, or does not start in _START_TIMEOUT seconds, raises
  RuntimeError("the <name> did not start") instead of entering the block;
- it stops in a fraction of a second when the block ends, even with a client's connection open: open
  connections get _GRACE seconds to finish, then they are closed, a TLS one waiting at most _SSL_SHUTDOWN for
  the client's close_notify (asyncio's default: 30 s, for a client that may be on an event loop blocked by the
  very block that stops the server); a server still running after _STOP_TIMEOUT raises RuntimeError;
- a failure of the server itself, in its thread, is raised in the block's thread when the block ends
  (RuntimeError("the <name> failed") from it), unless the block raised;
- a client connection that ends in a network or TLS error is the client's business, not the server's failure:
  logged at DEBUG on the logger given (hypercorn's error log too).

It sets the config's `bind`, `graceful_timeout`, `include_server_header` (False), `errorlog` and `accesslog`
(None); the rest (TLS, ALPN, keep-alive) is the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope

__all__ = ["PeerApplication", "PeerLoop", "RequestRecords", "serve_in_thread"]

_Request = TypeVar("_Request")

_STOP_TIMEOUT = 5.0
_START_TIMEOUT = 5.0
_GRACE = 0.2  # seconds open connections get to finish when the server stops, then they are closed
_SSL_SHUTDOWN = 0.2  # seconds a closed TLS connection waits for the client's close_notify


class RequestRecords(Generic[_Request]):
    """A peer's records of the requests it received, safe to use from any thread: a peer records each request
    (under `_lock`, which it may use for its own state too) and calls `_lock.notify_all()`. `_failures` holds
    the errors of its application (`PeerApplication`): the peer raises the first when its block ends."""

    def __init__(self, name: str) -> None:
        self._name = name  # e.g. "APNs peer", for the errors
        self._lock = threading.Condition()
        self._requests: list[_Request] = []
        self._failures: list[Exception] = []

    @property
    def requests(self) -> list[_Request]:
        """Every request received since the start or the last reset(), in order of arrival."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, within: float = 5.0) -> list[_Request]:
        """Blocks until at least `count` requests are recorded, then returns them all. Do not call it on the
        event loop of the client it waits for: use `wait_for_requests_async` there."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, within):
                raise TimeoutError(f"{len(self._requests)} request(s) to the {self._name} in {within} s, not {count}")
            return list(self._requests)

    async def wait_for_requests_async(self, count: int, within: float = 5.0) -> list[_Request]:
        """`wait_for_requests` for a coroutine: the event loop keeps running while it waits."""
        deadline = time.monotonic() + within
        while True:
            requests = self.requests
            if len(requests) >= count:
                return requests
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(requests)} request(s) to the {self._name} in {within} s, not {count}")
            await asyncio.sleep(0.005)


class PeerApplication:
    """A peer's ASGI application: completes the lifespan, reads each HTTP request's whole body, then lets
    `respond` answer it. Its own errors are appended to `failures` (hypercorn would answer 500, which a test
    could take for a scripted one), then re-raised."""

    def __init__(self, failures: list[Exception]) -> None:
        self._failures = failures

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return  # hypercorn refuses a WebSocket the application does not accept
        try:
            body = bytearray()
            while True:
                event = await receive()
                if event["type"] == "http.disconnect":
                    return
                if event["type"] == "http.request":
                    body += event["body"]
                    if not event["more_body"]:
                        break
            headers = [(key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in scope["headers"]]
            await self.respond(scope, headers, bytes(body), send)
        except Exception as error:
            self._failures.append(error)
            raise

    async def respond(
        self, scope: HTTPScope, headers: list[tuple[str, str]], body: bytes, send: ASGISendCallable
    ) -> None:
        """Answers one request: `headers` in order, names in lower case."""
        raise NotImplementedError


class PeerLoop(asyncio.SelectorEventLoop):
    """An event loop whose TLS servers wait _SSL_SHUTDOWN, not 30 s, for a client's close_notify (hypercorn's
    `start_server` call does not pass `ssl_shutdown_timeout`), and that says when hypercorn's server is
    accepting connections."""

    serving: threading.Event | None = None

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:  # asyncio refuses the timeout for a server without TLS
            kwargs.setdefault("ssl_shutdown_timeout", _SSL_SHUTDOWN)
        server = await super().create_server(*args, **kwargs)
        if self.serving is not None:
            self.serving.set()
        return server


def _connection_error_logger(
    name: str, logger: logging.Logger
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    def log_connection_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """A connection that ends in a network or TLS error (hypercorn leaves some uncaught: asyncio's "SSL
        shutdown timed out" when a stopping server closes a connection whose client does not answer,
        "application data after close notify" from a client that closed while its other streams still wrote)
        is logged at DEBUG. Anything else goes to asyncio's own handler."""
        error = context.get("exception")
        if isinstance(error, OSError):  # ssl.SSLError and TimeoutError are OSErrors
            logger.debug("a connection to the %s ended: %r", name, error)
            return
        loop.default_exception_handler(context)

    return log_connection_errors


@contextmanager
def serve_in_thread(
    app: ASGIFramework, config: Config, listener: socket.socket, *, name: str, logger: logging.Logger
) -> Iterator[None]:
    """Serves `app` (ASGI) with `config` on `listener` in a background thread until the block ends (the
    module's docstring says what it guarantees). `name` (e.g. "APNs peer") names the server in errors, logs
    and the thread's name."""
    port = listener.getsockname()[1]
    config.bind = [f"fd://{listener.detach()}"]  # hypercorn's from here on: it closes the socket on shutdown
    config.graceful_timeout = _GRACE  # then hypercorn cancels the connections still open
    config.include_server_header = False
    config.errorlog = logger
    config.accesslog = None

    started = threading.Event()
    failure: list[BaseException] = []
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        assert isinstance(loop, PeerLoop)
        loop.serving = started
        stopping.append((loop, stop))
        await serve(app, config, shutdown_trigger=stop.wait, mode="asgi")

    def thread_main() -> None:
        try:
            with asyncio.Runner(loop_factory=PeerLoop) as runner:
                runner.get_loop().set_exception_handler(_connection_error_logger(name, logger))
                runner.run(run())
        except OSError as error:
            if not started.is_set():
                failure.append(error)
            else:  # hypercorn re-raises a connection's error when it stops (see log_connection_errors)
                logger.debug("a connection to the %s ended as it stopped: %r", name, error)
        except BaseException as error:  # re-raised in the block's thread
            failure.append(error)
        finally:
            started.set()

    thread = threading.Thread(target=thread_main, name=f"{name.lower().replace(' ', '-')}-{port}", daemon=True)
    thread.start()
    if not started.wait(_START_TIMEOUT) or failure:
        _stop(thread, stopping, name)
        raise RuntimeError(f"the {name} did not start") from (failure[0] if failure else None)
    try:
        yield
    finally:
        _stop(thread, stopping, name)
    # reached only when the block itself succeeded
    if failure:
        raise RuntimeError(f"the {name} failed") from failure[0]


def _stop(thread: threading.Thread, stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]], name: str) -> None:
    if stopping:
        loop, stop = stopping[0]
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            loop.call_soon_threadsafe(stop.set)
    thread.join(_STOP_TIMEOUT)
    if thread.is_alive():
        raise RuntimeError(f"the {name} did not stop in {_STOP_TIMEOUT} s")
