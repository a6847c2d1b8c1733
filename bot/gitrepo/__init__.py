"""The GitOps repository. Takes a URL or a path and credentials from the environment;
gives a locked checkout, pin history from its commits, and pushes that lose nothing.
"""
