"""report: a run drawn as one self-contained HTML timeline, for a person debugging it.

`_model` turns a `RunResult` (events, the harness's recording of provider requests, chunks, tool
runs and the cancel request, the options, the violations) or a checked SSE transcript into a
`Timeline`: rows of timed items, markers (deadline, idle timeout, cancel, drop) and pins (each
violation at its event). `_html` renders it as one page with inline CSS, SVG and a little JS: no
network, deterministic bytes, every user text escaped. Writing the page is the caller's (the CLI,
the fuzzer, the pytest plugin use the cassettes layer's atomic writer), so this layer does no I/O.

May import: core, loop, check, scenario, wire, sse, harness. Must not import: cassettes, serving,
adapters, fuzzing, pytest or the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentsim.check._invariants import Violation
from agentsim.core._exports import check_exports
from agentsim.harness._result import RunResult
from agentsim.report._html import render_html
from agentsim.report._model import Timeline, timeline_of_run, timeline_of_transcript

__all__ = ["Timeline", "render_html", "run_html", "timeline_of_run", "timeline_of_transcript"]


def run_html(
    result: RunResult,
    *,
    title: str = "agentsim run",
    dialect: str = "native",
    extra: Sequence[Violation] = (),
    notes: Sequence[str] = (),
) -> str:
    """The timeline page of one run (see `timeline_of_run`)."""
    return render_html(
        timeline_of_run(result, title=title, dialect=dialect, extra=extra, notes=notes)
    )


check_exports(__name__, globals(), __all__)
