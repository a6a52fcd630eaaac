"""Test configuration: the project's hypothesis profiles, registered by the package.

`agentsim.fuzz._profiles` defines ``dev`` (default), ``ci`` (default when ``CI`` is set:
derandomized, no database) and ``fuzz`` (5,000 examples); ``HYPOTHESIS_PROFILE`` overrides the
choice. See that module and docs/fuzzing.md.
"""

from __future__ import annotations

from agentsim.fuzz._profiles import load_profile

load_profile()
