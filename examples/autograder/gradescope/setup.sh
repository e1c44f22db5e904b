#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04, network on).
# symback needs Python 3.11 or later; it is installed from the wheel shipped in the zip (README: Grading a class).
set -euo pipefail
apt-get install -y --no-install-recommends python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet /autograder/source/symback-*.whl
