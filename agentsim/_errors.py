"""The one error type for bad input, and the base of agentsim's own errors.

Every problem with something a user handed us (a scenario file, an option, a cassette) is raised
as `InputError`, carrying where it is (file, line, column, field path) and what was expected, so
the CLI can print one line and exit 2 instead of a traceback.
"""

from __future__ import annotations

__all__ = ["AgentsimError", "InputError"]


class AgentsimError(Exception):
    """Base class of every error agentsim raises on purpose."""


class InputError(AgentsimError, ValueError):
    """Bad input: names the file, the position and what was expected.

    `str(error)` reads ``file:line:column: path: message`` with the parts that are known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"
