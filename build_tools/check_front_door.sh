#!/usr/bin/env bash
# Run the README's two commands from a clean clone in fresh virtual environments,
# the way a new user (and CI) meets the project. Usage: build_tools/check_front_door.sh
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
d=$(mktemp -d)
git clone -q "$repo" "$d/clone"
cd "$d/clone"
grep -E '^python3 -m venv' README.md > "$d/commands"
[ "$(wc -l < "$d/commands")" -eq 2 ] || { echo "README must hold exactly two set-up-and-run commands"; exit 1; }
while IFS= read -r cmd; do
  rm -rf .venv
  echo "+ $cmd"
  bash -c "$cmd"
done < "$d/commands"
echo "front door OK ($d/clone)"
