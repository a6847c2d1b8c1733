"""Stage 3, planning. Takes what discovery offers and what each environment runs (read
from git); gives an `EnvironmentPlan` per environment: the bumps to make, the skips and the
reasons, with soak, verification and holds taken into account.
"""
