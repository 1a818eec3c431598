"""Image commands: pull, images, rmi, tag, inspect, ... (filled by the images work)."""
