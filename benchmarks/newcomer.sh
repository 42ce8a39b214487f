#!/usr/bin/env bash
# A newcomer's first hour, timed: clone the repo into a temporary folder and run the README's two
# commands exactly as the README writes them (read from README.md, not retyped here).
#
#   bash benchmarks/newcomer.sh [REPO]        # REPO: what to clone (default: this checkout)
#
# Prints each command's wall time and exit status; exits non-zero if either command fails.
# Set KEEP=1 to keep the clone (its path is printed).
set -uo pipefail
repo="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/imagine-newcomer.XXXXXX")"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

git clone --quiet "$repo" "$work/imagine" || exit 1
cd "$work/imagine" || exit 1
mapfile -t commands < <(grep -E '^python -m venv \.venv && ' README.md)
if [ "${#commands[@]}" -ne 2 ]; then
    echo "newcomer.sh: expected the README's two commands, found ${#commands[@]}" >&2
    exit 1
fi
if ! command -v python >/dev/null 2>&1; then python() { python3 "$@"; }; export -f python; fi

status=0
for command in "${commands[@]}"; do
    echo "+ $command"
    started=$(date +%s)
    bash -c "$command" > "$work/log.txt" 2>&1
    code=$?
    tail -n 5 "$work/log.txt"
    echo "newcomer.sh: exit $code after $(( $(date +%s) - started )) s: $command"
    [ "$code" -eq 0 ] || status=$code
done
echo "newcomer.sh: clone in $work/imagine"
exit "$status"
