#!/usr/bin/env bash
# Installs schemathesis, pinned, into a venv of its own under the locus home (idempotent: a venv that
# already has this version is kept). Prints the path of its `st` command.
set -euo pipefail
version=4.32.5
venv=${LOCUS_HOME:-$HOME/.locus}/cache/schemathesis
st=$venv/bin/st
if [[ -x $st ]] && "$st" --version 2>/dev/null | grep -qx "st, version $version"; then
  echo "$st"; exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
"$st" --version >&2
echo "$st"
