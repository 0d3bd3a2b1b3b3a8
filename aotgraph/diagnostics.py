"""Warnings that point at the user's line, whatever depth of aotgraph raised them.

A fixed ``stacklevel`` is right for one call path only: ``ag.function`` reaches the unused-input check
through a different number of frames than ``theano.function``-style wrappers or the command line do.
`warn_user` walks out of aotgraph's own files and attributes the warning to the first frame beyond them
(Python 3.12's ``skip_file_prefixes`` does the same; we support 3.10).
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the nearest caller outside the aotgraph package."""
    warnings.warn(message, category, stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    frame, level = sys._getframe(2), 2  # 1 is warn_user itself; start at its caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
