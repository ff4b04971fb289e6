"""The Python packages Home Assistant would pip-install at start for a set of integrations.

Run it with the Home Assistant venv's python (tools/homeassistant_env.sh does), never with
the project's: it reads the manifests of the installed homeassistant package and follows
them the way homeassistant/requirements.py does when an integration is set up (its
`dependencies`, its `after_dependencies` and the discovery integrations its manifest keys
name), starting from the integrations bootstrap always sets up (DEFAULT_INTEGRATIONS, even
without `default_config`) plus the ones named on the command line.

    python homeassistant_requirements.py DOMAIN...          the requirements, one a line
    python homeassistant_requirements.py --check DOMAIN...  exit 1 naming those not installed

--check asks the same question Home Assistant asks before it installs anything
(homeassistant.util.package.is_installed), so a venv that passes it starts without pip.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import homeassistant
from homeassistant import bootstrap, requirements
from homeassistant.util.package import is_installed

COMPONENTS = Path(homeassistant.__file__).parent / "components"


def manifest(domain: str) -> dict | None:
    """An integration's manifest, None for a domain that is not built in."""
    path = COMPONENTS / domain / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def integrations(domains: set[str]) -> dict[str, dict]:
    """Domain -> manifest of every integration whose requirements setting up domains checks."""
    found: dict[str, dict] = {}
    todo = sorted(domains | bootstrap.CORE_INTEGRATIONS | bootstrap.DEFAULT_INTEGRATIONS)
    while todo:
        domain = todo.pop()
        if domain in found:
            continue
        m = manifest(domain)
        if m is None:
            if domain in domains:
                raise SystemExit(f"{domain}: no such built-in integration")
            continue  # an after_dependency that is not built in is skipped there too
        found[domain] = m
        todo += m.get("dependencies", []) + m.get("after_dependencies", [])
        todo += [d for d, keys in requirements.DISCOVERY_INTEGRATIONS.items()
                 if any(key in m for key in keys)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a requirement is not installed")
    parser.add_argument("domains", nargs="*", help="integrations the config sets up")
    args = parser.parse_args(argv)
    needed = sorted({req for m in integrations(set(args.domains)).values()
                     for req in m.get("requirements", [])})
    if not args.check:
        print("\n".join(needed))
        return 0
    missing = [req for req in needed if not is_installed(req)]
    for req in missing:
        print(f"not installed: {req}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
