"""Reading decoded values into typed fields, with errors that name the field.

    r = Fields(value, "header")
    height = r.integer("height", minimum=1)
    digest = r.binary("previous_hash", size=32)
    r.finish()                    # refuses any key that was not read

Every reader names the full path of the field it refuses (``header.previous_hash``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ledger.codec import INT_MAX, Value
from ledger.errors import ValidationError

T = TypeVar("T")
_MISSING: Any = object()  # a field that is absent (a present field may hold nil)


class Fields:
    """A map being read field by field. Unknown fields are refused by `finish`."""

    __slots__ = ("_path", "_seen", "_value")

    def __init__(self, value: Value, path: str) -> None:
        if not isinstance(value, dict):
            raise ValidationError(path, f"expected a map, got {_kind(value)}")
        self._value = value
        self._path = path
        self._seen: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self._path}.{name}"

    # The readers below are on every transaction's path: the common case (present, of the
    # right type and size) builds no path text and makes no call it can avoid.

    def _take(self, name: str, optional: bool) -> Value:
        self._seen.add(name)
        value: Value = self._value.get(name, _MISSING)
        if value is _MISSING:
            if optional:
                return None
            raise ValidationError(self.path(name), "is required")
        return value

    def raw(self, name: str, *, optional: bool = False) -> Value:
        return self._take(name, optional)

    def integer(
        self, name: str, *, minimum: int = 0, maximum: int = INT_MAX, optional: bool = False
    ) -> int:
        value = self._take(name, optional)
        if type(value) is int and minimum <= value <= maximum:
            return value
        if value is None and optional:
            return minimum
        return check_integer(value, self.path(name), minimum=minimum, maximum=maximum)

    def optional_integer(
        self, name: str, *, minimum: int = 0, maximum: int = INT_MAX
    ) -> int | None:
        value = self._take(name, True)
        if value is None:
            return None
        return check_integer(value, self.path(name), minimum=minimum, maximum=maximum)

    def boolean(self, name: str) -> bool:
        value = self._take(name, False)
        if type(value) is not bool:
            raise ValidationError(self.path(name), f"expected a boolean, got {_kind(value)}")
        return value

    def binary(self, name: str, *, size: int | None = None, size_max: int = 1024) -> bytes:
        return check_binary(self._take(name, False), self.path(name), size=size, size_max=size_max)

    def optional_binary(self, name: str, *, size: int | None = None) -> bytes | None:
        value = self._take(name, True)
        if value is None:
            return None
        return check_binary(value, self.path(name), size=size)

    def text(self, name: str, *, length_min: int = 1, length_max: int = 256) -> str:
        self._seen.add(name)
        value = self._value.get(name, _MISSING)
        if type(value) is str and length_min <= len(value) <= length_max:
            return value
        if value is _MISSING:
            raise ValidationError(self.path(name), "is required")
        return check_text(value, self.path(name), length_min=length_min, length_max=length_max)

    def optional_text(self, name: str, *, length_max: int = 256) -> str | None:
        self._seen.add(name)
        value = self._value.get(name)
        if value is None or (type(value) is str and 1 <= len(value) <= length_max):
            return value
        return check_text(value, self.path(name), length_min=1, length_max=length_max)

    def items(
        self,
        name: str,
        read: Callable[[Value, str], T],
        *,
        length_max: int,
        length_min: int = 0,
        optional: bool = False,
    ) -> tuple[T, ...]:
        value = self._take(name, optional)
        if value is None and optional:
            return ()
        path = self.path(name)
        if not isinstance(value, list):
            raise ValidationError(path, f"expected a list, got {_kind(value)}")
        if not length_min <= len(value) <= length_max:
            raise ValidationError(
                path, f"expected {length_min}..{length_max} items, got {len(value)}"
            )
        return tuple([read(item, f"{path}[{index}]") for index, item in enumerate(value)])

    def nested(self, name: str, read: Callable[[Value, str], T]) -> T:
        return read(self._take(name, False), self.path(name))

    def finish(self) -> None:
        if self._seen.issuperset(self._value):
            return
        unknown = sorted(set(self._value) - self._seen)
        if unknown:
            raise ValidationError(self.path(unknown[0]), "unknown field")


def check_integer(value: Value, path: str, *, minimum: int = 0, maximum: int = INT_MAX) -> int:
    if type(value) is not int:
        raise ValidationError(path, f"expected an integer, got {_kind(value)}")
    if not minimum <= value <= maximum:
        raise ValidationError(path, f"must be in {minimum}..{maximum}, got {value}")
    return value


def check_binary(
    value: Value, path: str, *, size: int | None = None, size_max: int = 1024
) -> bytes:
    if type(value) is not bytes:
        raise ValidationError(path, f"expected bytes, got {_kind(value)}")
    if size is not None and len(value) != size:
        raise ValidationError(path, f"must be {size} bytes, got {len(value)}")
    if len(value) > size_max:
        raise ValidationError(path, f"at most {size_max} bytes, got {len(value)}")
    return value


def check_text(value: Value, path: str, *, length_min: int = 1, length_max: int = 256) -> str:
    if type(value) is not str:
        raise ValidationError(path, f"expected text, got {_kind(value)}")
    if not length_min <= len(value) <= length_max:
        raise ValidationError(
            path, f"length must be {length_min}..{length_max} characters, got {len(value)}"
        )
    return value


def _kind(value: object) -> str:
    return "nil" if value is None else type(value).__name__
