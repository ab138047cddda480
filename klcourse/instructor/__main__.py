"""``python -m klcourse.instructor COMMAND``: the instructor tools' command line.

Run it in the course folder (or pass ``--course``)::

    python -m klcourse.instructor book [--out DIR]
    python -m klcourse.instructor student [--out _build/student] [--repository-url URL]
        [--package-source REQUIREMENT]
    python -m klcourse.instructor grade SUBMISSIONS [--chapters 01 02] [--jobs N] [--resume]
    python -m klcourse.instructor index
    python -m klcourse.instructor nbgrader-metadata chapters/*.ipynb [--check]
"""

import argparse
import pathlib
import subprocess
import sys

from klcourse.instructor import course, edition, grading, index, nbgrader_metadata, sandbox


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m klcourse.instructor", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--course", default=".", help="the course folder (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)
    book = commands.add_parser("book", help="build the HTML book (as `make book` does)")
    book.add_argument("--out", default=None, help="folder for _build (default: the course's)")
    student = commands.add_parser("student", help="build the student edition")
    student.add_argument("--out", default="_build/student")
    student.add_argument("--repository-url", default=None)
    student.add_argument("--repository-path", default="")
    student.add_argument("--repository-branch", default="main")
    student.add_argument(
        "--package-source",
        default=edition.DEFAULT_PACKAGE_SOURCE,
        help="pip requirement the student notebooks install (default: klcourse); "
        "never the course repository, which holds the solutions",
    )
    student.add_argument("--no-html", action="store_true")
    grading_ = commands.add_parser("grade", help="grade a folder of submissions")
    grading_.add_argument("submissions")
    grading_.add_argument("--out", default="_build/grades")
    grading_.add_argument("--chapters", nargs="+", default=None, help="the assigned chapters")
    grading_.add_argument("--cell-timeout", type=int, default=60)
    grading_.add_argument("--notebook-timeout", type=int, default=600)
    grading_.add_argument("--call-timeout", type=int, default=30)
    grading_.add_argument("--memory-mb", type=int, default=sandbox.Limits.memory_mb)
    grading_.add_argument("--jobs", type=int, default=None, help="default: all CPU cores")
    grading_.add_argument("--resume", action="store_true", help="keep notebooks already graded")
    grading_.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run submissions with your permissions (only where no sandbox can run)",
    )
    commands.add_parser("index", help="print the exercise index (Markdown)")
    metadata = commands.add_parser("nbgrader-metadata", help="write nbgrader cell metadata")
    metadata.add_argument("notebooks", nargs="+")
    metadata.add_argument("--check", action="store_true", help="only report what would change")
    args = parser.parse_args(argv)
    root = pathlib.Path(args.course)
    if args.command == "book":
        subprocess.run(course.book_command(root, path_output=args.out), check=True)
        html = pathlib.Path(args.out or root).resolve() / "_build" / "html" / "index.html"
        print(f"The book is in {html.parent}: open {html}")
    elif args.command == "student":
        out = edition.build_student_edition(
            args.out,
            root=root,
            repository_url=args.repository_url,
            repository_path=args.repository_path,
            repository_branch=args.repository_branch,
            package_source=args.package_source,
            build_html=not args.no_html,
        )
        print(f"Student notebooks: {out / edition.NOTEBOOKS}")
        if not args.no_html:
            print(f"Student book: {out / 'html' / 'index.html'}")
    elif args.command == "grade":
        options = grading.Options(
            cell_timeout=args.cell_timeout,
            notebook_timeout=args.notebook_timeout,
            call_timeout=args.call_timeout,
            limits=sandbox.Limits(memory_mb=args.memory_mb),
        )
        try:
            rows = grading.grade(
                args.submissions,
                args.out,
                root=root,
                chapters=args.chapters,
                options=options,
                jobs=args.jobs,
                resume=args.resume,
                no_sandbox=args.no_sandbox,
                progress=lambda text: print(text, flush=True),
            )
        except sandbox.SandboxUnavailable as error:
            sys.exit(
                f"Grading refused: {error}.\nSubmitted code would run with your permissions. "
                "Install bubblewrap, or pass --no-sandbox on a machine you can lose."
            )
        print((pathlib.Path(args.out) / "summary.md").read_text())
        print(f"Grades: {pathlib.Path(args.out) / 'grades.csv'} ({len(rows)} students)")
    elif args.command == "index":
        print(index.exercise_index(root), end="")
    else:
        changed = nbgrader_metadata.apply(args.notebooks, check_only=args.check)
        for path in changed:
            print(("would change: " if args.check else "updated: ") + str(path))
        if args.check and changed:
            sys.exit(1)


if __name__ == "__main__":
    main()
