"""Runs in a cassette: SDK and framework test suites record several independent calls in one file.

A cassette is split into runs by its streaming interactions, in order: an interaction whose
request continues the previous one's conversation belongs to the same run; any other starts a
new run. "Continues" is judged on the requests' messages, normalized per API (`_requests`:
roles, text, tool calls and results; ids, formatting and padding ignored):

- the request's messages extend the previous request's messages (the previous ones are a proper
  prefix) with nothing but the model's turns (the recorded response sent back) and tool
  results: a new user message is a new input to the loop, so a follow-up question ("in
  french") starts a new run, as the loop would be called again for it, or
- the request names a ``previous_response_id`` (OpenAI Responses keeps the history itself), or
- the previous answer was an HTTP error and the request repeats its messages (a retry), or
- either request has no conversation to judge by (no messages besides a system prompt).

A GET (OpenAI Responses' ``GET /responses/{id}?stream=true``, fetching a background response
again) always starts a run of its own.

Interactions that are not replayed (uploads, MCP, non-streaming calls) go with the run they sit
in. A cassette with one run is that run. Runs are numbered from 1, as ``--run N`` takes them.
"""

from __future__ import annotations

from agentsim.cassettes._files import Cassette, Interaction
from agentsim.cassettes._requests import request_messages
from agentsim.core._errors import InputError

__all__ = ["describe_run", "select_runs", "split_runs"]


def _conversation(messages: tuple[tuple[str, str], ...]) -> bool:
    return any(role != "system" for role, _ in messages)


def _new_user_turn(messages: tuple[tuple[str, str], ...]) -> bool:
    """Whether `messages` hold a user message that is not tool results: a new input."""
    return any(role == "user" and not text.startswith("result ") for role, text in messages)


def _continues(previous: Interaction, current: Interaction) -> bool:
    if current.method == "GET":
        return False  # a stream fetched again (OpenAI's background mode): replayed on its own
    before, after = request_messages(previous), request_messages(current)
    if not _conversation(before) or not _conversation(after):
        return True  # nothing to judge by: a request without messages changes nothing
    if previous.status >= 400 and after == before:
        return True  # a retry of a failed request
    body = current.request_json()
    if isinstance(body, dict) and body.get("previous_response_id"):
        return not _new_user_turn(after)  # OpenAI Responses: the server holds the history
    if len(after) <= len(before) or after[: len(before)] != before:
        return False
    return not _new_user_turn(after[len(before) :])


def split_runs(cassette: Cassette) -> tuple[Cassette, ...]:
    """The cassette's runs, in order; each a `Cassette` with the file's interaction numbers."""
    numbered = list(
        zip(
            cassette.numbers or range(len(cassette.interactions)),
            cassette.interactions,
            strict=True,
        )
    )
    groups: list[list[tuple[int, Interaction]]] = [[]]
    last: Interaction | None = None
    for number, interaction in numbered:
        if interaction.replayable:
            if last is not None and not _continues(last, interaction):
                groups.append([])
            last = interaction
        groups[-1].append((number, interaction))
    if len(groups) == 1:
        return (Cassette(cassette.path, cassette.interactions, cassette.numbers, 1),)
    return tuple(
        Cassette(
            cassette.path,
            tuple(x for _, x in group),
            tuple(n for n, _ in group),
            run,
        )
        for run, group in enumerate(groups, start=1)
    )


def select_runs(cassette: Cassette, run: int | None) -> tuple[Cassette, ...]:
    """All runs (`run` None) or the one numbered `run`; `InputError` for a run it does not have."""
    runs = split_runs(cassette)
    if run is None:
        return runs
    if not 1 <= run <= len(runs):
        raise InputError(
            f"--run {run}: the cassette holds {len(runs)} run(s); expected 1-{len(runs)}",
            file=str(cassette.path),
        )
    return (runs[run - 1],)


def describe_run(run: Cassette) -> str:
    """``run 2: interactions[3]-[5]`` (the streaming ones)."""
    numbers = [n for n, _ in run.replayable]
    span = f"interactions[{numbers[0]}]" if numbers else "no streaming interaction"
    if len(numbers) > 1:
        span += f"-[{numbers[-1]}]"
    return f"run {run.run}: {span}"
