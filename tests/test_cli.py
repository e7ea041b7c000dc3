"""The command line explains itself: every option and argument of every ``sufficiency``
command has a help text, so ``sufficiency COMMAND --help`` says what each one is."""

from __future__ import annotations

import argparse

from sim.cli import build_parser


def _commands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """The parser itself (as ``sufficiency``) and each of its subcommands' parsers."""
    found = [("sufficiency", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += [(f"sufficiency {name}", sub) for name, sub in action.choices.items()]
    return found


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    commands = _commands(parser)
    assert len(commands) > 1, "no subcommands found"
    missing = []
    for command, sub in commands:
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue  # -h/--help is argparse's own; the subcommands are checked below
            name = "/".join(action.option_strings) or action.dest
            if action.help == argparse.SUPPRESS:
                missing.append(f"{command} {name}: help is argparse.SUPPRESS (hidden)")
            elif not (action.help or "").strip():
                missing.append(f"{command} {name}: no help text")
        sub.format_help()  # every help string formats (a stray % would raise here)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if not (choice.help or "").strip():
                    missing.append(f"sufficiency {choice.dest}: the command has no help text")
    assert not missing, "options without a help text:\n" + "\n".join(missing)
