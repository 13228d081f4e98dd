"""Scoring, one way: compare a trial's answer with the reference's (`compare`), diagnose a failure
against the registry of hypotheses (`diagnose`, on the catalogue of wrong answers in `mistakes`),
then score the exercise (`score`). Pure functions of arrays and records: no process, file or network.
"""
