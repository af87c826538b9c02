#!/bin/sh
# Runs the Python program in the JSON on stdin ({"code": "...", "files": [...], "keep": [...]})
# in a fresh temporary folder that is deleted afterwards, with limits on CPU time, memory and
# file size. `files` are copied in from the user's folder first; `keep` are copied back into
# it afterwards (see run_python_files.py).
#
# This is NOT a security sandbox: the code runs as the user clara runs as and can read what
# that user can. With CLARA_PYTHON_ISOLATION=docker or =incus (and that program installed),
# the code runs in a throwaway container without network instead.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/clara-python.XXXXXX")
call=$(mktemp "${TMPDIR:-/tmp}/clara-python-call.XXXXXX")
trap 'rm -rf "$work" "$call"' EXIT INT TERM
cat > "$call"
python3 -I "$here/run_python_files.py" prepare "$call" "$work"

status=0
case "${CLARA_PYTHON_ISOLATION:-none}" in
docker)
    command -v docker > /dev/null || { echo "docker is not installed" >&2; exit 2; }
    docker run --rm --network none --memory 256m --cpus 1 --pids-limit 64 \
        -v "$work:/work" -w /work python:3-slim python main.py || status=$?
    ;;
incus)
    command -v incus > /dev/null || { echo "incus is not installed" >&2; exit 2; }
    name="clara-python-$$"
    incus launch --ephemeral images:debian/12 "$name" -c limits.memory=256MiB -c limits.cpu=1 > /dev/null
    incus file push --recursive "$work" "$name/root/" > /dev/null
    inside="/root/$(basename "$work")"
    incus exec --cwd "$inside" "$name" -- python3 main.py || status=$?
    # What the program wrote comes back, so `keep` finds it.
    incus file pull --recursive "$name$inside/." "$work/" > /dev/null 2>&1 || true
    incus stop "$name" > /dev/null 2>&1 || true
    ;;
*)
    cd "$work"
    # CPU seconds, virtual memory (KiB), largest file written (KiB).
    (ulimit -t 10 && ulimit -v 1048576 && ulimit -f 10240 && exec python3 -I main.py) || status=$?
    cd "$here"
    ;;
esac
if [ "$status" -eq 0 ]; then
    python3 -I "$here/run_python_files.py" keep "$call" "$work"
fi
exit "$status"
