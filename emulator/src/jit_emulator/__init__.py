"""jit-emulator: a local HTTPS emulator of the Azure APIs behind Defender for Cloud JIT VM access."""

__version__ = "0.1.0"
