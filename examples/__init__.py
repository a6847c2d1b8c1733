"""Small real models trained on datasets that scikit-learn ships, for demos and tests."""
