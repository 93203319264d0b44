"""The server-vs-fake ``backend`` fixture of the contract suite, for the suites here too."""

from tests.contract.conftest import backend

__all__ = ["backend"]
