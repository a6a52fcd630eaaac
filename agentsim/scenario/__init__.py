"""scenario: scenario files and what they script.

`_schema` is the pydantic schema of scenario files (strict; JSON Schema for editors) and
`_yaml_source` the YAML loader that keeps positions, so every error names file, line and column.
`_fast_yaml` reads plain block YAML without positions (the common case, fast) and `_text_items`
builds plain text items ahead of validation. `_script` compiles a scenario's requests into the
scripted provider (with its strict request checks), and `FunctionProvider`; `_scenario_parts`
builds the rest a loop is run with: the scripted tools, opening messages, hooks and guardrails.

May import: core, loop, check. Must not import: codecs, SSE, the harness or anything above.
"""
