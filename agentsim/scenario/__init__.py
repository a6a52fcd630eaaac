"""scenario: scenario files and what they script.

`_schema` is the pydantic schema of scenario files (strict; JSON Schema for editors) and
`_yaml_source` the YAML loader that keeps positions, so every error names file, line and column.
`_script` compiles a scenario into what a loop is run with: the scripted provider (with its strict
request checks), the scripted tools, hooks and guardrails, and `FunctionProvider` /
`ScriptedProvider`.

May import: core, loop, check. Must not import: codecs, SSE, the harness or anything above.
"""
