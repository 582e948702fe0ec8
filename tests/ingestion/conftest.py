"""Fixtures for the Open Library client and throttle: recorded answers, fast retry settings,
a throttle that counts, and a raw TCP server for the failures an HTTP server cannot fake."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ingestion.openlibrary import OpenLibraryClient

DATA = Path(__file__).resolve().parents[1] / "data"


def read_answer(name: str) -> Any:
    """A recorded (or built) Open Library answer from tests/data, parsed."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def ol_answer() -> Callable[[str], Any]:
    return read_answer


class CountingThrottle:
    """Never waits; counts how many requests asked for a slot."""

    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0


class RecordingSleep:
    """A `sleep` that records each wait and really sleeps only when `real` is true."""

    def __init__(self, *, real: bool) -> None:
        self.real = real
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.real:
            time.sleep(seconds)


@pytest.fixture
def fast_retries(settings):
    """Four attempts, tiny backoff, a 1 s Retry-After cap and short timeouts."""
    settings.OPEN_LIBRARY_MAX_ATTEMPTS = 4
    settings.OPEN_LIBRARY_BACKOFF_BASE_SECONDS = 0.01
    settings.OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS = 1
    settings.OPEN_LIBRARY_TIMEOUT_SECONDS = (2, 2)
    settings.OPEN_LIBRARY_BASE_URL = "https://openlibrary.org"
    settings.PUBLIC_BASE_URL = "https://catalog.example.org"
    settings.OPEN_LIBRARY_CONTACT = "ops@example.org"
    return settings


@pytest.fixture
def make_client(fast_retries) -> Callable[..., OpenLibraryClient]:
    """A client with a CountingThrottle (`client.throttle.acquired`) and a RecordingSleep
    (`client.sleep.waits`) that sleeps for real only with real_sleep=True."""

    def make(base_url: str | None = None, *, real_sleep: bool = False) -> OpenLibraryClient:
        return OpenLibraryClient(base_url, throttle=CountingThrottle(), sleep=RecordingSleep(real=real_sleep))

    return make


# --- A raw TCP server: each connection gets the next scripted action ----------------------------


STREAM_LIMIT = 200 * 1024 * 1024


@dataclass
class Action:
    """What the server does with one connection after reading the request head."""

    kind: str  # "respond", "close", "reset", "hang", "stream"
    payload: bytes = b""
    seconds: float = 0.0


def respond(status: str, body: bytes, headers: dict[str, str] | None = None) -> Action:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return Action("respond", ("\r\n".join(head) + "\r\n\r\n").encode() + body)


@dataclass
class ScriptedServer:
    actions: list[Action]
    connections: list[float] = field(default_factory=list)  # monotonic time of each connection
    requests: list[bytes] = field(default_factory=list)  # each request head
    streamed_bytes: int = 0

    def __post_init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections.append(time.monotonic())
            action = self.actions.pop(0) if self.actions else Action("close")
            threading.Thread(target=self._handle, args=(connection, action), daemon=True).start()

    def _handle(self, connection: socket.socket, action: Action) -> None:
        with connection:
            connection.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            try:
                if action.kind == "respond":
                    connection.sendall(action.payload)
                elif action.kind == "reset":
                    # SO_LINGER 0: close() sends RST, as a crashed or overloaded peer does.
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif action.kind == "hang":
                    self._stop.wait(action.seconds)
                elif action.kind == "stream":
                    self._stream(connection, action)
                # "close": the with block closes the socket without a word
            except OSError:
                pass  # the client went away, which is what these tests provoke

    def _stream(self, connection: socket.socket, action: Action) -> None:
        connection.sendall(action.payload)  # the head, then spaces (valid JSON padding) for ever
        chunk = b" " * 65536
        deadline = time.monotonic() + (action.seconds or 10)
        while self.streamed_bytes < STREAM_LIMIT and time.monotonic() < deadline and not self._stop.is_set():
            connection.sendall(chunk)
            self.streamed_bytes += len(chunk)


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(*actions: Action) -> ScriptedServer:
        server = ScriptedServer(list(actions))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
