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


def describe(exc: BaseException) -> str:
    """One line for any exception: Spark/JVM errors are cut to their first meaningful line."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    if "Py4JJavaError" in type(exc).__name__ or first.startswith("An error occurred while calling"):
        # py4j puts the Java exception on the following lines
        for line in text.splitlines()[1:]:
            line = line.strip(" :\t")
            if line and not line.startswith("at "):
                first = line
                break
    return f"{type(exc).__name__}: {first[:400]}"


def run_entrypoint(main: object, argv: list[str] | None = None) -> int:
    """Run a job's main() as a program: user errors are one line plus a hint, not a traceback.

    `VODLAKE_DEBUG=1` re-raises so the full traceback shows.
    """
    import os
    import sys

    try:
        return int(main(argv) or 0)  # type: ignore[operator]
    except VodlakeError as exc:
        if os.environ.get("VODLAKE_DEBUG"):
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("VODLAKE_DEBUG"):
            raise
        print(f"error: {describe(exc)}", file=sys.stderr)
        print(
            "hint: rerun with --debug (or VODLAKE_DEBUG=1) for the full traceback", file=sys.stderr
        )
        return 1
