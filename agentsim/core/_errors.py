"""The one error type for bad input, the base of agentsim's own errors, and the network guard's.

Every problem with something a user handed us (a scenario file, an option, a cassette) is raised
as `InputError`, carrying where it is (file, line, column, field path) and what was expected, so
the CLI can print one line and exit 2 instead of a traceback. `NetworkBlockedError` lives here
rather than in the pytest plugin so that code can catch it without importing pytest.
`HarnessError` is agentsim failing to set up a run (an optional library missing, two runs that
may not overlap): reports call it "harness: ...", never the loop under test's fault.
"""

from __future__ import annotations

__all__ = ["AgentsimError", "HarnessError", "InputError", "NetworkBlockedError"]


class AgentsimError(Exception):
    """Base class of every error agentsim raises on purpose."""


class HarnessError(AgentsimError, RuntimeError):
    """agentsim could not run the simulation as asked: its limitation, not the loop's fault."""


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


class NetworkBlockedError(AgentsimError, ConnectionRefusedError):
    """A socket connect or host lookup made inside a simulated run, refused by the pytest plugin's
    network guard (see `agentsim.pytest._plugin`).

    It is a `ConnectionRefusedError`, so HTTP clients and SDKs handle it as they handle a
    connection that cannot be made; the plugin fails the test anyway, even if the loop under
    test swallows the error.
    """
