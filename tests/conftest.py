"""Suite-wide test settings.

Hypothesis runs derandomized under CI (``CI`` set, as the CI runner does) so a
clean-clone run cannot fail at random: the examples tried are a function of the
test alone, and every example that ever failed is pinned with ``@example`` next
to its test. Locally, the default profile explores new examples on each run;
``AGP_HYPOTHESIS_PROFILE=ci`` reproduces CI's choice exactly.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("AGP_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
