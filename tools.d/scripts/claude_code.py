#!/usr/bin/env python3
"""Claude Code for clara's command tools: `run`, `status`, `set_workdir`, `get_workdir`.

The call's arguments arrive as JSON on stdin; what is printed is the tool's result. Each user
(CLARA_USER_ID) has a working directory of their own, kept in CLAUDE_CODE_STATE; without one,
CLAUDE_CODE_WORKDIR. The `claude` CLI runs there with `-p`, JSON output and at most
CLAUDE_CODE_MAX_TURNS turns (10).
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def state_file():
    user = os.environ.get("CLARA_USER_ID", "")
    # A user id becomes a file name: keep it to safe characters.
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", user) or "_"
    folder = pathlib.Path(os.environ.get("CLAUDE_CODE_STATE", "../data/claude_code"))
    return folder / f"{safe}.workdir"


def workdir():
    saved = state_file()
    if saved.is_file():
        return saved.read_text().strip()
    return os.environ.get("CLAUDE_CODE_WORKDIR", "")


def run(args):
    task = (args.get("task") or "").strip()
    if not task:
        fail("say what Claude Code should do (`task`)")
    folder = workdir()
    if not folder or not os.path.isdir(folder):
        fail("no working directory: set one with claude_code_set_workdir, or CLAUDE_CODE_WORKDIR")
    claude = shutil.which("claude")
    if claude is None:
        fail("the `claude` CLI is not installed on this machine (npm install -g @anthropic-ai/claude-code)")
    turns = str(args.get("max_turns") or os.environ.get("CLAUDE_CODE_MAX_TURNS") or 10)
    done = subprocess.run(
        [claude, "-p", task, "--output-format", "json", "--max-turns", turns],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        fail(f"Claude Code exited with {done.returncode}: {(done.stderr or done.stdout).strip()[:2000]}")
    result = answer.get("result") or ""
    turns_used = answer.get("num_turns")
    cost = answer.get("total_cost_usd")
    facts = [f"in {folder}"]
    if turns_used is not None:
        facts.append(f"{turns_used} turns")
    if cost is not None:
        facts.append(f"${cost:.4f}")
    if answer.get("is_error") or answer.get("subtype") not in (None, "success"):
        fail(f"Claude Code stopped ({answer.get('subtype', 'error')}, {', '.join(facts)}): {result}")
    print(f"{result}\n\n[Claude Code: {', '.join(facts)}]")


def status(_args):
    claude = shutil.which("claude")
    if claude is None:
        print("Claude Code is not installed on this machine.")
        return
    version = subprocess.run([claude, "--version"], capture_output=True, text=True).stdout.strip()
    if os.environ.get("ANTHROPIC_API_KEY"):
        auth = "an Anthropic API key"
    else:
        auth = "the machine's `claude login` (a Claude subscription), if it has one"
    folder = workdir() or "none set"
    print(f"Claude Code {version}; signs in with {auth}; working directory: {folder}.")


def set_workdir(args):
    folder = os.path.abspath(os.path.expanduser(args.get("path") or ""))
    if not os.path.isdir(folder):
        fail(f"{folder} is not a directory on this machine")
    saved = state_file()
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(folder + "\n")
    print(f"Claude Code will work in {folder}.")


def get_workdir(_args):
    folder = workdir()
    print(f"Claude Code works in {folder}." if folder else "No working directory is set.")


if __name__ == "__main__":
    actions = {"run": run, "status": status, "set_workdir": set_workdir, "get_workdir": get_workdir}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        fail(f"usage: claude_code.py {'|'.join(actions)}", 2)
    raw = sys.stdin.read()
    actions[sys.argv[1]](json.loads(raw) if raw.strip() else {})
