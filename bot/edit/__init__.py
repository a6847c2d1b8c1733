"""The environments' files. Takes `environments/<env>/` and the changes a plan wants; gives
the pins each environment runs and, for a change, new file text that differs only in the
changed scalars, after the gate has rendered and validated it with kustomize.
"""
