#!/usr/bin/env bash
# Uninstall emotion-edge: the same as `tools/install.sh uninstall [--purge] [--root DIR]`.
exec "$(dirname "${BASH_SOURCE[0]}")/install.sh" uninstall "$@"
