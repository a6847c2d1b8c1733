"""The Nightshift promotion bot. Its folders are the stages of the nightly pass.

Each package's docstring says what its stage takes and what it gives. A package imports
only from the packages listed above it here, never from one below, so the layers hold
without cycles (`tests/bot/test_layers.py` checks it):

- the shared modules at this level: `errors`, `durations`, `budget`, `inert`
- `policies`: the rules, pure functions that judge candidates
- `config`: `environments/promotion.yaml`, validated into frozen values
- `gitrepo`: the GitOps checkout, its lock, its history, and publishing commits
- `edit`: the pins in an environment's files, read and changed by minimal YAML surgery,
  and the gate. It sits below `discover` and `plan` because reading what an environment
  runs uses the same parser that edits it.
- `discover`: what registries and the model store offer, judged by the policies
- `plan`: what each environment should run next, and why
- `forge`: pull requests and commit statuses on GitHub
- `write`: commits, pushes, PRs, their bodies, the report and the dashboard
- `commands`: the command lines; `commands/run.py` is the one place that sequences a pass
"""
