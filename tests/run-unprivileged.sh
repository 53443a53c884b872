#!/usr/bin/env bash
# Runs the built tests as an unprivileged user (default: nobody), as root would hand them over:
# the binaries, the runner and the bundled policies are copied to a world-readable temporary
# directory, then run with setpriv (no capabilities, no supplementary groups). Needs root.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD:-build}
user=${AIRLOCK_TEST_USER:-nobody}
if [ "$(id -u)" -ne 0 ]; then
    echo "run-unprivileged: already unprivileged; use make test" >&2
    exit 1
fi
dir=$(mktemp -d /tmp/airlock-unpriv-XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/tests/unit" "$dir/tests/integration" "$dir/policies"
for kind in unit integration; do
    find "$build/tests/$kind" -maxdepth 1 -type f -name 'test_*' ! -name '*.[od]' -perm -u+x \
        -exec cp {} "$dir/tests/$kind/" \;
done
cp "$build/airlockd" "$build/airlock" tests/run.sh "$dir/"
cp policies/*.json "$dir/policies/"
chmod -R a+rX "$dir"
uid=$(id -u "$user")
gid=$(id -g "$user")
cd "$dir"
setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all \
    env -i PATH=/usr/bin:/bin HOME="$dir" AIRLOCKD="$dir/airlockd" AIRLOCK_SRC="$dir" \
    ./run.sh tests/unit/test_* tests/integration/test_*
