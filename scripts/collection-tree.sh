#!/usr/bin/env bash
# Copy the collection (the files git knows, tracked or new) into .build/ansible_collections/azsecops/jit,
# the layout ansible-test requires. The emulator and CI files are not part of the collection.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.build/tree/ansible_collections/azsecops/jit
rm -rf "$dest"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z \
  | grep -zv -e '^emulator/' -e '^\.ci/' -e '^extensions/' \
  | xargs -0 -I{} cp --parents -P {} "$dest"/
# ansible-test only looks at files git tracks when the tree is a git work tree: make it one.
git -C "$dest" init -q
git -C "$dest" add -A
echo "$dest"
