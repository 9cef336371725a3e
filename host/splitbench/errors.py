"""Typed errors. Every error a user can cause is a :class:`SplitbenchError` whose message is one
clear line; the CLI prints that line and exits non-zero, with no traceback."""


class SplitbenchError(Exception):
    """Base class: the message is shown to the user as it is, on one line."""

    exit_code = 2


class ModelError(SplitbenchError):
    """The model argument cannot be used: not a model, truncated, unknown name, bad shapes."""


class SplitPointError(SplitbenchError):
    """A split index outside 0..N, or a cut that cannot be made."""


class MeasurementError(SplitbenchError):
    """A measurement of one part failed (e.g. an operator the runtime cannot resolve)."""


class NetworkConfigError(SplitbenchError):
    """The network configuration file is missing, malformed or has impossible values."""


class DeviceError(SplitbenchError):
    """A phone (or the emulated phone) is missing, unauthorised, offline, full or unplugged."""

    exit_code = 3


class ResultsError(SplitbenchError):
    """The results database cannot be used: missing, not a splitbench database, or newer."""


class Interrupted(SplitbenchError):
    """Ctrl-C during a long run: what finished is saved, the rerun resumes."""

    exit_code = 130


class IncompleteRun(SplitbenchError):
    """The command wrote its table, but some requested part was not measured (it failed, or
    the run stopped): never an exit 0 over a hole."""

    exit_code = 1
