"""Triton kernels (``@triton.jit`` functions and their launch wrappers only).

User code calls :mod:`prime_fast.ops`, which validates inputs and dispatches here on CUDA tensors.
Importing this package does not import triton; each kernel module does.
"""
