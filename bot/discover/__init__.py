"""Stage 2, discovery. Takes the `Config`; gives, per image repository and model, every
candidate version the registries and the model store offer, each judged by its policies
(`Decision`), with signatures checked where the config asks for them.
"""
