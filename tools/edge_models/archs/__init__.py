"""The architectures the export tool knows: one small module per architecture.

Each module defines one `Arch`: how to build the network as a PyTorch module and the
defaults (labels, input, normalization, crop rule) that go into the exported model's
metadata unless the user overrides them. Adding an architecture is adding one file here
and one line to `ARCHS`.
"""

from __future__ import annotations

from edge_models.archs._spec import Arch, ArchDefaults
from edge_models.archs.mini_xception import MINI_XCEPTION
from edge_models.archs.seed_efficientnet_v2_m import SEED_EFFICIENTNET_V2_M

ARCHS: dict[str, Arch] = {arch.name: arch for arch in (SEED_EFFICIENTNET_V2_M, MINI_XCEPTION)}


class UnknownArchError(KeyError):
    """An architecture name that is not in the registry."""

    def __str__(self) -> str:
        return f"unknown architecture {self.args[0]!r}; known: {', '.join(sorted(ARCHS))}"


def get_arch(name: str) -> Arch:
    """The registered architecture of that name; UnknownArchError lists the known ones."""
    try:
        return ARCHS[name]
    except KeyError:
        raise UnknownArchError(name) from None


__all__ = ["ARCHS", "Arch", "ArchDefaults", "UnknownArchError", "get_arch"]
