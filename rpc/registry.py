"""A namespace's method table: ``name → async fn(devnet, params)``, filled by a decorator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from node.devnet import Devnet

Method = Callable[[Devnet, Any], Awaitable[Any]]


class Namespace:
    def __init__(self) -> None:
        self.methods: dict[str, Method] = {}

    def method(self, name: str) -> Callable[[Method], Method]:
        def register(fn: Method) -> Method:
            if name in self.methods:
                raise ValueError(f"method {name} registered twice")
            self.methods[name] = fn
            return fn

        return register

    def alias(self, alias: str, name: str) -> None:
        self.methods[alias] = self.methods[name]
