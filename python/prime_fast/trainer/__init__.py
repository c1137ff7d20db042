"""The PRIME training loop (``prime-fast train``)."""
