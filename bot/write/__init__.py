"""Stage 4, writing. Takes the plans; gives direct commits on the main branch, promotion
branches and PRs with their bodies, the report people and machines read, and the
promotion dashboard issue.
"""
