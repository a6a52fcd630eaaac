"""Cassettes: recorded provider traffic (vcrpy YAML and the layouts other tools write), replayed
chunk by chunk with its timing, and converted to editable scenarios.

`_files` reads cassettes (bounded, safe YAML); `_writing` writes agentsim's own (scrubbed by
`_scrub`'s rules, mode 600, durably, through `_yaml_out`); `_provider` is `CassetteProvider`,
which replays a recording through any loop with a chunking policy; `_requests` reads the
recorded requests' conversations, `_runs` splits a cassette into runs by them; `_convert`
replays a run through a loop and turns it into a scenario. The recording proxy is an HTTP
server, so it is in `serve`.

May import: core, loop, check, scenario, wire, sse, harness. Must not import: serving, adapters,
fuzzing, pytest or the CLI.
"""

from __future__ import annotations

from agentsim.cassettes._convert import cassette_to_scenario, replay_cassette
from agentsim.cassettes._files import Cassette, Interaction, load_cassette
from agentsim.cassettes._provider import CassetteProvider
from agentsim.cassettes._scrub import SecretLeakError, SecretRules
from agentsim.cassettes._writing import write_cassette
from agentsim.core._exports import check_exports

__all__ = [
    "Cassette",
    "CassetteProvider",
    "Interaction",
    "SecretLeakError",
    "SecretRules",
    "cassette_to_scenario",
    "load_cassette",
    "replay_cassette",
    "write_cassette",
]

check_exports(__name__, globals(), __all__)
