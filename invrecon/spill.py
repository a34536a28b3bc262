"""A list that keeps a bounded number of items in memory and spills the rest to a temp file.

A posting run over millions of value entries can skip hundreds of thousands of them (a posting
date outside the allowed range skips a whole period); each skipped entry is kept for the report.
``SpillList`` holds at most ``chunk`` of them in memory and pickles every full chunk to an
anonymous temporary file, so the run's memory stays flat whatever the count. It reads like a
list (``len``, iteration, indexing, slicing, truth value). Reads use ``os.pread`` on the file,
so several readers (threads) never disturb each other's position.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Generic, TypeVar, overload

T = TypeVar("T")

DEFAULT_CHUNK = 10_000


class SpillList(Sequence[T], Generic[T]):
    """Append-only sequence; every full chunk of ``chunk`` items goes to a temp file.

    ``encode`` / ``decode`` turn an item into something cheaper to pickle and back (e.g. a
    dataclass into the tuple of its fields: pickling slots dataclasses one by one is slow).
    Items are kept encoded in memory too, and decoded on every read."""

    def __init__(self, items: Iterable[T] = (), *, chunk: int = DEFAULT_CHUNK,
                 encode: Callable[[T], object] | None = None,
                 decode: Callable[[object], T] | None = None):
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        if (encode is None) != (decode is None):
            raise ValueError("give both encode and decode, or neither")
        self._encode = encode
        self._decode = decode
        self._chunk = chunk
        self._tail: list[T] = []
        self._spans: list[tuple[int, int]] = []  # (offset, length) of each spilled chunk
        self._file: IO[bytes] | None = None
        self._end = 0
        self.extend(items)

    # -- writing --

    def append(self, item: T) -> None:
        self._tail.append(item if self._encode is None else self._encode(item))
        if len(self._tail) >= self._chunk:
            self._spill()

    def append_encoded(self, encoded: object) -> None:
        """Append an item given in its encoded form (saves building the item)."""
        self._tail.append(encoded)  # type: ignore[arg-type]
        if len(self._tail) >= self._chunk:
            self._spill()

    def append_pickled_chunk(self, data: bytes) -> None:
        """Append one whole chunk (``chunk`` encoded items) given as the pickle of their list,
        as ``_spill`` would write it (another process made it). Only while no partial chunk is
        in memory."""
        if self._tail:
            raise ValueError("a pickled chunk can only follow whole chunks")
        self._tail = []
        self._write(data)

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def _spill(self) -> None:
        self._write(pickle.dumps(self._tail, protocol=pickle.HIGHEST_PROTOCOL))
        self._tail = []

    def _write(self, data: bytes) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="invrecon-spill-")
        os.pwrite(self._file.fileno(), data, self._end)
        self._spans.append((self._end, len(data)))
        self._end += len(data)

    # -- reading --

    @property
    def spilled(self) -> bool:
        """Whether some items live in the temp file."""
        return bool(self._spans)

    def _load(self, k: int) -> list[T]:
        assert self._file is not None
        offset, length = self._spans[k]
        items = pickle.loads(os.pread(self._file.fileno(), length, offset))
        return items if self._decode is None else list(map(self._decode, items))

    def __len__(self) -> int:
        return len(self._spans) * self._chunk + len(self._tail)

    def __bool__(self) -> bool:
        return bool(self._spans) or bool(self._tail)

    def __iter__(self) -> Iterator[T]:
        spilled = len(self._spans)
        tail = self._tail
        for k in range(spilled):
            yield from self._load(k)
        yield from tail[:] if self._decode is None else map(self._decode, tail[:])

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("SpillList index out of range")
        k, i = divmod(index, self._chunk)
        if k == len(self._spans):
            item = self._tail[i]
            return item if self._decode is None else self._decode(item)
        return self._load(k)[i]

    def __eq__(self, other: object) -> bool:
        """Equal to a list or another SpillList with equal items in the same order."""
        if not isinstance(other, (list, SpillList)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like list

    def __repr__(self) -> str:
        return f"SpillList(len={len(self)}, spilled_chunks={len(self._spans)})"

    def close(self) -> None:
        """Delete the temp file (the spilled items are gone)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._spans = []
            self._end = 0
