"""Escrow tests reuse the deliverables' active contract."""

from tests.deliverables.conftest import active  # noqa: F401 (a fixture)
