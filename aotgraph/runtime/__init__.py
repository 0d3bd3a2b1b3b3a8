"""The runtime that generated modules carry: Function, containers, input conversion, profiling.

Everything here imports numpy and the standard library only.
"""

from .function import Function, InputSlot, function_class  # noqa: F401
from .profiling import ProfileStats  # noqa: F401
from .values import Container, filter_value  # noqa: F401
