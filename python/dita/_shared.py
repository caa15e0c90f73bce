"""What the in-memory components several kernels may share (control plane, journal,
projection) have in common: they close with the last kernel they serve."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel


class ClosesWithTheLastKernel:
    """``release()`` for a component holding its attached kernels in ``_kernels``: what
    ``ExecutionKernel.close()`` calls. The kernel is detached and, when it was the last one,
    the component closes; kernels sharing it keep it until the last closes (closed by the
    first, it dropped the others, whose later changes never reached it). A kernel detached
    before changes nothing."""

    _kernels: Collection[Any]  # a list of kernels, or a dict of them by id

    def detach(self, kernel: ExecutionKernel) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _detach_closing(self, kernel: ExecutionKernel) -> None:
        """``detach`` for ``kernel``'s close; a component whose detach can refuse a kernel lets
        a closing one go regardless."""
        self.detach(kernel)

    def serves(self, kernel: ExecutionKernel) -> bool:
        """Whether ``kernel`` itself (not another of its id) is attached here."""
        kernels = self._kernels.values() if isinstance(self._kernels, dict) else self._kernels
        return any(k is kernel for k in kernels)

    def release(self, kernel: ExecutionKernel) -> None:
        # A kernel detached before is not served: the component is its caller's now (moved to
        # another kernel, say), and closing that kernel must not close it.
        if not self.serves(kernel):
            return
        self._detach_closing(kernel)
        if not self._kernels:
            self.close()
