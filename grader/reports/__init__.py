"""What a graded class is written as: the CSV tables, each student's feedback (Markdown and HTML),
the class overview, the LMS import, Gradescope's results.json and the returned notebooks, written
complete or not at all (`write`).
"""
