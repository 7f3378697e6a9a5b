"""Every public name of every package says what it takes and returns.

Public means exported by a package's ``__init__`` (``__all__``): the classes, their public
methods and properties defined in the class itself, and the functions. Constants and type aliases
are documented by the attribute docstrings next to them and are not checked here.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

import pytest

PACKAGES = ("metalosc.protocol", "metalosc.runtime", "metalosc.server", "metalosc.training")


def _undocumented(package: str) -> Iterator[str]:
    module = importlib.import_module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            if not inspect.getdoc(obj):
                yield name
            for attr, value in vars(obj).items():
                member = value.fget if isinstance(value, property) else value
                member = getattr(member, "__func__", member)  # classmethod, staticmethod
                if attr.startswith("_") or not inspect.isfunction(member):
                    continue
                if not (member.__doc__ or "").strip():
                    yield f"{name}.{attr}"
        elif inspect.isfunction(obj) and not (obj.__doc__ or "").strip():
            yield name


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_class_method_and_function_has_a_docstring(package: str) -> None:
    assert list(_undocumented(package)) == []
