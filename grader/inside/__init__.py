"""The program that runs inside the sandbox, in a student's process: it executes the notebook's cells
and calls its functions, and sends back only data.

The executors copy this folder into each sandbox and start it with `grader.executors.base.launch`. It imports
nothing of `grader` or `reference` (standard library and numpy, and IPython or ipykernel to run the
cells), and forbids the student's code to import them. The grader imports two of its modules, which
are the contract between the two sides: `wire` (the messages) and `clean` (how a notebook's
leftovers are ended, inside the sandbox or, without namespaces, outside it). This file imports
nothing, so importing those two loads nothing else.
"""
