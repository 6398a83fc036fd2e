"""The simulated hardware rig: the far side of every seam the drivers use.

It ships with the product, like gpiozero's mock pins, so CI and the demo run the real drivers.
"""
