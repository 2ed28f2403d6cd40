"""Stand-ins for the PopTorch SDK shared by the IPU submissions' tests.

Every IPU submission is tested against a recorder that only answers to PopTorch 3.4 names, so a
misspelt or newer SDK call fails on the host as it would on an IPU, and against CPU executors that
enforce one attached executor per IPU, as the device does. Each test module keeps its own
allow-list of PopTorch 3.4 names (``POPTORCH_34``), since each submission uses a different part of
the SDK; the executors that differ per submission stay in their test modules.
"""

import functools


class Recorder:
    """Stands in for an SDK module (``poptorch`` or ``popdist``): records each call by its dotted
    path, and refuses any name outside ``known``, so a misspelt method fails here as it would on
    an IPU."""

    def __init__(self, path, log, known):
        self._path, self._log, self._known = path, log, known

    def __getattr__(self, name):
        path = f"{self._path}.{name}"
        if not any(known == path or known.startswith(path + ".") for known in self._known):
            raise AttributeError(f"PopTorch 3.4 has no {path}")
        return Recorder(path, self._log, self._known)

    def __call__(self, *args, **kwargs):
        def plain(value):
            return value._path if isinstance(value, Recorder) else value

        self._log.append((self._path, tuple(map(plain, args)), {key: plain(value) for key, value in kwargs.items()}))
        return Recorder(self._path + "()", self._log, self._known)


def recorder_for(known):
    """A test module's recorder: ``recorder_for(POPTORCH_34)("poptorch", log)`` is the SDK module
    that answers only to the names in that module's ``POPTORCH_34``."""
    return functools.partial(Recorder, known=frozenset(known))


class OneIpu:
    """One IPU per process (one replica): at most one executor attached at a time."""

    def __init__(self):
        self.holder = None

    def attach(self, executor):
        assert self.holder is None, "two executors attached to one IPU"
        self.holder = executor

    def detach(self, executor):
        assert self.holder is executor, "detaching an executor that is not attached"
        self.holder = None
