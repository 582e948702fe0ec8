"""seed_catalog's generator process (SQLite): it makes each batch while the writer writes the one before.

Why a process and not a thread: SQLite keeps process-wide memory statistics behind one mutex
(SQLITE_CONFIG_MEMSTATUS, on by default, and Python's sqlite3 cannot turn it off), so two
threads that both run SQLite flat out spend a good part of their time waiting for each other;
a process of its own has its own SQLite (and its own GIL, for the Python functions the SQL
calls). docs/performance.md has the measurements.

How: the process is a new interpreter running this file as a script, not a fork (the writer has
threads and an open database), and this file imports nothing but the standard library (keep it
so: it runs without Django, and without the catalog.seeding package around it). It is told over a pipe what SQL to run:
`setup` once (the helper tables and their rows), then each batch's statements and the slot to
write them into. A slot is a database file in a directory of its own, in /dev/shm where there
is one (memory, not disk); the process answers with (slot, versions) when the batch is in it.
The writer attaches that file read-only, copies the batch into the catalog, detaches it and
hands the slot back with the next batch to make. Two slots: one being written to the catalog,
the other being filled.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import traceback
import urllib.parse
from multiprocessing.connection import Connection
from typing import NoReturn

SLOTS = 2
DIRECTORY_PREFIX = "olcs-seed-"  # then the writer's process id and a random part
Steps = list[tuple[str, list[tuple] | None]]


class Recorder:
    """Collects the statements something would execute (execute, executemany), to run them elsewhere."""

    def __init__(self) -> None:
        self.steps: Steps = []

    def execute(self, sql: str) -> None:
        self.steps.append((sql, None))

    def executemany(self, sql: str, rows) -> None:
        self.steps.append((sql, list(rows)))


def slot_schema(slot: int) -> str:
    """The schema a slot's file is attached as in the generator process."""
    return f"olcs_seed_slot{int(slot)}"


def register_functions(db: sqlite3.Connection, rng) -> None:
    """The Python functions the batch SQL calls: a seeded random number, SHA-256."""
    if rng is not None:
        db.create_function("olcs_seed_random", 0, lambda: rng.getrandbits(62))
    db.create_function("olcs_seed_sha256", 1, sha256_hex, deterministic=True)


_SHA256 = hashlib.sha256()


def sha256_hex(text: str) -> str:
    # A copy of a ready context: hashlib.sha256() itself looks the algorithm up on every call.
    digest = _SHA256.copy()
    digest.update(text.encode())
    return digest.hexdigest()


def _memory_directory() -> str | None:
    """The shared-memory file system when it is there and writable, else the system's temporary directory."""
    # A private directory is made inside it (mkdtemp, mode 0700).
    shm = "/dev/shm"  # noqa: S108  # nosec B108
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _remove_orphans(parent: str) -> None:
    """Remove the slot directories of seeds whose process is gone (killed together with its generator)."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        owner = entry.name.removeprefix(DIRECTORY_PREFIX).split("-", 1)[0]
        if not (entry.name.startswith(DIRECTORY_PREFIX) and owner.isdigit()):
            continue
        try:
            if (
                not entry.is_dir(follow_symlinks=False)
                or entry.stat(follow_symlinks=False).st_uid != os.getuid()
            ):
                continue
            os.kill(int(owner), 0)
        except ProcessLookupError:  # its seed is gone
            shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:  # alive (another user's process), or already removed
            continue


class GeneratorProcess:
    """The generator process and its slot files, seen from the writer."""

    def __init__(self, setup: Steps, rng) -> None:
        parent = _memory_directory() or tempfile.gettempdir()
        _remove_orphans(parent)
        # Named after this process, so a later seed can tell when its owner is gone.
        self.directory = tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-", dir=parent)
        self.paths = [os.path.join(self.directory, f"batch-{slot}.sqlite3") for slot in range(SLOTS)]
        ours, theirs = socket.socketpair()
        # A plain interpreter running this file as a script (not multiprocessing's spawn, which
        # would import the caller's main script again, nor `-m`, which would import the package
        # and Django with it), isolated (-I: no script directory or user site on sys.path), talking
        # over its end of a socket pair.
        try:
            self.process = subprocess.Popen(  # noqa: S603  # nosec B603  # this interpreter, this file, a number
                [sys.executable, "-I", os.path.abspath(__file__), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.connection = Connection(ours.detach())
        self.connection.send((self.paths, setup, rng))

    def generate(self, slot: int, steps: Steps) -> None:
        """Make a batch in `slot` (free: the writer is done with it) by running `steps`."""
        try:
            self.connection.send(("batch", slot, steps))
        except OSError:  # its end of the socket is closed: the process is gone (and may have said why)
            self._gone()

    def ready(self) -> tuple[int, int]:
        """Wait for the next batch: its slot and its number of versions."""
        while not self.connection.poll(1):
            if self.process.poll() is not None:
                break
        try:
            message = self.connection.recv()
        except (EOFError, OSError):
            self._gone()
        if message[0] == "error":
            raise RuntimeError(f"the seed_catalog generator process failed:\n{message[1]}")
        _, slot, versions = message
        return slot, versions

    def _gone(self) -> NoReturn:
        """The process has ended: raise its last word, if it was an error, or that it stopped."""
        with contextlib.suppress(EOFError, OSError):
            while self.connection.poll(0):
                message = self.connection.recv()
                if message[0] == "error":
                    raise RuntimeError(f"the seed_catalog generator process failed:\n{message[1]}")
        raise RuntimeError(f"the seed_catalog generator process stopped (exit code {self.process.wait()})")

    def uri(self, slot: int) -> str:
        """The slot's file as a read-only SQLite URI, for ATTACH."""
        return f"file:{urllib.parse.quote(self.paths[slot])}?mode=ro"

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(("stop",))
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.connection.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _main(connection: Connection) -> None:
    """The generator process: run `setup`, then each batch it is sent, until told to stop.

    If the writer goes away without a word (killed), this removes the slot files itself.
    """
    paths, setup, rng = connection.recv()
    db = sqlite3.connect(":memory:", isolation_level=None)
    orphaned = False
    try:
        db.execute("PRAGMA temp_store = MEMORY")
        db.execute("PRAGMA temp.cache_size = -262144")
        for slot, path in enumerate(paths):
            schema = slot_schema(slot)
            db.execute(f"ATTACH DATABASE ? AS {schema}", (path,))
            # A slot only ever holds one throwaway batch: no journal, no fsync.
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -131072"):
                db.execute(f"PRAGMA {schema}.{pragma}").fetchall()
        register_functions(db, rng)
        _run(db, setup)
        while True:
            message = connection.recv()
            if message[0] == "stop":
                return
            _, slot, steps = message
            db.execute("BEGIN")
            _run(db, steps)
            db.execute("COMMIT")
            count = f"SELECT count(*) FROM {slot_schema(slot)}.olcs_seed_v"  # noqa: S608  # nosec B608  # a schema named from an integer
            versions = db.execute(count).fetchone()[0]
            connection.send(("ready", slot, versions))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        orphaned = True  # the writer is gone
    except KeyboardInterrupt:
        orphaned = True
    except BaseException:  # told to the writer, which raises it
        with contextlib.suppress(OSError):
            connection.send(("error", traceback.format_exc()))
    finally:
        db.close()
        connection.close()
        if orphaned:
            shutil.rmtree(os.path.dirname(paths[0]), ignore_errors=True)


def _run(db: sqlite3.Connection, steps: Steps) -> None:
    for sql, rows in steps:
        if rows is None:
            db.execute(sql)
        else:
            db.executemany(sql, rows)


if __name__ == "__main__":
    _main(Connection(int(sys.argv[1])))
