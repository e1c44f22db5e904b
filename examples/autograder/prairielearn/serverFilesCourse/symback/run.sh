#!/usr/bin/env bash
# PrairieLearn's external grader runs this (the question's info.json names it as the entrypoint): the
# student's files are in /grade/student, this folder in /grade/serverFilesCourse/symback, and the score goes
# to /grade/results/results.json (a folder PrairieLearn does not create).
# To try it on your machine: GRADE=/tmp/pl SYMBACK="python -m symback" ./run.sh
# (with /tmp/pl/serverFilesCourse/symback holding these files and /tmp/pl/student a student's backprop.txt).
set -u
ROOT="${GRADE:-/grade}"
SYMBACK="${SYMBACK:-symback}"
mkdir -p "$ROOT/results"
# shellcheck disable=SC2086  # SYMBACK may be a command with arguments
exec $SYMBACK grade "$ROOT/serverFilesCourse/symback/assignment.toml" "$ROOT/student" --format prairielearn \
    -o "$ROOT/results/results.json"
