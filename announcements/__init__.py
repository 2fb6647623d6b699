"""What is said: Vietnamese text normalisation and the script library.

Pure functions and data files; no network, no audio.
"""
