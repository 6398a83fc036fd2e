"""The pages end to end in headless Chromium."""
