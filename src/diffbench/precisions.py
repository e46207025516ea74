"""The numeric precisions a config may name, and which of them need a CUDA device (with what to use
instead). Plain data, so that config validation and runtime.py (which maps each name to a torch
dtype) read the same facts; tests/test_config.py checks the schema's enum against PRECISIONS."""

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")

CUDA_ONLY_PRECISIONS = {"fp16": "use bf16 or fp32", "tf32": "use fp32 (TF32 is a CUDA tensor-core format)"}
