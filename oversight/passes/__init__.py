"""The model passes' prompts and the defensive reading of their answers. Pure: no Django, no I/O.

`critique` (a verdict per step), `debate` (two debaters and an optional model judge). Everything a model
writes is untrusted: it is cut to bounds, parsed as data (JSON, never evaluated), and its quotes are
checked by exact match against the chain.
"""
