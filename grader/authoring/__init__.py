"""What instructors use to make an assignment: the student version of a solution notebook (`assign`),
the self-check bundle of public trials (`bundle`), the student kit (`kit`) and the checks that the
assignment grades its own solution in full (`validate`).
"""
