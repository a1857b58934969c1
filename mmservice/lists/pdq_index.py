"""An exact in-memory PDQ index: which stored hashes lie within a Hamming distance of a query.

Why a flat (brute-force) faiss binary index and not multi-index hashing: measured on this
machine (bench/lists.py, BENCHMARKS.md), one query against 1,000,000 hashes on one core costs
about 5 ms with `IndexBinaryFlat` (32 MB of codes scanned with 64-bit popcounts, memory-bound),
while `IndexBinaryMultiHash` needed 13-20 s to build and had a worse p99 (bucket probing with
`nflip` for a radius of 31 touches thousands of buckets). Flat is exact by construction (recall
1.0 at any radius), builds in a fraction of a second, and removal is a tombstone.

Rows are faiss labels. `remove` tombstones a row (search skips it) and the codes are compacted
once tombstones exceed a quarter of the rows, so a long-lived worker does not grow without bound.
Not thread-safe: `HashIndexes` (sync.py) serializes access.
"""
from __future__ import annotations

import sys

import faiss
import numpy as np

from mmservice.lists.pdq import PDQ_BYTES, hex_to_bytes

# One query is memory-bound; more OpenMP threads only fight the worker's other processes.
faiss.omp_set_num_threads(1)


class PdqIndex:
    """item_id -> 256-bit PDQ hash, searchable by Hamming distance. Adding an existing item_id
    replaces its hash."""

    COMPACT_MIN = 1024  # tombstones tolerated before a compaction is considered

    def __init__(self) -> None:
        self._index = faiss.IndexBinaryFlat(PDQ_BYTES * 8)
        self._items: list[str | None] = []  # row -> item id (None: removed)
        self._rows: dict[str, int] = {}  # item id -> row
        self._dead = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def add(self, item_id: str, hex_hash: str) -> None:
        self.add_many([(item_id, hex_hash)])

    def add_many(self, items: list[tuple[str, str]]) -> None:
        """Add (item_id, hex) pairs in one faiss call (much faster than one by one)."""
        if not items:
            return
        codes = np.frombuffer(b"".join(hex_to_bytes(h) for _, h in items), dtype=np.uint8)
        last: dict[str, int] = {}
        for i, (item_id, _) in enumerate(items):
            self.remove(item_id)
            last[item_id] = i
        base = len(self._items)
        self._index.add(codes.reshape(-1, PDQ_BYTES))
        for i, (item_id, _) in enumerate(items):
            if last[item_id] == i:
                self._rows[item_id] = base + i
                self._items.append(item_id)
            else:  # the same id twice in one batch: the later hash wins
                self._items.append(None)
                self._dead += 1

    def remove(self, item_id: str) -> bool:
        row = self._rows.pop(item_id, None)
        if row is None:
            return False
        self._items[row] = None
        self._dead += 1
        if self._dead > self.COMPACT_MIN and self._dead * 4 > len(self._items):
            self._compact()
        return True

    def search(self, hex_hash: str, max_distance: int) -> list[tuple[str, int]]:
        """Every item within `max_distance` bits of `hex_hash` (inclusive), nearest first."""
        if not self._rows or max_distance < 0:
            return []
        q = np.frombuffer(hex_to_bytes(hex_hash), dtype=np.uint8).reshape(1, PDQ_BYTES)
        # faiss keeps results with distance strictly below the radius
        _, dist, labels = self._index.range_search(q, max_distance + 1)
        out = []
        for d, row in zip(dist.tolist(), labels.tolist()):
            item = self._items[row]
            if item is not None:
                out.append((item, int(d)))
        out.sort(key=lambda x: (x[1], x[0]))
        return out

    def hex_of(self, item_id: str) -> str | None:
        row = self._rows.get(item_id)
        if row is None:
            return None
        return self._codes()[row].tobytes().hex()

    def memory_bytes(self) -> int:
        """An estimate: the codes plus the Python bookkeeping (containers and id strings)."""
        ids = sum(sys.getsizeof(s) for s in self._rows)
        return (self._index.ntotal * PDQ_BYTES + sys.getsizeof(self._items)
                + sys.getsizeof(self._rows) + ids)

    def _codes(self) -> np.ndarray:
        return np.asarray(self._index.reconstruct_n(0, self._index.ntotal), dtype=np.uint8)

    def _compact(self) -> None:
        live = [row for row, item in enumerate(self._items) if item is not None]
        codes = self._codes()[live] if live else np.zeros((0, PDQ_BYTES), np.uint8)
        index = faiss.IndexBinaryFlat(PDQ_BYTES * 8)
        if live:
            index.add(np.ascontiguousarray(codes))
        items = [self._items[row] for row in live]
        self._index, self._items, self._dead = index, items, 0
        self._rows = {item: row for row, item in enumerate(items) if item is not None}
