"""SQLite: a thread that copies the WAL into the database file while the seeder writes."""

from __future__ import annotations

import contextlib
import sqlite3
import threading


class _Checkpointer:
    """Copies the WAL into the database file after each batch, from a connection of its own.

    The writer's own automatic checkpoint is off meanwhile: the copy (and its fsync) no longer
    holds up the next batch.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.changed = threading.Condition()
        self.asked = self.done = 0  # copies asked for, and the last one begun that has finished
        self.stopping = self.finished = False
        self.wal_bytes = 0  # the WAL's length at the last copy
        self.thread = threading.Thread(target=self._main, name="seed-catalog-checkpointer", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        with self.changed:
            self.asked += 1
            self.changed.notify_all()

    def wait(self) -> None:
        """Until the copy asked for last is done."""
        with self.changed:
            self.changed.wait_for(lambda: self.done >= self.asked or self.finished)

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.thread.join()

    def _main(self) -> None:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, uri=self.path.startswith("file:"))
        try:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            while True:
                with self.changed:
                    self.changed.wait_for(lambda: self.asked > self.done or self.stopping)
                    if self.asked == self.done:
                        return  # stopping, nothing left to copy
                    asked = self.asked
                with contextlib.suppress(sqlite3.Error):  # a missed copy only leaves the WAL longer
                    _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.wal_bytes = frames * page_size
                with self.changed:
                    self.done = asked
                    self.changed.notify_all()
        finally:
            db.close()
            with self.changed:
                self.finished = True
                self.changed.notify_all()
