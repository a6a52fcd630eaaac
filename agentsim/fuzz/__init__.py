"""fuzz: generating scenarios, finding failures, shrinking them to reproducers (needs hypothesis).

`_strategies` generates streams, faults, timings, cancellation points and whole scenarios, only
of the features a loop declares (`_streams` writes one response, every shape a provider sends,
and `_faults` what goes wrong with it;
`_coverage` counts the shapes and DESIGN §3 rules generated, for ``fuzz --coverage``);
`_properties` runs a case through a loop under one property (`run`, `sweep`, M1-M3) guarded against
crashes and hangs; `_search` drives `hypothesis.find` over the properties; `_shrink` minimizes a
failing scenario; `_profiles` registers the hypothesis profiles. Public through `agentsim.fuzzing`
and `agentsim.strategies`.

May import: every layer up to adapters. Must not import: pytest or the CLI.
"""
