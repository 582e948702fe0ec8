"""Open Library on loopback with faults: FakeOpenLibrary's answers over a raw TCP server that can
also hang, reset, close, answer 5xx/429, send malformed JSON or HTML, or stream without end.

A raw socket server (not an HTTP framework) because resets, hangs and endless bodies are
below what an HTTP server lets a handler do. Every connection carries one request and gets
`Connection: close`, so each retry is a new connection and the server knows which client port
(and so which process, see `client_pid`) sent it.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.fake_openlibrary import FakeOpenLibrary

REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Fault:
    """What the server does instead of answering, for requests whose path starts with a prefix.

    kind: "status" (an answer with `status`, `headers`, `body`), "hang" (say nothing for
    `seconds`), "reset" (RST), "close" (close without a word), "stream" (a 200 head, then
    `megabytes` of JSON whitespace, or until the client goes away), "drip" (a 200 head, then a
    byte every 0.1 s for `seconds`: no single read times out).
    "redirect" (a `status` 3xx to `location`, where `{target}` stands for the request's own path
    and query).
    `times`: how many requests get the fault (None: all of them).
    """

    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    megabytes: int = 0
    times: int | None = None
    location: str | Callable[[str], str] = ""


def status(code: int, body: bytes = b'{"error": "busy"}', **headers: str) -> Fault:
    return Fault("status", status=code, headers={"Content-Type": "application/json", **headers}, body=body)


def redirect(location: str | Callable[[str], str], code: int = 302, times: int | None = None) -> Fault:
    """A redirect to `location`: `{target}` in it stands for the request's path and query; a
    function is given that target and returns the location."""
    return Fault("redirect", status=code, location=location, times=times)


@dataclass
class Request:
    at: float  # time.monotonic() when the request head arrived
    path: str
    client_port: int


class FaultyOpenLibrary:
    """`fake`'s catalog served on 127.0.0.1, with `faults` by path prefix.

    `on_request(request)` runs before each answer (faulty or not), in the server's thread.
    """

    def __init__(self, fake: FakeOpenLibrary | None = None) -> None:
        self.fake = fake or FakeOpenLibrary()
        self.faults: dict[str, Fault] = {}
        self.on_request: Callable[[Request], None] | None = None
        self.requests: list[Request] = []
        self.streamed_bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._socket.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()
        return f"http://{host}:{port}"

    def hits(self, prefix: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path.startswith(prefix)]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    # --- serving ------------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, address = self._socket.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(connection, address[1]), daemon=True).start()

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            for prefix, fault in self.faults.items():
                if path.startswith(prefix) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _handle(self, connection: socket.socket, client_port: int) -> None:
        with connection:
            connection.settimeout(10)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
            parts = urlsplit(target)
            request = Request(at=time.monotonic(), path=parts.path, client_port=client_port)
            with self._lock:
                self.requests.append(request)
            if self.on_request is not None:
                self.on_request(request)
            fault = self._fault_for(parts.path)
            try:
                if fault is None:
                    code, headers, body = self.fake.handle("GET", parts.path, parse_qs(parts.query))
                    connection.sendall(_answer(code, headers, body.encode("utf-8")))
                elif fault.kind == "status":
                    connection.sendall(_answer(fault.status, fault.headers, fault.body))
                elif fault.kind == "redirect":
                    location = (
                        fault.location(target)
                        if callable(fault.location)
                        else fault.location.replace("{target}", target)
                    )
                    connection.sendall(
                        _answer(fault.status, {"Location": location, "Content-Type": "text/html"}, b"")
                    )
                elif fault.kind == "reset":
                    # SO_LINGER 0: close() sends RST, as a crashed or overloaded peer does.
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif fault.kind == "hang":
                    self._stop.wait(fault.seconds)
                elif fault.kind == "stream":
                    self._stream(connection, fault)
                elif fault.kind == "drip":
                    self._drip(connection, fault)
                # "close": the with block closes the socket without a word
            except OSError:
                pass  # the client went away, which is what these faults provoke

    def _stream(self, connection: socket.socket, fault: Fault) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        chunk = b" " * 65536
        for _ in range(fault.megabytes * 16):
            if self._stop.is_set():
                return
            connection.sendall(chunk)
            with self._lock:
                self.streamed_bytes += len(chunk)
        connection.sendall(b"{}")

    def _drip(self, connection: socket.socket, fault: Fault) -> None:
        """A 200 head, then one byte every 0.1 s for `seconds`: every socket read succeeds."""
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        ends = time.monotonic() + fault.seconds
        while time.monotonic() < ends and not self._stop.wait(0.1):
            connection.sendall(b" ")
        connection.sendall(b"{}")


def _answer(code: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- Which process sent a request ---------------------------------------------------------------


def client_pid(client_port: int, server_port: int) -> int | None:
    """The pid of the local process holding the TCP connection from `client_port` to
    `server_port`, from /proc (Linux): the socket's inode, then the process with that fd."""
    wanted = f":{client_port:04X}"
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if local.endswith(wanted) and remote.endswith(f":{server_port:04X}"):
                inode = fields[9]
                break
        if inode:
            break
    if not inode or inode == "0":
        return None
    link = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == link:
                    return int(entry.name)
        except OSError:
            continue
    return None


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def json_body(payload: object) -> bytes:
    return json.dumps(payload).encode()
