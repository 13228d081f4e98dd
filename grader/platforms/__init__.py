"""Where courses already grade: the adapters that fit the grader to a platform's own layout and
files (Gradescope's autograder; nbgrader's `submitted/` folders)."""
