"""The compose stack run for real (make compose-test): its containers, seen through podman."""
