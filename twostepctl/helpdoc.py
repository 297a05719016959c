"""The `--help` of every command as Markdown, for docs/cli.md: `python -m twostepctl.helpdoc --write`
refreshes the file, and a test fails when the file and the parser disagree."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .__main__ import build_parser

BEGIN = "<!-- BEGIN GENERATED HELP: python -m twostepctl.helpdoc --write -->"
END = "<!-- END GENERATED HELP -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(dict.fromkeys(action.choices.values()))  # aliases would repeat a parser
    return []


def sections(parser: argparse.ArgumentParser, depth: int = 0) -> list[str]:
    """`parser`'s help, then its sub-commands' in the order `--help` lists them."""
    heading = "##" if depth == 0 else "###" if depth == 1 else "####"
    out = [f"{heading} `{parser.prog}`\n\n```\n{parser.format_help().rstrip()}\n```\n"]
    for child in _subcommands(parser):
        out += sections(child, depth + 1)
    return out


def generated() -> str:
    return "\n".join([BEGIN, "", *sections(build_parser()), END])


def refreshed(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + generated() + tail


def main(argv: list[str]) -> int:
    if "--write" in argv:  # from a checkout: the installed package has no docs/ beside it
        DOC.write_text(refreshed(DOC.read_text()))
        return 0
    sys.stdout.write(generated() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
