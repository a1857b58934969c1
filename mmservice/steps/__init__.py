"""Job steps: thin adapters that load a job's content, call a capability, and return a result.

The registry (`registry.py`) is the one table of what steps exist: their names, queues, task
names, result keys, the inputs they apply to and what they need first.
"""
