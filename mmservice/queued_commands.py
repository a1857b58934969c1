"""Commands written into a pipeline by code that knows nothing of scripts, replayed inside one.

Why: a Lua script is one round trip and one atomic step, but the writes that go with a record
(index entries, counters, a task message, a settle notice) are queued by many callers into a
redis-py pipeline. `recorded` runs such a caller against a buffering pipeline and keeps the
commands; `flatten` turns them into script arguments; `RUN_LUA` (pasted into a script) runs
them, so both ways write exactly the same keys.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

# Runs the commands flattened from ARGV[first] on: each as its argument count, then its
# arguments. Expects a Lua local `first` set before it; leaves their replies, in order, in the
# local `replies` (for a script that returns what its commands read).
RUN_LUA = """
local i, replies = first, {}
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  replies[#replies + 1] = redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
"""


def recorded(r: redis.Redis, queue: Callable[..., None], *args: Any) -> list[tuple]:
    """The commands `queue(pipe, *args)` writes, as argument tuples (nothing is sent)."""
    pipe = r.pipeline(transaction=False)
    queue(pipe, *args)
    commands = [args for args, _options in pipe.command_stack]
    pipe.reset()
    return commands


def flatten(commands: list[tuple]) -> list:
    out: list = []
    for command in commands:
        out.append(len(command))
        out.extend(command)
    return out
