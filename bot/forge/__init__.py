"""The forge: GitHub. Takes a repository and a token; gives the pull-request provider the
write stage opens or updates promotion PRs through, within the pass's time budget, and the
commit statuses that say when a cluster really ran a commit.
"""
