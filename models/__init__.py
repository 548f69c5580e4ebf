"""The recognition models: Melnyk-Net classifier, template verifier, their bundle and training."""
