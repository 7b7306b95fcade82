"""User-facing errors: one clear line plus a hint, never a stack trace as the message."""

from __future__ import annotations


class VodlakeError(Exception):
    """An error a user can act on. The CLI prints `error: <message>` and `hint: <hint>`."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class ServiceUnavailable(VodlakeError):
    """A service vodlake needs (Kafka, Elasticsearch, Spark master) does not answer."""


class MediaError(VodlakeError):
    """A video cannot be processed; `message` is the reason recorded with status `failed`."""
