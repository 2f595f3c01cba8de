"""Model oversight: backends (OpenAI-compatible servers) and the critique / debate / symbolic-check passes.

Empty in the foundation; it sits between `annotation` and `review` in the import layers.
"""
