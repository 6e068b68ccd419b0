"""The removal driver: settings, fill requests, fillers, view order, output with resume, and the run."""
