"""Checkers for the chapters' code exercises, registered with `klcourse.check`.

Each checker recomputes the reference from the exercise's own data with the course's
functions, so no expected value is written here, and answers with `check.close`, whose
hints never contain the expected value.
"""
