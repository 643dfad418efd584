"""One writer per run directory: a lock file that names its owner, taken over from a dead process."""

from __future__ import annotations

import os
import socket
import warnings


class RunLockedError(RuntimeError):
    """Another live process is writing into the run directory."""


class RunLock:
    """One writer per run directory: ``run_dir/.lock`` holds the owner's host and pid.

    A second process fails at once with :class:`RunLockedError`; a lock left by a dead
    process on this host is taken over with a warning. The same process may take it
    again (an experiment holds it around data generation and training).
    """

    _held: dict[str, int] = {}

    def __init__(self, run_dir: str):
        self.path = os.path.join(os.path.abspath(run_dir), ".lock")
        self.owner = f"{socket.gethostname()} {os.getpid()}"

    def __enter__(self) -> "RunLock":
        if self._held.get(self.path):
            self._held[self.path] += 1
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.owner + "\n")
            self._held[self.path] = 1
            return self

    def _take_over_if_stale(self) -> None:
        try:
            with open(self.path) as f:
                host, _, pid = f.read().strip().partition(" ")
        except FileNotFoundError:
            return  # released meanwhile: try again
        alive = True
        if host == socket.gethostname() and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                alive = False
            except PermissionError:
                pass
        if alive:
            raise RunLockedError(
                f"{os.path.dirname(self.path)!r} is in use by process {pid} on {host} (lock file {self.path}); "
                f"wait for it to finish or choose another run directory"
            )
        warnings.warn(f"taking over the lock {self.path} of process {pid}, which is no longer running", stacklevel=4)
        os.remove(self.path)

    def __exit__(self, *exc) -> None:
        self._held[self.path] -= 1
        if not self._held[self.path]:
            del self._held[self.path]
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

