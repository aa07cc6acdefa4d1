"""Faithful emulators of the providers' protocols, served over real HTTP on 127.0.0.1.

`Sandbox` starts every emulator on its own port and knows the settings that point the gateway
at them; `stacbridge serve --sandbox`, the tests and the benchmarks all use it.
"""

from stacbridge.sandbox.run import Sandbox

__all__ = ["Sandbox"]
