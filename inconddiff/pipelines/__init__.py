"""diffusers pipelines of inconddiff."""
