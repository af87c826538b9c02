"""Moves files between the user's folder and run_python's work folder.

`prepare CALL WORK` writes the program to WORK/main.py and copies the files the call names in
`files` from the user's folder (CLARA_USER_FILES) into WORK. `keep CALL WORK` copies the files
the call names in `keep` from WORK back into the user's folder and prints what it kept.

A name is one plain file name (no folders, no leading dot); symlinks are neither read nor
written, so a program cannot reach a file outside its folder through one.
"""

import json
import os
import stat
import sys

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def fail(message):
    sys.stderr.write(message + "\n")
    sys.exit(2)


def plain(name):
    if not isinstance(name, str) or not name or len(name) > 255:
        fail(f"`{name}` is not a file name")
    if "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        fail(f"`{name}` is not allowed: use a plain file name, without folders or a leading dot")
    return name


def names(call, key):
    listed = call.get(key) or []
    if not isinstance(listed, list):
        fail(f"`{key}` must be a list of file names")
    return [plain(name) for name in listed]


def user_folder():
    folder = os.environ.get("CLARA_USER_FILES")
    if not folder:
        fail("this tool was not given the user's folder (`user_files = true` in its manifest)")
    return folder


def read_regular(path, name, limit):
    """The bytes of a regular file at `path`, refusing symlinks and files over `limit`."""
    try:
        # Non-blocking, so a FIFO the program left there cannot hang the copy.
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError:
        fail(f"`{name}` is not a regular file")
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            fail(f"`{name}` is not a regular file")
        if info.st_size > limit:
            fail(f"`{name}` is {info.st_size} bytes; the limit is {limit}")
        return file.read()


def write_new(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def size(count):
    if count < 1024:
        return f"{count} bytes"
    for unit in ("KB", "MB", "GB"):
        count /= 1024
        if count < 1024 or unit == "GB":
            return f"{count:.1f} {unit}"


def main():
    mode, call_path, work = sys.argv[1:4]
    with open(call_path, encoding="utf-8") as file:
        call = json.load(file)
    limit = int(os.environ.get("CLARA_MAX_FILE_BYTES", str(50 * 1024 * 1024)))
    if mode == "prepare":
        with open(os.path.join(work, "main.py"), "w", encoding="utf-8") as file:
            file.write(call["code"])
        wanted = names(call, "files")
        kept = names(call, "keep")
        if "main.py" in wanted or "main.py" in kept:
            fail("`main.py` is the program itself: give the file another name")
        if wanted:
            folder = user_folder()
            for name in wanted:
                data = read_regular(os.path.join(folder, name), name, limit)
                if data is None:
                    fail(f"the user has no file `{name}`")
                write_new(os.path.join(work, name), data)
    elif mode == "keep":
        kept = names(call, "keep")
        if not kept:
            return
        folder = user_folder()
        lines = []
        for name in kept:
            data = read_regular(os.path.join(work, name), name, limit)
            if data is None:
                lines.append(f"{name}: not kept, the program did not write it")
                continue
            target = os.path.join(folder, name)
            if os.path.islink(target):
                fail(f"`{name}` in the user's folder is a symlink: not replaced")
            write_new(target, data)
            lines.append(f"{name} ({size(len(data))}): kept in the user's files")
        print("\n[files] " + "\n[files] ".join(lines))
    else:
        fail(f"unknown mode `{mode}`")


if __name__ == "__main__":
    main()
