"""Deployment tooling, not app code: the local stack (deploy/stack), the compose test and its
stand-in images. .dockerignore keeps all of it out of the image."""
