"""One error format for everything that comes in from outside (files, policy, options).

Validation happens at the boundary, scikit-learn style: the first bad input ends the run
with one message that names the file, the column or policy key, and up to three offending
values, so a nightly job's log says exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_EXAMPLES = 3


class ContactoptError(Exception):
    """Base of every error contactopt raises on purpose."""


class InputError(ContactoptError):
    """A scenario file, column, policy key or option is wrong; the run writes nothing."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        key: str | None = None,
        examples: Iterable[object] = (),
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.key = key
        self.message = message
        self.examples = tuple(examples)[:MAX_EXAMPLES]
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        text = f"{where}: {self.message}"
        if self.examples:
            text += " (e.g. " + ", ".join(_show(v) for v in self.examples) + ")"
        if self.hint:
            text += f"; {self.hint}"
        return text


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return repr(value) if isinstance(value, str) else str(value)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `name`, for 'did you mean' hints."""
    import difflib

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return found[0] if found else None
