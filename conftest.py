"""Repository-wide pytest set-up: nbval compares numbers at their shown precision.

See `klcourse.precision` for the rule and `klcourse.nbval_plugin` for how nbval uses it.
"""

import os

from hypothesis import settings

pytest_plugins = ["klcourse.nbval_plugin"]

# Hypothesis: the same examples on every run (`make test`, CI), so two runs of the suite
# execute the same tests; `HYPOTHESIS_PROFILE=explore` searches afresh while developing.
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
