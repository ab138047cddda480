"""A pytest plugin that makes nbval compare numbers at the precision they are shown with.

nbval (strict mode) compares each cell's new outputs with the stored ones as text. This
plugin keeps everything else about that comparison and changes one thing: before nbval
compares, every text output that differs from the stored one only in numbers that agree
under `klcourse.precision.numbers_agree` is replaced by the stored text. Whatever still
differs (a word, an integer, a number beyond its stated precision, a missing or extra
output) fails exactly as before, with nbval's own report.

Loaded by the repository's ``conftest.py``; elsewhere use ``pytest -p klcourse.nbval_plugin``.
"""

import copy

from klcourse.precision import numbers_agree

__all__ = ["pytest_configure"]

_TEXT_KEYS = ("text",)  # stream outputs
_PATCHED = "_klcourse_precision"


def _reconcile(test_output, ref_output):
    """Copy stored text into ``test_output`` where the two agree at shown precision."""
    for key in _TEXT_KEYS:
        new, old = test_output.get(key), ref_output.get(key)
        if isinstance(new, str) and isinstance(old, str) and new != old:
            if numbers_agree(old, new):
                test_output[key] = old
    new_data, old_data = test_output.get("data"), ref_output.get("data")
    if isinstance(new_data, dict) and isinstance(old_data, dict):
        for mime, new in new_data.items():
            old = old_data.get(mime)
            if mime.startswith("image/") or not isinstance(new, str) or not isinstance(old, str):
                continue
            if new != old and numbers_agree(old, new):
                new_data[mime] = old


def _outputs_by_kind(outputs):
    """Outputs keyed as nbval pairs them: by output type (and stream name), in order."""
    groups = {}
    for output in outputs:
        kind = (output.get("output_type"), output.get("name"))
        groups.setdefault(kind, []).append(output)
    return groups


def pytest_configure(config):
    """Wrap nbval's ``compare_outputs`` once per process (if nbval is installed).

    A pytest hook: ``-p klcourse.nbval_plugin`` (or the root ``conftest.py``) makes
    pytest call it at start-up, and nbval then compares numbers with
    `klcourse.precision.numbers_agree`.

    Args:
      config: pytest's ``Config`` (unused: the patch applies to every nbval cell).

    Returns:
      ``None``.

    Examples:
      >>> pytest_configure(None)  # idempotent: a second call leaves nbval as it is
    """
    try:
        from nbval import plugin
    except ImportError:
        return
    cell_item = plugin.IPyNbCell
    if getattr(cell_item, _PATCHED, False):
        return
    original = cell_item.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        test = copy.deepcopy(test)  # nbval stores the new outputs; keep them as computed
        ref_groups = _outputs_by_kind(ref)
        for kind, outputs in _outputs_by_kind(test).items():
            for new, old in zip(outputs, ref_groups.get(kind, []), strict=False):
                _reconcile(new, old)
        return original(self, test, ref, skip_compare)

    cell_item.compare_outputs = compare_outputs
    setattr(cell_item, _PATCHED, True)
