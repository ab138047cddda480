"""Checkers for the chapters' code exercises, one module per chapter.

Importing this package registers every checker with `klcourse.check` (the package's
``__init__`` does so when ``klcourse`` loads). Each checker recomputes its reference from
the exercise's own data with the course's functions, so no expected value is written
here, and answers through `klcourse.hints.close`, whose hints never contain it.

A new chapter adds ``chN_topic.py`` here and one import line below.
"""

from klcourse.exercises import (  # noqa: F401  (imported for their registrations)
    ch1_basics,
    ch2_asymmetry,
    ch3_forward_reverse,
    ch4_monte_carlo,
    ch5_elbo,
    ch8_information,
)
