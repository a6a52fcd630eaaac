"""check: the trace invariants EV1-EV10 and H1-H4 (DESIGN §4), O1-O3 and SR1-SR2, as pure
functions of a run's events, history and options. Public through `agentsim` and
`agentsim.invariants`.

May import: core and loop (the options a trace is judged against). Must not import: scenarios,
the harness or anything above - a check never runs a loop. The relations that do (M1-M3, the
cancellation sweep) are in `harness`.
"""
