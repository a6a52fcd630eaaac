"""cli: the ``agentsim`` command. `_main` builds the parser, dispatches, and runs the commands that
print a run (run, replay, convert, inspect, schema); `_check` is ``check``, `_fuzz` is ``fuzz`` and
``shrink``, `_serve` is ``serve`` and ``record``. Every command turns an `InputError` into one line
and exit status 2.

May import: every layer. Nothing imports it but ``python -m agentsim`` and the entry point.
"""
