"""Why `mafac.train(...)` and `mafac.bench(...)` can be both modules and functions.

The API promises `mafac.train(config)` and `mafac.bench(...)`, but `mafac.train` is also a module
and `mafac.bench` a package: Python sets a package's attribute to each submodule it imports, so any
function of that name in mafac/__init__.py would be replaced by the module the first time anything
imported it. Instead the module itself is made callable, forwarding to mafac.api: every existing
`from mafac.train import ...` keeps working, and `mafac.train(cfg)` works whenever it is called.
"""

from __future__ import annotations

import inspect
import sys
import types


class _APIModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from mafac import api

        return getattr(api, self.__api_name__)(*args, **kwargs)


def make_callable(module_name: str, api_name: str) -> None:
    """Make module `module_name` callable as mafac.api.<api_name> (signature included, for help())."""
    from mafac import api

    module = sys.modules[module_name]
    module.__class__ = _APIModule
    module.__api_name__ = api_name
    module.__signature__ = inspect.signature(getattr(api, api_name))
