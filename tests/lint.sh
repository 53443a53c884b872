#!/usr/bin/env bash
# make lint: the formatting check (clang-format, .clang-format at the top) and the banned calls
# of style.md. Exits non-zero with the offending lines.
set -u
cd "$(dirname "$0")/.." || exit 1
rc=0
files=$(ls daemon/*.c daemon/*.h daemon/cli/*.c daemon/cli/*.h tests/unit/*.c tests/integration/*.c tests/integration/*.h \
        tests/fuzz/*.c 2>/dev/null)
for f in $files; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "lint: $f is not formatted (run: make format)"
        rc=1
    fi
done
# Banned in daemon code: unbounded copies, hidden state, shells, raw environment reads, and
# strto* whose errors are easy to drop (use str_to_u64 from util.h).
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets|system|popen|getenv|strtol|strtoul|strtoll|strtoull|tmpnam|mktemp)[[:space:]]*\('
if grep -nE "$banned" daemon/*.c daemon/*.h daemon/cli/*.c daemon/cli/*.h; then
    echo "lint: banned calls above (see ../shared/style.md)"
    rc=1
fi
exit $rc
