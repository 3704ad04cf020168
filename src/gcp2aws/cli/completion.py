"""``gcp2aws completion SHELL``: a completion script for bash, zsh or fish.

The scripts are thin: on TAB they ask ``gcp2aws completion --complete N WORDS...`` for the
candidates, and the answer comes from the CLI's own argparse tree (subcommands, flags, the
choices of ``--token-source``, ``--format`` and the like) plus the profile names of the AWS
config file after ``--profile``. So a new flag completes without touching the scripts, and
nothing of this is on the cache-hit path (``hotpath`` hands every other command to argparse).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from gcp2aws.cli.common import write_stdout

SHELLS = ("bash", "zsh", "fish")

# Each asks the CLI, passing the words so far and the index of the one being completed.
SCRIPTS = {
    "bash": """\
# gcp2aws completion for bash: eval "$(gcp2aws completion bash)" in ~/.bashrc
_gcp2aws_complete() {
    local IFS=$'\\n'
    COMPREPLY=($(gcp2aws completion --complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null))
}
complete -o default -F _gcp2aws_complete gcp2aws
""",
    "zsh": """\
#compdef gcp2aws
# gcp2aws completion for zsh: eval "$(gcp2aws completion zsh)" in ~/.zshrc (after compinit)
_gcp2aws_complete() {
    local -a candidates
    local n=$((CURRENT - 1))
    candidates=("${(@f)$(gcp2aws completion --complete $n "${words[@]}" 2>/dev/null)}")
    compadd -- "${candidates[@]}"
}
compdef _gcp2aws_complete gcp2aws
""",
    "fish": """\
# gcp2aws completion for fish: gcp2aws completion fish > ~/.config/fish/completions/gcp2aws.fish
function __gcp2aws_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    gcp2aws completion --complete (count $words) $words $current 2>/dev/null
end
complete -c gcp2aws -f -a '(__gcp2aws_complete)'
""",
}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL. bash: add "
        '`eval "$(gcp2aws completion bash)"` to ~/.bashrc; zsh: `eval "$(gcp2aws completion '
        'zsh)"` in ~/.zshrc after compinit; fish: `gcp2aws completion fish > '
        "~/.config/fish/completions/gcp2aws.fish`.",
    )
    parser.add_argument("shell", nargs="?", choices=SHELLS, help="the shell")
    # What the scripts call on TAB: --complete N WORDS..., N the index of the word completed.
    parser.add_argument("--complete", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.errors import UsageError

    if ns.complete is not None:
        if not ns.complete or not ns.complete[0].isdigit():
            return 0  # nothing sensible to complete: offer nothing, quietly
        index, words = int(ns.complete[0]), list(ns.complete[1:])
        write_stdout("".join(c + "\n" for c in candidates(words, index, environ)))
        return 0
    if ns.shell is None:
        raise UsageError("which shell?", hint="Run gcp2aws completion bash, zsh or fish")
    write_stdout(SCRIPTS[ns.shell])
    return 0


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _profiles(environ: Mapping[str, str]) -> list[str]:
    from gcp2aws.awsconfig import file as awsconfig_file
    from gcp2aws.awsconfig.profile import profile_names
    from gcp2aws.errors import Gcp2AwsError

    try:
        return profile_names(awsconfig_file.read_config(awsconfig_file.config_path(environ)))
    except Gcp2AwsError:
        return []  # an unreadable config file completes nothing, quietly


def candidates(words: Sequence[str], index: int, environ: Mapping[str, str]) -> list[str]:
    """What may stand at ``words[index]`` (``words[0]`` is ``gcp2aws``), filtered by its prefix."""
    from gcp2aws.cli.app import build_parser

    current = words[index] if index < len(words) else ""
    before = list(words[1:index])
    parser = build_parser()
    commands = _subparsers(parser)
    command = next((w for w in before if w in commands), None)
    if command is None:
        options = ["--version", "--help"] if current.startswith("-") else []
        return [c for c in [*commands, *options] if c.startswith(current)]
    sub = commands[command]
    rest = before[before.index(command) + 1 :]
    nested = _subparsers(sub)
    while nested:  # `webhook serve`: descend into a command's own subcommands
        word = next((w for w in rest if w in nested), None)
        if word is None:
            break
        sub, rest = nested[word], rest[rest.index(word) + 1 :]
        nested = _subparsers(sub)
    flags = {flag: action for action in sub._actions for flag in action.option_strings}
    previous = before[-1] if before else ""
    if previous in flags and flags[previous].nargs != 0:
        action = flags[previous]
        if previous == "--profile":
            values = _profiles(environ)
        elif previous == "--token-source":  # checked by settings, not argparse: same list
            from gcp2aws.idtoken import registry

            values = list(registry.choices())
        elif action.choices is not None:
            values = [str(choice) for choice in action.choices]
        else:
            return []  # a free value (a path, an ARN): the shell's own completion applies
        return [v for v in values if v.startswith(current)]
    if current.startswith("-"):
        visible = [f for f, a in flags.items() if a.help != argparse.SUPPRESS]
        return sorted(f for f in visible if f.startswith(current))
    positional = [a for a in sub._actions if not a.option_strings and a.choices]
    values = [str(c) for action in positional for c in (action.choices or ())]
    return [v for v in values if v.startswith(current)]
