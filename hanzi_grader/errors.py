"""The project's small error hierarchy.

Every error a user can cause carries a message that names what was received. Only
``TransientError`` subclasses are retried by the worker; everything else is final.
"""

from __future__ import annotations


class HanziError(Exception):
    """Base of every error hanzi-grader raises on purpose."""


class InvalidImage(HanziError):
    """The bytes are not a usable image: empty, corrupt, too large, or with no ink."""


class InvalidTarget(HanziError):
    """The target is not one of the 3755 GB2312 level-1 characters."""


class InvalidJob(HanziError):
    """A job payload is malformed: missing or unknown fields, wrong types."""


class ModelUnavailable(HanziError):
    """The model bundle is missing, corrupt or does not match its manifest."""


class TransientError(HanziError):
    """A failure that may pass on its own (database or broker unreachable): retry."""
