"""User-facing error types. The CLI prints ``str(error)`` as one line and exits 2; anything
else escaping is a bug and may traceback."""


class FstError(Exception):
    """Base of every error a user can cause with bad input."""


class MediaError(FstError):
    """A file that cannot be read or written as media (missing, empty, corrupt, no frames)."""


class StyleError(FstError):
    """A style that is unknown, or a style file that is corrupt, tampered or of another format."""


class OptionsError(FstError):
    """An option value out of range or inconsistent with others."""
