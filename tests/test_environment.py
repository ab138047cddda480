"""One source of truth for dependencies.

pyproject.toml keeps the library's ranges; requirements.lock (made by `make lock` with
uv) pins every package of the course environment for Python 3.11 on Linux and must
satisfy those ranges; environment.yml mirrors the pins of pyproject.toml and installs from
the lock.
"""

import pathlib
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pins(requirements):
    out = {}
    for line in requirements:
        match = re.match(
            r"^\s*([A-Za-z0-9_.-]+)\s*((?:[<>=!~]=?|===)[^;]*)$", line.strip().strip('"')
        )
        if match and match.group(2):
            out[match.group(1).lower().replace("_", "-")] = match.group(2).replace(" ", "")
    return out


def environment_pins():
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]  # conda's own `python=3.11` is checked apart
    lines = [
        line.strip()[2:].strip()
        for line in pip_section.splitlines()
        if line.strip().startswith("- ")
    ]
    return pins(lines), text


def test_environment_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(project["dependencies"] + project["optional-dependencies"]["book"])
    env, text = environment_pins()
    assert env, "environment.yml lists no pinned packages"
    for name, spec in env.items():
        assert declared.get(name) == spec, (
            f"{name}: environment.yml has {spec}, pyproject.toml {declared.get(name)}"
        )
    for name in ("tensorflow", "tensorflow-probability", "tf-keras", "jupyter-book"):
        assert name in env, f"environment.yml must pin {name}"
    assert "python=3.11" in text and "-r requirements.lock" in text


def test_pins_are_the_agreed_ones():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(project["dependencies"] + project["optional-dependencies"]["book"])
    assert declared["tensorflow"] == "==2.21.*"
    assert declared["tensorflow-probability"] == "==0.25.*"
    assert declared["tf-keras"] == "==2.21.*"
    assert declared["jupyter-book"] == ">=1.0.4,<2"


def test_notebooks_carry_no_timestamps():
    # nbclient records execution times in cell metadata unless told not to (make execute does).
    import nbformat

    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        assert not [c for c in notebook.cells if "execution" in c.metadata], (
            f"{path.name}: execution timestamps"
        )


def _locked():
    versions = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            versions[canonicalize_name(name)] = Version(version.split(";")[0].strip())
    return versions


def test_lock_satisfies_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    locked = _locked()
    environment = {
        "python_version": "3.11",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    }
    for line in project["dependencies"] + [r for extra in extras.values() for r in extra]:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is required by pyproject.toml but not locked: make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{name}: locked {locked[name]} does not satisfy {requirement.specifier}: make lock"
        )


def test_installs_come_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.lock" in makefile
    assert "requirements.lock" in makefile.split("$(STAMP):", 1)[1].splitlines()[0]
