"""Import klcourse before any test module imports TensorFlow, so TensorFlow loads quietly."""

import klcourse  # noqa: F401
