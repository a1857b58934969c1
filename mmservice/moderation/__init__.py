"""Moderation as a domain: the category names, the policy that turns scores into a verdict, and
the term-matching machinery (normalizer, pattern compiler, built-in term lists).

Why a package of its own: settings, schemas, the moderate step and every provider need these, and
none of them should reach into `providers/` for them. Providers depend on this package, never the
reverse, so tenant policies and block/allow lists can apply to any provider's results.
"""
