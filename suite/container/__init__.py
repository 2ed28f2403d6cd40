"""`accelbench container build|run`: the vendor images, built and run through the Docker SDK."""
