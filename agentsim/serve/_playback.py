"""Playing a scenario to HTTP clients: what `agentsim serve` and the httpx transport share.

`ScenarioPlayback.answer(method, target, body)` turns one HTTP request into a `Reply`: it routes
and validates the request (`_api_requests`), translates the body into agentsim messages, claims
the next script entry strictly (as `ScriptedProvider` does: a request beyond the script is
answered with a 400 in the API's error shape and recorded as a problem), applies the entry's
request check (a mismatch is recorded, the answer is still sent: "the run goes on"), and renders
the entry's chunks in the API's wire format (`_api_replies`). It is sans-IO (no sockets, no
clock): the server and the transport only deliver the reply's bytes at its offsets, so both
answer byte for byte alike.

Choices:

- The scenario's tools, options, hooks, cancellation and expectation are the loop's business; a
  served scenario only plays `requests`. Any model is served unless `models` names the ones
  that exist (others get the API's "model not found" answer, 404).
- A request check reads `ProviderRequest(step, attempt, messages, tools)`. HTTP carries no step
  or attempt, so they are inferred: the step is 1 + the assistant messages since the last user
  message; a request whose messages equal the previous request's is a retry (attempt + 1).
- ``strict``: a request that fails its entry's check is answered at once with the API's own
  400 (``invalid_request``, code ``agentsim_request_check``, naming what failed) instead of
  the scripted stream, so the client sees the failure where it happened (`agentsim serve
  --strict`); the mismatch is a problem all the same.
- Requests that are refused before reaching the script (malformed body, unknown path, unknown
  model) are `rejections`: answered, listed in the report, but not script problems, since a
  test may send them on purpose. Everything is guarded by a lock, so threads may share one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from agentsim.core._chunks import ErrorChunk
from agentsim.core._history import AssistantMessage, Message, UserMessage
from agentsim.loop._protocol import ProviderError, ProviderRequest
from agentsim.scenario._schema import Scenario, load_scenario
from agentsim.scenario._script import StrictPlayback, _check_request, compile_request
from agentsim.serve._api_replies import Reply, error_reply, scripted_reply
from agentsim.serve._api_requests import ApiCall, Rejection, parse_call, request_messages

__all__ = ["ScenarioPlayback"]


def _step(messages: tuple[Message, ...]) -> int:
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=-1)
    return 1 + sum(isinstance(m, AssistantMessage) for m in messages[last_user + 1 :])


class ScenarioPlayback(StrictPlayback):
    """A scenario's requests, answered over HTTP strictly in order.

    `requests` are the provider requests received (as agentsim sees them), `calls` the validated
    API calls, `problems` every deviation from the script, `rejections` the requests refused
    before the script; `unused()` lists script entries never requested; `passed` is the verdict.
    """

    def __init__(
        self, scenario: Scenario | str | Path, *, models: Iterable[str] = (), strict: bool = False
    ) -> None:
        super().__init__()
        self.strict = strict
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self._scripts = self.scenario.requests
        self._compiled = [compile_request(s, i + 1) for i, s in enumerate(self._scripts)]
        self.models = frozenset(models)
        self.calls: list[ApiCall] = []
        self.rejections: list[str] = []
        self._lock = threading.Lock()
        self._previous: tuple[Message, ...] | None = None
        self._attempt = 0

    def answer(self, method: str, target: str, body: bytes) -> Reply:
        """The reply to one HTTP request (`target` is the path with its query)."""
        with self._lock:
            try:
                return self._answer(method, target, body)
            except Rejection as exc:
                self.rejections.append(f"{method} {target.split('?')[0]}: {exc.status} {exc}")
                chunk = ErrorChunk(exc.kind, exc.message, False, exc.status)
                return error_reply(exc.api, chunk, code=exc.code)

    def _answer(self, method: str, target: str, body: bytes) -> Reply:
        call = parse_call(method, target, body)
        if self.models and call.model not in self.models:
            message = f"The model `{call.model}` does not exist or you do not have access to it."
            raise Rejection(call.api, 404, "invalid_request", message, code="model_not_found")
        messages, tools = request_messages(call.api, call.body)
        self._attempt = self._attempt + 1 if messages == self._previous else 1
        self._previous = messages
        request = ProviderRequest(_step(messages), self._attempt, messages, tools)
        try:
            number = self._claim(request, len(self._scripts), "scenario's requests")
        except ProviderError as exc:
            chunk = ErrorChunk("invalid_request", f"agentsim: {exc}", False, 400)
            return error_reply(call.api, chunk, code="beyond_script")
        self.calls.append(call)
        check = self._scripts[number - 1].expect
        if check is not None:
            failed = _check_request(check, request, number)
            self.problems.extend(failed)
            if failed and self.strict:
                message = "agentsim: the request fails its scenario check: " + "; ".join(failed)
                chunk = ErrorChunk("invalid_request", message, False, 400)
                return error_reply(call.api, chunk, code="agentsim_request_check")
        try:
            return scripted_reply(
                call.api,
                self._compiled[number - 1],
                stream=call.stream,
                array=call.array,
                usage=call.streams_usage,
            )
        except ValueError as exc:
            problem = f"request {number}: the scripted response cannot be sent as {call.api}: {exc}"
            self.problems.append(problem)
            return error_reply(call.api, ErrorChunk("server", f"agentsim: {problem}", False, 500))

    def unused(self) -> list[str]:
        """Script entries no request reached."""
        return [
            f"requests[{i}] (request {i + 1}) was never made"
            for i in range(len(self.requests), len(self._scripts))
        ]

    @property
    def passed(self) -> bool:
        """Every scripted request was made, none beyond, and every request check held."""
        with self._lock:
            return not self.problems and not self.unused()

    def report(self) -> str:
        """A short report: requests served, problems, rejections, verdict."""
        with self._lock:
            lines = [f"requests: {len(self.requests)} of {len(self._scripts)} scripted"]
            problems = [*self.problems, *self.unused()]
            if problems:
                lines.append(f"script: {len(problems)} problem(s)")
                lines += [f"  {p}" for p in problems]
            if self.rejections:
                lines.append(f"rejected: {len(self.rejections)} request(s)")
                lines += [f"  {r}" for r in self.rejections]
            lines.append("FAIL" if problems else "PASS")
            return "\n".join(lines)
