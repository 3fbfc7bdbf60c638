"""Fixture factories shared by the fault tests: each test module binds the result to a
module attribute (``forker = forker_fixture("crash", FIGURES)``), which pytest collects as a
fixture of that module under the attribute's name."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.child import Forker
from tests.faults.damage import Reference, build


def forker_fixture(label: str, figures: Counter) -> Any:
    """A module-scoped fixture yielding one :class:`Forker` for the module's tests; at the
    end of the module it closes the forker and prints ``figures`` as the ``label`` figures."""

    @pytest.fixture(scope="module")
    def forker() -> Iterator[Forker]:
        f = Forker()
        yield f
        f.close()
        print(f"\n{label} figures:", dict(figures))

    return forker


def figures_fixture(label: str, figures: Counter) -> Any:
    """An autouse module-scoped fixture that prints ``figures`` as the ``label`` figures once
    the module's tests are done (for modules that need no :class:`Forker`)."""

    @pytest.fixture(scope="module", autouse=True)
    def print_figures() -> Iterator[None]:
        yield
        print(f"\n{label} figures:", dict(figures))

    return print_figures


def reference_fixture() -> Any:
    """A module-scoped fixture returning the reference archive of :func:`damage.build`, built
    once per module in a temporary directory (tests damage copies of it)."""

    @pytest.fixture(scope="module")
    def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
        path: Path = tmp_path_factory.mktemp("ref") / "a"
        return build(path)

    return ref
