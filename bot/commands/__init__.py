"""The command lines: `plan`, `run`, `serve`, `pin`, `status` and `env add`.

Each takes its arguments and the GitOps repository and gives an exit code and a report.
`run.py` is the only module that sequences the stages of a pass; the others are thin
commands around it or around one stage.
"""
