#!/bin/sh
# Runs the Python program in the JSON on stdin ({"code": "..."}) in a fresh temporary folder
# that is deleted afterwards, with limits on CPU time, memory and file size.
#
# This is NOT a security sandbox: the code runs as the user clara runs as and can read what
# that user can. With CLARA_PYTHON_ISOLATION=docker or =incus (and that program installed),
# the code runs in a throwaway container without network instead.
set -eu

work=$(mktemp -d "${TMPDIR:-/tmp}/clara-python.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["code"])' > "$work/main.py"

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
    incus file push "$work/main.py" "$name/root/main.py" > /dev/null
    incus exec "$name" -- python3 /root/main.py || status=$?
    incus stop "$name" > /dev/null 2>&1 || true
    ;;
*)
    cd "$work"
    # CPU seconds, virtual memory (KiB), largest file written (KiB).
    (ulimit -t 10 && ulimit -v 1048576 && ulimit -f 10240 && exec python3 -I main.py) || status=$?
    ;;
esac
exit "$status"
