"""The one error type a user sees: what is wrong, and how to fix it."""

from __future__ import annotations


class VoicecliError(Exception):
    """A user-facing failure. The CLI prints ``message`` and ``hint`` on one line and exits non-zero."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        if self.hint:
            text += f". Fix: {self.hint}"
        return " ".join(text.split())


class ModelMissing(VoicecliError):
    """A model file (or directory) that should exist does not."""


class AudioError(VoicecliError):
    """No device, an unreadable file, an unsupported format."""


class LLMError(VoicecliError):
    """The LLM backend failed: server down, broken stream, bad trace."""
