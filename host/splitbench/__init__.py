"""splitbench: measure where to cut a neural network between a phone and a server.

The data flow is a straight pipe, one module per stage:
model source -> graph (operators in execution order) -> cut plan -> artifacts (head/tail files)
-> measurements (per target) -> results DB -> tables/plots (``splitbench.report``).
Where each stage lives: docs/architecture.md.
"""

__version__ = "0.1.0"
