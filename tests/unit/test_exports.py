"""Every public agp module declares a tuple or list __all__ whose names exist."""

import importlib
import pkgutil

import agp


def public_modules():
    for info in pkgutil.walk_packages(agp.__path__, "agp."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        yield info.name


def test_public_modules_declare_all():
    missing, dangling = [], []
    for name in public_modules():
        mod = importlib.import_module(name)
        exported = getattr(mod, "__all__", None)
        if exported is None:
            missing.append(name)
            continue
        dangling += [f"{name}.{n}" for n in exported if not hasattr(mod, n)]
    assert not missing, f"modules without __all__: {missing}"
    assert not dangling, f"__all__ names that do not exist: {dangling}"
