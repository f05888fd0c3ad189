"""Modalities: readers and writers that turn files into float signals in [0, 1] and back."""
