"""Exceptions: every failing switchc call raises a SwitchcError carrying the
library's message (which names the file, key or tensor and, where it
applies, the byte offset). Each status has its own subclass, which also
derives from the built-in exception Python code would expect for it, so
`except FileNotFoundError` catches a missing model directory and
`except ValueError` a bad argument."""


class SwitchcError(Exception):
    """A switchc call failed. `status` is the sc_status number, `status_name`
    its short name ("io", "format", ...), `offset` the byte offset into the
    file the message names (None when none applies), `message` the text."""

    def __init__(self, message, status=None, status_name=None, offset=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.status_name = status_name
        self.offset = offset

    def __str__(self):
        return self.message


class InvalidArgumentError(SwitchcError, ValueError):
    """SC_ERR_INVALID_ARG: the caller passed a bad argument."""


class SwitchcIOError(SwitchcError, OSError):
    """SC_ERR_IO: a file could not be opened, read or mapped."""


class FormatError(SwitchcError, ValueError):
    """SC_ERR_FORMAT: a file's contents are malformed."""


class UnsupportedError(SwitchcError, NotImplementedError):
    """SC_ERR_UNSUPPORTED: well-formed, but not something switchc handles."""


class LimitError(SwitchcError, OverflowError):
    """SC_ERR_LIMIT: a size is absurd or its arithmetic overflows."""


class SwitchcMemoryError(SwitchcError, MemoryError):
    """SC_ERR_NOMEM: an allocation failed."""


class MissingError(SwitchcError, FileNotFoundError):
    """SC_ERR_MISSING: an expected file, key or tensor is absent."""


class ShapeError(SwitchcError, ValueError):
    """SC_ERR_SHAPE: a tensor has the wrong shape or dtype."""


class BufferTooSmallError(SwitchcError):
    """SC_ERR_BUFFER_TOO_SMALL (the package retries with a larger buffer, so
    this reaching a caller is a bug)."""


_BY_STATUS = {1: InvalidArgumentError, 2: SwitchcIOError, 3: FormatError, 4: UnsupportedError, 5: LimitError,
              6: SwitchcMemoryError, 7: MissingError, 8: ShapeError, 9: BufferTooSmallError}


def from_status(status, message, status_name=None, offset=None):
    cls = _BY_STATUS.get(status, SwitchcError)
    return cls(message, status, status_name, offset)
