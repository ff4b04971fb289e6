"""`emotion-edge bench`: measures the pipeline on this machine, side by side with its ancestors.

The command lives in command.py; its options in options.py (imported by the CLI at start,
so it must stay light). Nothing here imports torch at module level: the PyTorch-eager rows
import it inside a function, and only when it is installed.
"""
