"""pytest: the plugin (the ``pytest11`` entry point ``agentsim``).

`_plugin` holds the hooks (options, markers, collection of scenario files named on the command
line), `_fixtures` the fixtures and `scenario_params`, `_loops` which loop is under test,
`_network_guard` the guard that fails a simulated run reaching the network, `_snapshot` the syrupy
extension (imported only when a snapshot fixture is used). Public through `agentsim.testing`.

May import: every layer but the CLI.
"""
