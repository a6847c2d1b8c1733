"""Local stand-ins for the cloud services Nightshift talks to, for tests and the demo.

Each starter runs a *real* component on a free loopback port (Azurite, the CNCF
distribution registry, git's own smart-HTTP backend) and returns a handle that stops it.
Where no real component can run here (GitHub's REST API, ACR's `/acr/v1` API) the module
is a small server that speaks the documented protocol. None of this ships in an image.
"""
