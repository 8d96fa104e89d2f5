"""Work done in a forked process while this one goes on: `Forked(fn).result()` is `fn()`.

A forked process sees this one as it was at the fork (copy-on-write: nothing is pickled
on the way in), and sends back its value, pickled, through a pipe. Fork only where no other
thread runs (a thread holding a lock at the fork leaves it held in the child): before a
process pool starts, or after it ends.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Forked(Generic[T]):
    """`fn()`, computed in a forked process from now on. `result()` gives its value (raising
    what it raised); `close()` ends the process if nobody took the result. Without `fork`
    (not Linux or macOS), or when the process died before it answered (killed, out of memory,
    a value that does not pickle), `result()` computes `fn()` here."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.pid, self.fd = 0, -1
        if not hasattr(os, "fork"):
            return
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            code = 0
            try:
                os.close(r)
                try:
                    answer: tuple[bool, object] = (True, fn())
                except Exception as e:  # the parent raises it where it wants the value
                    answer = (False, e)
                with os.fdopen(w, "wb") as out:
                    pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # the parent, gone or closing, reads nothing
                code = 1
            os._exit(code)
        os.close(w)
        self.pid, self.fd = pid, r

    def result(self) -> T:
        if self.pid == 0:
            return self.fn()
        try:
            with os.fdopen(self.fd, "rb") as answer:
                self.fd = -1
                ok, value = pickle.load(answer)
        except (EOFError, pickle.UnpicklingError):  # the child died first
            return self.fn()
        finally:
            self.close()
        if not ok:
            assert isinstance(value, Exception)
            raise value
        return cast("T", value)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)  # done already, or not wanted any more
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = 0
